"""The evaluation program behind `eval.py`: translate a test split or a folder, write the
official-style PNGs, an `index.html` gallery and `metrics.json`.

Images are translated at their native resolution by default: each is padded at the bottom
and right to a bucket shape (`inference.bucket_side`), translated in fixed batches and
cropped back, so a folder of mixed sizes compiles only a few programs. Each image still
sees only itself (`inference.translate_canvas`), so the result equals `translate` of the
image alone up to float rounding. `preprocess="official"` instead resizes every image to
a square `image_size` with bicubic filtering, as the official `test.py` does.

Metrics are on a [0, 1] pixel scale: `cycle_l1_<X>` (mean |rec - real| over the images
of domain X), `gt_mae_<X>2<Y>` on the paired synthetic test split, and
`fid_<X>2<Y>` / `kid_<X>2<Y>` (translations versus the real test images of the target
domain, as saved to PNG) when Inception weights are given. A pix2pix run is evaluated on
its aligned split, one direction: the official real_A / fake_B / real_B images,
`l1_<X>2<Y>` (mean |fake - target|), `psnr_<X>2<Y>` (dB, per uint8 image as saved, then
averaged) and FID/KID against the targets. `metrics.json` is written
last: a folder without it is an interrupted evaluation.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from typing import Any

import numpy as np

from cyclegan_jax import files
from cyclegan_jax.config import load_config
from cyclegan_jax.data.preprocess import DIRECTIONS, eval_transform, normalize, to_channels
from cyclegan_jax.data.sources import (AlignedHalves, FolderSource, image_name, open_aligned,
                                        open_split)
from cyclegan_jax.errors import UserError
from cyclegan_jax.eval import fid as fid_lib
from cyclegan_jax.eval import inception
from cyclegan_jax.eval.inference import bucket_side, pad_to, translate, translate_canvas
from cyclegan_jax.eval.metrics import abs_error_sum, psnr_uint8
from cyclegan_jax.eval.results_page import write_index
from cyclegan_jax.eval.tiled import translate_tiled
from cyclegan_jax.images import rgb_uint8, save_png
from cyclegan_jax.nn.networks import UnetGenerator, generator_from_params
from cyclegan_jax.train.checkpoints import restore_params

PREPROCESS = ("native", "official")
DATA_FIELDS = ("dataset", "tfds_name", "tfds_data_dir", "dataroot", "synthetic_train_size",
               "synthetic_test_size", "synthetic_image_size", "max_dataset_size")


@dataclasses.dataclass(frozen=True)
class EvalOptions:
    """How to evaluate (the eval.py flags)."""

    preprocess: str = "native"  # "native" or "official" (square bicubic resize to image_size)
    image_size: int = 256  # the official preprocessing's size
    batch_size: int = 8
    max_images: int = 0  # per direction; 0: all (the official num_test is 50)
    fid_weights: str = ""  # pytorch-fid's pt_inception-2015-12-05-*.pth; empty: no FID/KID
    eval_mode: bool = False  # batch norm by its running statistics (the official --eval)
    tile: int = 0  # images with a side above this go through `translate_tiled`; 0: never

    def __post_init__(self):
        if self.preprocess not in PREPROCESS:
            raise UserError(f"preprocess must be one of {PREPROCESS}, got {self.preprocess!r}")
        if self.batch_size < 1 or self.image_size < 4:
            raise UserError(f"batch_size must be >= 1 and image_size >= 4, got "
                            f"{self.batch_size} and {self.image_size}")

    def count(self, source: Any) -> int:
        """How many images of `source` to use (`max_images`, 0: all)."""
        return len(source) if self.max_images <= 0 else min(len(source), self.max_images)


@dataclasses.dataclass
class Direction:
    """One translation direction: `forward` maps the images of `source` (domain `x`) to
    domain `y`; `backward`, when known, maps them back for the reconstruction."""

    x: str
    y: str
    source: Any
    nc_in: int
    nc_out: int
    forward: dict
    backward: dict | None = None
    # pix2pix: `source` is paired (`AlignedHalves`): its targets are written beside the
    # translations (the official real_A / fake_B / real_B) and scored (L1, PSNR, FID).
    paired: bool = False


@dataclasses.dataclass
class _Result:
    rows: list  # (name, [relative image paths])
    sums: dict  # metric -> [sum of |differences| on the [0, 1] scale, element count]
    fake_features: list
    real_features: list
    images: int = 0
    seconds: float = 0.0


def _prepare(image: np.ndarray, nc: int, options: EvalOptions) -> np.ndarray:
    if options.preprocess == "official":
        return eval_transform(image, options.image_size, nc)
    return normalize(to_channels(image, nc))


def _features(params: dict, images_uint8: list[np.ndarray], batch_size: int) -> np.ndarray:
    """FID features of uint8 images as saved to PNG (scaled to [0, 1] as pytorch-fid reads them)."""
    return inception.pool3_features(params, [u.astype(np.float32) / 255.0 for u in images_uint8],
                                    batch_size)


def _translate_group(params: dict, images: list[np.ndarray], shape: tuple[int, int],
                     batch_size: int, eval_mode: bool = False, tile: int = 0) -> list[np.ndarray]:
    """Translates same-bucket images in one fixed-size batch; returns them cropped back.

    Generators that see more than each image alone in a padded batch (a U-Net's receptive
    field is the whole image; batch norm takes statistics over the batch) translate one
    image per call instead, as the official test.py (batch size 1) does. With `tile`, images
    with a side above it are translated alone in tiles (`translate_tiled`)."""
    if tile and max(shape) > tile:
        return [translate_tiled(params, x, tile) for x in images]
    net = generator_from_params(params)
    if isinstance(net, UnetGenerator) or net.norm == "batch":
        return [np.asarray(translate(params, x[None], eval_mode=eval_mode))[0] for x in images]
    canvas = [pad_to(x, *shape) for x in images]
    canvas += [canvas[0]] * (batch_size - len(canvas))
    sizes = [x.shape[:2] for x in images]
    sizes += [sizes[0]] * (batch_size - len(sizes))
    out = np.asarray(translate_canvas(params, np.stack(canvas), np.asarray(sizes, np.int32)))
    return [o[:x.shape[0], :x.shape[1]] for o, x in zip(out, images)]


class _Translator:
    """Runs one `Direction`, writing PNGs into `output_dir/images` and adding up the metrics."""

    def __init__(self, d: Direction, output_dir: files.PathLike, options: EvalOptions,
                 inception_params: dict | None, real_features: bool):
        self.d, self.output_dir, self.options = d, files.resolve(output_dir), options
        self.inception_params, self.real_features = inception_params, real_features
        self.result = _Result(rows=[], sums={}, fake_features=[], real_features=[])

    def _add(self, metric: str, a: np.ndarray, b: np.ndarray) -> None:
        total = self.result.sums.setdefault(metric, [0.0, 0])
        total[0] += abs_error_sum(a, b)
        total[1] += a.size

    def flush(self, shape: tuple[int, int], items: list[tuple[int, np.ndarray]]) -> None:
        d, bs = self.d, self.options.batch_size
        reals = [x for _, x in items]
        mode, tile = self.options.eval_mode, self.options.tile
        fakes = _translate_group(d.forward, reals, shape, bs, mode, tile)
        recs = (_translate_group(d.backward, fakes, shape, bs, mode, tile)
                if d.backward is not None else None)
        fake_u8, real_u8 = [], []
        for k, (index, real) in enumerate(items):
            name = image_name(d.source, index)
            images = {f"real_{d.x}": real, f"fake_{d.y}": fakes[k]}
            if recs is not None:
                images[f"rec_{d.x}"] = recs[k]
                self._add(f"cycle_l1_{d.x}", recs[k], real)
            if d.paired:
                images[f"real_{d.y}"] = _prepare(d.source.ground_truth(index), d.nc_out,
                                                 self.options)
                self._add(f"l1_{d.x}2{d.y}", fakes[k], images[f"real_{d.y}"])
            elif hasattr(d.source, "ground_truth"):
                truth = _prepare(d.source.ground_truth(index), d.nc_out, self.options)
                self._add(f"gt_mae_{d.x}2{d.y}", fakes[k], truth)
            paths, u8 = [], {label: rgb_uint8(x) for label, x in images.items()}
            for label, image in u8.items():
                path = f"images/{name}_{label}.png"
                save_png(image, self.output_dir / path)
                paths.append(path)
            fake_u8.append(u8[f"fake_{d.y}"])
            # FID's real images: the targets of a paired split, else this direction's inputs.
            real_u8.append(u8[f"real_{d.y}" if d.paired else f"real_{d.x}"])
            if d.paired:
                psnr = self.result.sums.setdefault(f"psnr_{d.x}2{d.y}", [0.0, 0])
                psnr[0] += psnr_uint8(u8[f"fake_{d.y}"], u8[f"real_{d.y}"])
                psnr[1] += 1
            self.result.rows.append((index, name, paths))
        if self.inception_params is not None:
            start = time.perf_counter()
            self.result.fake_features.append(_features(self.inception_params, fake_u8, bs))
            if self.real_features:  # the real images are the other direction's FID target
                self.result.real_features.append(_features(self.inception_params, real_u8, bs))
            self.result.seconds -= time.perf_counter() - start  # report translation speed only

    def run(self, progress) -> _Result:
        d, options = self.d, self.options
        count = options.count(d.source)
        pending: dict[tuple[int, int], list] = {}
        start = time.perf_counter()
        for index in range(count):
            x = _prepare(d.source.load(index), d.nc_in, options)
            shape = x.shape[:2] if options.preprocess == "official" else \
                (bucket_side(x.shape[0]), bucket_side(x.shape[1]))
            group = pending.setdefault(shape, [])
            group.append((index, x))
            if len(group) == options.batch_size:
                self.flush(shape, pending.pop(shape))
            progress.update(1)
        for shape, group in pending.items():
            self.flush(shape, group)
        self.result.seconds += time.perf_counter() - start
        self.result.images = count
        self.result.rows.sort()
        return self.result


def _real_features(source: Any, nc: int, options: EvalOptions, params: dict) -> np.ndarray:
    """FID features of a source's real images, prepared as the translated inputs are."""
    count, bs = options.count(source), options.batch_size
    return np.concatenate([
        _features(params, [rgb_uint8(_prepare(source.load(i), nc, options))
                           for i in range(start, min(start + bs, count))], bs)
        for start in range(0, count, bs)])


def _fid_scores(fakes: dict[str, np.ndarray], reals: dict[str, np.ndarray],
                pairs: list[tuple[str, str]]) -> dict:
    """fid/kid per (metric suffix, target domain): its translations against its real images."""
    scores = {}
    for suffix, domain in pairs:
        fake, real = fakes[domain], reals[domain]
        if min(len(fake), len(real)) < 2:
            logging.warning("FID/KID %s skipped: needs at least 2 images per set (got %d and %d)",
                            suffix, len(fake), len(real))
            continue
        scores[f"fid_{suffix}"] = fid_lib.fid(fake, real)
        scores[f"kid_{suffix}"] = fid_lib.kid(fake, real)
    return scores


def _run(directions: list[Direction], output_dir: files.PathLike, options: EvalOptions, title: str,
         references: dict[str, tuple[Any, int]] | None = None) -> dict[str, float]:
    """Translates every direction into `output_dir` and writes the gallery and metrics.

    FID/KID compare each direction's fakes (domain y) with the real images of domain y:
    those another direction read, or `references[y]` = (source, channels).
    """
    output_dir = files.resolve(output_dir)
    for stale in ("metrics.json", "index.html"):  # never let an old page describe new images
        if (output_dir / stale).exists():
            (output_dir / stale).unlink()
    inception_params = None
    if options.fid_weights:
        inception_params = inception.load_params(options.fid_weights)
    else:
        logging.info("FID/KID skipped: no --fid_weights. %s", inception.WEIGHTS_HELP)
    from tqdm import tqdm

    total = sum(options.count(d.source) for d in directions)
    targets = {d.y for d in directions}
    results = {}
    with tqdm(total=total, unit="img", desc="eval", dynamic_ncols=True, mininterval=1.0) as bar:
        for d in directions:
            results[d.x] = _Translator(d, output_dir, options, inception_params,
                                       d.paired or d.x in targets).run(bar)
    metrics = {name: summed / elements for r in results.values()
               for name, (summed, elements) in sorted(r.sums.items())}
    if inception_params is not None:
        fakes = {d.y: np.concatenate(results[d.x].fake_features) for d in directions}
        reals = {d.y if d.paired else d.x: np.concatenate(results[d.x].real_features)
                 for d in directions if results[d.x].real_features}
        for domain, (source, nc) in (references or {}).items():
            reals[domain] = _real_features(source, nc, options, inception_params)
        metrics |= _fid_scores(fakes, reals, [(f"{d.x}2{d.y}", d.y) for d in directions
                                              if d.y in reals])
    images = sum(r.images for r in results.values())
    seconds = sum(r.seconds for r in results.values())
    logging.info("translated %d images in %.1f s (%.2f images/s, PNG writing included)",
                 images, seconds, images / max(seconds, 1e-9))
    sections = []
    for d in directions:
        columns = ["real", "translated"] + (["reconstructed"] if d.backward is not None else
                                           ["target"] if d.paired else [])
        rows = [(name, paths) for _, name, paths in results[d.x].rows]
        sections.append((f"{d.x} -> {d.y} ({d.source.name})", columns, rows))
    write_index(output_dir / "index.html", title, sections, metrics)
    record = {**metrics, "images_per_direction": {d.x: results[d.x].images for d in directions},
              "preprocess": options.preprocess}
    files.write_atomic(output_dir / "metrics.json", json.dumps(record, indent=2))
    return metrics


def evaluate_run(workdir: files.PathLike, split: str = "test", options: EvalOptions = EvalOptions(),
                 data_config: Any = None,
                 output_dir: files.PathLike | None = None) -> tuple[dict, str]:
    """Evaluates the newest checkpoint of `workdir` on both directions of a dataset split
    (pix2pix: its one direction, against the paired targets).

    Args:
      workdir: a run directory from train.py or import_torch.py.
      split: "test" (testA/testB) or "train"; for pix2pix "test", "val" or "train" (the
        aligned DATAROOT/<split>).
      options: preprocessing, batch size, image limit and FID weights.
      data_config: a config whose dataset fields replace the run's (e.g. the dataset
        now lives elsewhere); None keeps the run's `config.json`.
      output_dir: default `workdir/eval/<split>_<step>`.

    Returns:
      The metrics and the output folder.
    """
    config = load_config(workdir)
    splits = ("test", "val", "train") if config.model == "pix2pix" else ("test", "train")
    if split not in splits:
        raise UserError(f"split must be one of {splits} for a {config.model} run, got {split!r}")
    if data_config is not None:
        for field in DATA_FIELDS:
            setattr(config, field, data_config[field])
    params, step = restore_params(workdir)
    output_dir = output_dir or files.resolve(workdir) / "eval" / f"{split}_{step}"
    if config.model == "pix2pix":
        x, y = config.direction[0], config.direction[-1]
        source = AlignedHalves(open_aligned(config, split), config.direction)
        directions = [Direction(x, y, source, config.input_nc, config.output_nc, params["G"],
                                paired=True)]
        title = f"{files.resolve(workdir)}: pix2pix, {split} phase, step {step}"
        return _run(directions, output_dir, options, title), str(output_dir)
    directions = [
        Direction("A", "B", open_split(config, f"{split}A"), config.input_nc, config.output_nc,
                  params["G_A"], params["G_B"]),
        Direction("B", "A", open_split(config, f"{split}B"), config.output_nc, config.input_nc,
                  params["G_B"], params["G_A"]),
    ]
    title = f"{files.resolve(workdir)}: {split} split, step {step}"
    metrics = _run(directions, output_dir, options, title)
    return metrics, str(output_dir)


def run_generators(workdir: files.PathLike, direction: str = "AtoB") -> tuple[dict, dict | None]:
    """(forward, backward) generators of `workdir`'s newest checkpoint for `direction`:
    CycleGAN's G_A and G_B (G_B and G_A for BtoA); pix2pix's G and None, for the direction
    it was trained for only (another is a `UserError`)."""
    if direction not in DIRECTIONS:
        raise UserError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    config = load_config(workdir)
    params, _ = restore_params(workdir)
    if config.model == "pix2pix":
        if direction != config.direction:
            raise UserError(
                f"{files.resolve(workdir)} is a pix2pix run trained {config.direction}: it has "
                f"no generator for {direction}; pass --direction={config.direction}")
        return params["G"], None
    names = ("G_A", "G_B") if direction == "AtoB" else ("G_B", "G_A")
    return params[names[0]], params[names[1]]


def translate_folder(forward: dict, input_dir: files.PathLike, output_dir: files.PathLike,
                     options: EvalOptions = EvalOptions(), backward: dict | None = None,
                     direction: str = "AtoB", reference_dir: str | None = None) -> dict:
    """Translates every image under `input_dir` (recursively) into `output_dir`.

    Args:
      forward: the generator's params (e.g. from `torch_compat.load_generator`).
      backward: the opposite generator, for reconstructions and `cycle_l1_*`.
      direction: "AtoB" or "BtoA": only names the files and metrics.
      reference_dir: real images of the target domain, for FID/KID.
    """
    if direction not in DIRECTIONS:
        raise UserError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    x, y = direction[0], direction[-1]
    net = generator_from_params(forward)
    nc_in, nc_out = net.input_nc, net.output_nc
    directions = [Direction(x, y, FolderSource(input_dir), nc_in, nc_out, forward, backward)]
    references = {y: (FolderSource(reference_dir), nc_out)} if reference_dir else None
    title = f"{files.resolve(input_dir)} ({x} -> {y})"
    return _run(directions, output_dir, options, title, references)
