"""The official image transforms (`data/base_dataset.py:get_transform`), in NumPy and PIL.

Training: resize (PIL bicubic, as torchvision does on PIL images) per `preprocess`,
a random square crop of `crop_size`, a random horizontal flip unless `no_flip`,
then [0, 255] -> [-1, 1]. Sides with 1 channel are converted to grayscale first.
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


def train_transform(image: np.ndarray, config, nc: int, rng: np.random.Generator,
                    name: str = "image") -> np.ndarray:
    """One training sample: uint8 RGB `[H, W, 3]` -> float32 `[crop, crop, nc]` in [-1, 1].

    Training crops are always square (`crop_size`), also for the scale_width modes,
    so that samples batch together.
    """
    crop = config.crop_size
    pil = Image.fromarray(to_channels(image, nc)[..., 0] if nc == 1 else image)
    pil = resize(pil, config.preprocess, config.load_size, crop)
    w, h = pil.size
    if w < crop or h < crop:
        raise UserError(
            f"{name} is {w}x{h} after preprocess={config.preprocess!r}, smaller than "
            f"crop_size={crop}; use preprocess='resize_and_crop' or a smaller crop_size")
    x, y = int(rng.integers(0, w - crop + 1)), int(rng.integers(0, h - crop + 1))
    out = np.asarray(pil.crop((x, y, x + crop, y + crop)))
    if out.ndim == 2:
        out = out[..., None]
    if not config.no_flip and rng.random() < 0.5:
        out = out[:, ::-1]
    return normalize(out)


def eval_transform(image: np.ndarray, size: int, nc: int) -> np.ndarray:
    """Official test preprocessing: square bicubic resize to `size`, no crop or flip."""
    pil = Image.fromarray(to_channels(image, nc)[..., 0] if nc == 1 else image)
    out = np.asarray(pil.resize((size, size), Image.BICUBIC))
    return normalize(out if out.ndim == 3 else out[..., None])
