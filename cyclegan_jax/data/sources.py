"""Random-access image sources: official-layout folders, TFDS `cycle_gan`, synthetic fruit;
unaligned (CycleGAN: trainA, trainB, ...) and aligned (pix2pix: train, val, test, each image
A | B side by side).

Every source has `len(source)`, `source.load(i) -> uint8 [H, W, 3]` and a `name`.
Images come out as 8-bit RGB whatever their file mode (grayscale, palette, RGBA,
CMYK, 16-bit); `preprocess.py` turns them into single-channel when a side has nc 1.
Folders may be local or in a bucket (`gs://...`, through `files`).
"""

from __future__ import annotations

import concurrent.futures
import importlib.util
import logging
import os
from typing import Any

import numpy as np
from etils import epath
from PIL import Image

from cyclegan_jax import files
from cyclegan_jax.data.preprocess import DIRECTIONS, split_aligned
from cyclegan_jax.data.synthetic import ALIGNED_PHASES, SyntheticAlignedSource, SyntheticSource
from cyclegan_jax.errors import UserError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff")
TFDS_CONFIGS = ("apple2orange", "summer2winter_yosemite", "horse2zebra", "monet2photo",
                "cezanne2photo", "ukiyoe2photo", "vangogh2photo", "maps", "facades",
                "iphone2dslr_flower")


def to_rgb(image: Image.Image) -> np.ndarray:
    """Any PIL image -> uint8 RGB array; 16-bit and 32-bit integer images are scaled down."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        image = Image.fromarray(np.clip(array / top * 255 + 0.5, 0, 255).astype(np.uint8), "L")
    elif image.mode == "F":
        image = Image.fromarray(np.clip(np.asarray(image) + 0.5, 0, 255).astype(np.uint8), "L")
    return np.asarray(image.convert("RGB"))


def list_images(folder: files.PathLike) -> list[str]:
    """Image files under `folder`, recursively, sorted (the official `make_dataset`), as
    paths below `files.resolve(folder)`.

    Other files are left out with one warning that names a few of them.
    """
    found, others = [], []
    for path in files.walk_files(folder):
        (found if path.lower().endswith(IMAGE_EXTENSIONS) else others).append(path)
    if others:
        logging.warning("%s: ignoring %d file(s) without an image extension (%s): %s%s", folder,
                        len(others), ", ".join(IMAGE_EXTENSIONS), ", ".join(sorted(others)[:5]),
                        " ..." if len(others) > 5 else "")
    return sorted(found)


def image_name(source: Any, index: int) -> str:
    """A file-name stem for image `index` of `source`: its path below the folder for
    folder sources (separators become '__', so names stay unique), else the index."""
    if isinstance(source, AlignedHalves):
        source = source.source
    if not isinstance(source, FolderSource):
        return f"{index:05d}"
    relative = source.paths[index][len(str(files.resolve(source.name))) + 1:]
    return os.path.splitext(relative)[0].replace("/", "__")


def _verify(path: str) -> Exception | None:
    """None if PIL can read `path`'s image header, else the error."""
    try:
        with epath.Path(path).open("rb") as f, Image.open(f) as image:
            image.verify()
    except Exception as e:  # noqa: BLE001  (PIL raises many types for bad files)
        return e
    return None


class FolderSource:
    """The image files of one folder (e.g. `DATAROOT/trainA`).

    Files that PIL cannot open are skipped with a warning naming each one (the
    count is in `skipped`); a folder with no readable image is an error.
    """

    def __init__(self, folder: files.PathLike, max_size: int = 0):
        folder = os.fspath(folder)
        if not files.resolve(folder).is_dir():
            raise UserError(
                f"dataset folder {folder!r} does not exist; a folder dataset needs "
                "DATAROOT/trainA, trainB, testA and testB (set --config.dataroot)")
        paths = list_images(folder)
        if not paths:
            raise UserError(
                f"dataset folder {folder!r} holds no images with extensions "
                f"{', '.join(IMAGE_EXTENSIONS)} (searched recursively)")
        self.paths, self.skipped = [], []
        with concurrent.futures.ThreadPoolExecutor(8) as pool:  # a bucket: one request each
            for path, error in zip(paths, pool.map(_verify, paths)):
                if error is None:
                    self.paths.append(path)
                else:
                    logging.warning("skipping unreadable image %s: %s", path, error)
                    self.skipped.append(path)
        if not self.paths:
            raise UserError(f"none of the {len(paths)} image files in {folder!r} could be read")
        if self.skipped:
            logging.warning("%s: skipped %d unreadable file(s) of %d", folder, len(self.skipped),
                            len(paths))
        if max_size > 0:
            self.paths = self.paths[:max_size]
        self.name = folder

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, index: int) -> np.ndarray:
        path = self.paths[index]
        try:
            with epath.Path(path).open("rb") as f, Image.open(f) as image:
                return to_rgb(image)
        except Exception as e:  # noqa: BLE001
            raise UserError(f"cannot decode image {path}: {e}; delete or replace the file") from e


class TfdsSource:
    """One split of a TFDS `cycle_gan/<name>` dataset, read with `tfds.data_source`."""

    def __init__(self, name: str, split: str, data_dir: str | None, max_size: int = 0):
        import tensorflow_datasets as tfds  # imported here: only TFDS runs need it

        if name not in TFDS_CONFIGS:
            raise UserError(f"TFDS has no cycle_gan/{name}; choose one of {', '.join(TFDS_CONFIGS)}")
        full = f"cycle_gan/{name}"
        try:
            self._ds = tfds.data_source(full, split=split, data_dir=data_dir)
        except Exception as first_error:  # not prepared (or prepared as tfrecord only)
            _prepare(full, data_dir, first_error)
            self._ds = tfds.data_source(full, split=split, data_dir=data_dir)
        self._len = len(self._ds) if max_size <= 0 else min(len(self._ds), max_size)
        self.name = f"{full}/{split}"
        self.skipped: list[str] = []

    def __len__(self) -> int:
        return self._len

    def load(self, index: int) -> np.ndarray:
        image = np.asarray(self._ds[index]["image"])
        if image.ndim == 2 or image.shape[-1] == 1:
            image = np.repeat(image.reshape(*image.shape[:2], 1), 3, axis=-1)
        return image.astype(np.uint8)


def _prepare(full_name: str, data_dir: str | None, cause: Exception) -> None:
    import tensorflow_datasets as tfds

    if importlib.util.find_spec("tensorflow") is None:
        raise UserError(
            f"{full_name} is not prepared in {data_dir or '~/tensorflow_datasets'} ({cause}). "
            "Preparing a TFDS dataset needs TensorFlow once: `pip install tensorflow-cpu`, then "
            "run again (or prepare it elsewhere and set --config.tfds_data_dir). Alternatively "
            "use a folder dataset (--config.dataset=folder --config.dataroot=DIR).") from cause
    builder = tfds.builder(full_name, data_dir=data_dir)
    size = builder.info.download_size
    logging.info("Preparing %s in %s (download about %s); this happens once.", full_name,
                 builder.data_dir, size)
    builder.download_and_prepare(file_format="array_record")
    logging.info("Prepared %s: %s on disk in %s", full_name, builder.info.dataset_size,
                 builder.data_dir)


def _layout_hint(dataroot: str, wanted: str) -> str:
    """Why a folder of `dataroot` is missing, when the other model's layout is there."""
    root = files.resolve(dataroot)
    if wanted == "aligned" and (root / "trainA").is_dir():
        return (f" {dataroot} has the unaligned layout (trainA, trainB, ...) of CycleGAN, not "
                "pix2pix's aligned one; pix2pix needs pairs: DATAROOT/train/*.jpg, each A | B "
                "side by side (the official datasets/combine_A_and_B.py makes them), or train "
                "CycleGAN on it (--config.model=cycle_gan)")
    if wanted == "unaligned" and (root / "train").is_dir():
        return (f" {dataroot} has pix2pix's aligned layout (train, val, test); train pix2pix "
                "on it with --config=configs/pix2pix.py (or --config.model=pix2pix)")
    return ""


def _folder_source(config: Any, split: str, layout: str, wanted: str) -> FolderSource:
    """`DATAROOT/<split>`; a missing folder is an error that states the `layout` this model
    reads and, where the other model's layout is there, says so (`_layout_hint`)."""
    folder = f"{config.dataroot.rstrip('/')}/{split}"
    if not files.resolve(folder).is_dir():
        raise UserError(f"dataset folder {folder!r} does not exist; {layout}."
                        + _layout_hint(config.dataroot, wanted))
    return FolderSource(folder, config.max_dataset_size)


def _synthetic_count(config: Any, split: str) -> int:
    count = config.synthetic_train_size if split.startswith("train") else config.synthetic_test_size
    return min(count, config.max_dataset_size) if config.max_dataset_size > 0 else count


def open_split(config: Any, split: str):
    """The source of `split` ("trainA", "trainB", "testA" or "testB") for `config.dataset`."""
    if config.dataset == "synthetic":
        return SyntheticSource(config.seed, split, _synthetic_count(config, split),
                               config.synthetic_image_size)
    if config.dataset == "folder":
        if not config.dataroot:
            raise UserError("--config.dataset=folder needs --config.dataroot=DIR "
                            "(a folder with trainA, trainB, testA, testB)")
        return _folder_source(config, split, "a CycleGAN folder dataset needs DATAROOT/trainA, "
                              "trainB, testA and testB", "unaligned")
    if config.dataset == "tfds":
        return TfdsSource(config.tfds_name, split, config.tfds_data_dir or None,
                          config.max_dataset_size)
    raise UserError(f"config.dataset must be 'synthetic', 'folder' or 'tfds', got {config.dataset!r}")


def open_aligned(config: Any, phase: str):
    """The aligned (pix2pix) source of `phase` ("train", "val" or "test"): images holding
    A | B side by side, from `DATAROOT/<phase>` or the synthetic scenes."""
    if phase not in ALIGNED_PHASES:
        raise UserError(f"aligned phases are {ALIGNED_PHASES}, got {phase!r}")
    if config.dataset == "synthetic":
        return SyntheticAlignedSource(config.seed, phase, _synthetic_count(config, phase),
                                      config.synthetic_image_size)
    if config.dataset == "folder":
        if not config.dataroot:
            raise UserError("pix2pix needs --config.dataroot=DIR (a folder with train/, and "
                            "test/ for eval.py, of images holding A | B side by side)")
        return _folder_source(config, phase, "pix2pix reads DATAROOT/train, val and test, "
                              "each image A | B side by side", "aligned")
    raise UserError(
        f"pix2pix reads aligned pairs from a folder (--config.dataset=folder "
        f"--config.dataroot=DIR) or the synthetic scenes (--config.dataset=synthetic), not "
        f"dataset={config.dataset!r}: TFDS has no paired pix2pix dataset")


class AlignedHalves:
    """An aligned source seen as a paired test split: `load(i)` is the input half of image
    i and `ground_truth(i)` its target half, per `direction` ("AtoB": left -> right)."""

    def __init__(self, source: Any, direction: str):
        if direction not in DIRECTIONS:
            raise UserError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
        self.source, self.input_side = source, 0 if direction == "AtoB" else 1
        self.name = source.name

    def __len__(self) -> int:
        return len(self.source)

    def halves(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """(input, target) halves of image `index`."""
        pair = split_aligned(self.source.load(index), f"{self.name}[{index}]")
        return pair[self.input_side], pair[1 - self.input_side]

    def load(self, index: int) -> np.ndarray:
        return self.halves(index)[0]

    def ground_truth(self, index: int) -> np.ndarray:
        return self.halves(index)[1]
