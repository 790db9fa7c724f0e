"""Scores of a trained model that need no extra weights: ground-truth MAE, cycle L1."""

from __future__ import annotations

import numpy as np

from cyclegan_jax.data.preprocess import eval_transform
from cyclegan_jax.eval.inference import translate


def abs_error_sum(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of |a - b| over images in [-1, 1], on a [0, 1] pixel scale (as MAE is reported)."""
    return float(np.abs(a - b).sum()) / 2.0


def ground_truth_mae(generator_params: dict, source, size: int, nc_in: int, nc_out: int,
                     batch_size: int = 8) -> float:
    """Mean absolute error on a [0, 1] pixel scale between translations and ground truth.

    `source` is a paired synthetic test split (it has `ground_truth(i)`): each image is
    resized to `size` (official test preprocessing), translated, and compared with the
    same scene rendered in the target domain at the same size.
    """
    total, count = 0.0, 0
    for start in range(0, len(source), batch_size):
        idx = range(start, min(start + batch_size, len(source)))
        x = np.stack([eval_transform(source.load(i), size, nc_in) for i in idx])
        y = np.stack([eval_transform(source.ground_truth(i), size, nc_out) for i in idx])
        fake = np.asarray(translate(generator_params, x))
        total += abs_error_sum(fake, y)
        count += y.size
    return total / count

