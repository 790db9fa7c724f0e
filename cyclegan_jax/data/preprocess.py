"""The official image transforms (`data/base_dataset.py:get_transform`), in NumPy and PIL.

Training: resize (PIL bicubic, as torchvision does on PIL images) per `preprocess`,
a random square crop of `crop_size`, a random horizontal flip unless `no_flip`,
then [0, 255] -> [-1, 1]; the two halves of an aligned (pix2pix) pair get the same crop
and flip. Sides with 1 channel are converted to grayscale first.
Randomness comes from the NumPy generator the caller passes, which the pipeline
derives from the config seed and the sample's position.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from cyclegan_jax.errors import UserError

PREPROCESS_MODES = ("resize_and_crop", "crop", "scale_width", "scale_width_and_crop")


def _scale_width(image: Image.Image, target_width: int, crop_size: int) -> Image.Image:
    w, h = image.size
    if w == target_width and h >= crop_size:
        return image
    new_h = int(max(target_width * h / w, crop_size))
    return image.resize((target_width, new_h), Image.BICUBIC)


def resize(image: Image.Image, preprocess: str, load_size: int, crop_size: int) -> Image.Image:
    """The resize part of `get_transform` for `preprocess`."""
    if preprocess == "resize_and_crop":
        return image.resize((load_size, load_size), Image.BICUBIC)
    if preprocess in ("scale_width", "scale_width_and_crop"):
        return _scale_width(image, load_size, crop_size)
    if preprocess == "crop":
        return image
    raise UserError(f"preprocess must be one of {PREPROCESS_MODES}, got {preprocess!r}")


def to_channels(image: np.ndarray, nc: int) -> np.ndarray:
    """uint8 RGB -> `nc` channels (1: ITU-R 601-2 luma, as `transforms.Grayscale(1)`)."""
    if nc == 3:
        return image
    if nc == 1:
        return np.asarray(Image.fromarray(image).convert("L"))[..., None]
    raise UserError(f"input_nc/output_nc must be 1 or 3, got {nc}")


def normalize(image: np.ndarray) -> np.ndarray:
    """uint8 [0, 255] -> float32 [-1, 1] (ToTensor then Normalize(0.5, 0.5))."""
    return image.astype(np.float32) / 127.5 - 1.0


def check_sizes(config) -> None:
    """Raises ValueError, naming the fields, where `resize_and_crop` would crop more than
    the resized image (the other modes' sizes depend on each image: `train_transform`)."""
    if config.preprocess == "resize_and_crop" and config.crop_size > config.load_size:
        raise ValueError(
            f"crop_size={config.crop_size} is larger than load_size={config.load_size}: "
            "preprocess='resize_and_crop' resizes to load_size, then crops crop_size; raise "
            "load_size or lower crop_size")


def _resized(image: np.ndarray, config, nc: int, name: str) -> Image.Image:
    """`image` in `nc` channels, resized per `config.preprocess`, at least crop-sized."""
    crop = config.crop_size
    pil = Image.fromarray(to_channels(image, nc)[..., 0] if nc == 1 else image)
    pil = resize(pil, config.preprocess, config.load_size, crop)
    w, h = pil.size
    if w < crop or h < crop:
        raise UserError(
            f"{name} is {w}x{h} after preprocess={config.preprocess!r}, smaller than "
            f"crop_size={crop}; use preprocess='resize_and_crop' or a smaller crop_size")
    return pil


def _draw(size: tuple[int, int], config, rng: np.random.Generator) -> tuple[int, int, bool]:
    """The official `get_params`: a crop corner within `size` (w, h), and whether to flip."""
    crop, (w, h) = config.crop_size, size
    x, y = int(rng.integers(0, w - crop + 1)), int(rng.integers(0, h - crop + 1))
    return x, y, not config.no_flip and rng.random() < 0.5


def _crop_flip(pil: Image.Image, x: int, y: int, flip: bool, crop: int) -> np.ndarray:
    out = np.asarray(pil.crop((x, y, x + crop, y + crop)))
    if out.ndim == 2:
        out = out[..., None]
    return normalize(out[:, ::-1] if flip else out)


def train_transform(image: np.ndarray, config, nc: int, rng: np.random.Generator,
                    name: str = "image") -> np.ndarray:
    """One training sample: uint8 RGB `[H, W, 3]` -> float32 `[crop, crop, nc]` in [-1, 1].

    Training crops are always square (`crop_size`), also for the scale_width modes,
    so that samples batch together.
    """
    pil = _resized(image, config, nc, name)
    return _crop_flip(pil, *_draw(pil.size, config, rng), config.crop_size)


# How an aligned pair translates: left half -> right half, or back (the official --direction).
DIRECTIONS = ("AtoB", "BtoA")


def split_aligned(image: np.ndarray, name: str = "image") -> tuple[np.ndarray, np.ndarray]:
    """An aligned pair, A | B side by side in one image -> (A, B), split at int(w / 2) as
    the official `AlignedDataset`."""
    w = image.shape[1]
    if w < 2:
        raise UserError(f"{name} is {w} pixel(s) wide: an aligned image holds A and B side "
                        "by side (A left, B right)")
    return image[:, :w // 2], image[:, w // 2:]


def aligned_train_transform(image_A: np.ndarray, image_B: np.ndarray, config, nc_A: int,
                            nc_B: int, rng: np.random.Generator,
                            name: str = "image") -> tuple[np.ndarray, np.ndarray]:
    """`train_transform` of both halves of an aligned pair with the same crop and flip,
    drawn on A's size (the official `get_params(opt, A.size)`)."""
    a = _resized(image_A, config, nc_A, f"{name} (left half)")
    b = _resized(image_B, config, nc_B, f"{name} (right half)")
    x, y, flip = _draw(a.size, config, rng)
    return (_crop_flip(a, x, y, flip, config.crop_size),
            _crop_flip(b, x, y, flip, config.crop_size))


def eval_transform(image: np.ndarray, size: int, nc: int) -> np.ndarray:
    """Official test preprocessing: square bicubic resize to `size`, no crop or flip."""
    pil = Image.fromarray(to_channels(image, nc)[..., 0] if nc == 1 else image)
    out = np.asarray(pil.resize((size, size), Image.BICUBIC))
    return normalize(out if out.ndim == 3 else out[..., None])
