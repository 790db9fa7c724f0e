"""Scores of a trained model that need no extra weights: ground-truth MAE, cycle L1, PSNR."""

from __future__ import annotations

import numpy as np

from cyclegan_jax.data.preprocess import eval_transform
from cyclegan_jax.eval.inference import translate_alone


def abs_error_sum(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of |a - b| over images in [-1, 1], on a [0, 1] pixel scale (as MAE is reported)."""
    return float(np.abs(a - b).sum()) / 2.0


# PSNR of identical images, where the formula gives infinity (which would swamp a mean).
PSNR_CAP_DB = 100.0


def psnr_uint8(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two uint8 images (peak 255), capped at
    `PSNR_CAP_DB`."""
    mse = float(np.mean(np.square(a.astype(np.float64) - b.astype(np.float64))))
    return PSNR_CAP_DB if mse == 0 else min(PSNR_CAP_DB, 10 * np.log10(255.0 ** 2 / mse))


def ground_truth_mae(generator_params: dict, source, size: int, nc_in: int, nc_out: int,
                     batch_size: int = 8) -> float:
    """Mean absolute error on a [0, 1] pixel scale between translations and ground truth.

    `source` is a paired test split (it has `ground_truth(i)`: the synthetic test splits,
    `data.sources.AlignedHalves`): each image is
    resized to `size` (official test preprocessing), translated, and compared with the
    same scene rendered in the target domain at the same size.
    """
    total, count = 0.0, 0
    for start in range(0, len(source), batch_size):
        idx = range(start, min(start + batch_size, len(source)))
        x = np.stack([eval_transform(source.load(i), size, nc_in) for i in idx])
        y = np.stack([eval_transform(source.ground_truth(i), size, nc_out) for i in idx])
        fake = translate_alone(generator_params, x)
        total += abs_error_sum(fake, y)
        count += y.size
    return total / count

