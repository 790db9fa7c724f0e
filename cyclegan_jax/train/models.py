"""What differs between training CycleGAN and pix2pix (the official `--model`): the data,
the step, the loss names, the sample grids and the ground-truth score. `train_and_evaluate`
runs either through a `Model`.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Callable

import numpy as np

from cyclegan_jax.data.pipeline import AlignedBatches, UnalignedBatches
from cyclegan_jax.data.preprocess import eval_transform
from cyclegan_jax.data.sources import AlignedHalves, open_aligned, open_split
from cyclegan_jax.errors import UserError
from cyclegan_jax.eval.metrics import ground_truth_mae
from cyclegan_jax.train import pix2pix_step, step
from cyclegan_jax.train.samples import pix2pix_grid, sample_grid


@dataclasses.dataclass(frozen=True)
class Model:
    """One official model as the training loop runs it."""

    name: str
    train_step: Callable  # (state, batch) -> (state, metrics), jitted
    metric_names: tuple[str, ...]  # the official loss names, in the official log order
    progress_metrics: tuple[str, str]  # shown beside the progress bar
    open_batches: Callable  # (config, process_index, process_count) -> batches
    sample_images: Callable  # config -> (images, images), NHWC in [-1, 1]
    sample_grid: Callable  # (generators' variables, real_A, real_B) -> uint8 [H, W, 3]
    ground_truth: Callable  # (generators' variables, config) -> {score name: value}


# CycleGAN ------------------------------------------------------------------------------


def _cycle_gan_batches(config: Any, process_index: int, process_count: int) -> UnalignedBatches:
    return UnalignedBatches(open_split(config, "trainA"), open_split(config, "trainB"), config,
                            process_index, process_count)


def _cycle_gan_samples(config: Any) -> tuple[np.ndarray, np.ndarray]:
    """A fixed set of test images (the first of testA and testB)."""
    out = []
    for split, nc in (("testA", config.input_nc), ("testB", config.output_nc)):
        source = open_split(config, split)
        n = min(config.num_sample_images, len(source))
        out.append(np.stack([eval_transform(source.load(i), config.crop_size, nc)
                             for i in range(n)]))
    return out[0], out[1]


def _cycle_gan_ground_truth(params: dict, config: Any) -> dict:
    c = config
    return {
        "gt_mae_A2B": ground_truth_mae(params["G_A"], open_split(c, "testA"), c.crop_size,
                                       c.input_nc, c.output_nc),
        "gt_mae_B2A": ground_truth_mae(params["G_B"], open_split(c, "testB"), c.crop_size,
                                       c.output_nc, c.input_nc),
    }


CYCLE_GAN = Model(
    name="cycle_gan", train_step=step.train_step, metric_names=step.METRIC_NAMES,
    progress_metrics=("G_A", "D_A"), open_batches=_cycle_gan_batches,
    sample_images=_cycle_gan_samples,
    sample_grid=sample_grid,
    ground_truth=_cycle_gan_ground_truth)


# pix2pix -------------------------------------------------------------------------------


def _pix2pix_batches(config: Any, process_index: int, process_count: int) -> AlignedBatches:
    return AlignedBatches(open_aligned(config, "train"), config, process_index, process_count)


def _pix2pix_samples(config: Any) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets of the first aligned images of the test phase (else val, else
    train, for datasets without a test folder)."""
    for phase in ("test", "val", "train"):
        try:
            source = AlignedHalves(open_aligned(config, phase), config.direction)
            break
        except UserError:
            if phase == "train":
                raise
    if phase != "test":
        logging.info("sample grids show %s images: the dataset has no test phase", phase)
    n = min(config.num_sample_images, len(source))
    return (np.stack([eval_transform(source.load(i), config.crop_size, config.input_nc)
                      for i in range(n)]),
            np.stack([eval_transform(source.ground_truth(i), config.crop_size,
                                     config.output_nc) for i in range(n)]))


def _pix2pix_ground_truth(params: dict, config: Any) -> dict:
    c = config
    source = AlignedHalves(open_aligned(c, "test"), c.direction)
    x, y = c.direction[0], c.direction[-1]
    return {f"gt_mae_{x}2{y}": ground_truth_mae(params["G"], source, c.crop_size, c.input_nc,
                                                c.output_nc)}


PIX2PIX = Model(
    name="pix2pix", train_step=pix2pix_step.pix2pix_step, metric_names=pix2pix_step.METRIC_NAMES,
    progress_metrics=("G_GAN", "D_real"), open_batches=_pix2pix_batches,
    sample_images=_pix2pix_samples,
    sample_grid=pix2pix_grid,
    ground_truth=_pix2pix_ground_truth)

MODELS = {m.name: m for m in (CYCLE_GAN, PIX2PIX)}


def model_of(config: Any) -> Model:
    """The `Model` of `config.model`."""
    if config.model not in MODELS:
        raise UserError(f"model must be one of {tuple(MODELS)}, got {config.model!r}")
    return MODELS[config.model]
