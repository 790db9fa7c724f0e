"""Sample grids a person can look at: real A | fake B | rec A // real B | fake A | rec B."""

from __future__ import annotations

import jax
import numpy as np

from cyclegan_jax.eval.inference import translate
from cyclegan_jax.images import rgb_uint8


def sample_grid(params: dict, real_A: np.ndarray, real_B: np.ndarray) -> np.ndarray:
    """A uint8 `[H, W, 3]` grid: one row per A image (real A, fake B, rec A), then one
    row per B image (real B, fake A, rec B). Inputs are NHWC in [-1, 1]."""
    fake_B = translate(params["G_A"], real_A)
    rec_A = translate(params["G_B"], fake_B)
    fake_A = translate(params["G_B"], real_B)
    rec_B = translate(params["G_A"], fake_A)
    images = jax.device_get((real_A, fake_B, rec_A, real_B, fake_A, rec_B))
    images = [rgb_uint8(x) for x in images]
    rows_A = np.concatenate(images[0:3], axis=2)  # [n, h, 3w, 3]
    rows_B = np.concatenate(images[3:6], axis=2)
    return np.concatenate([np.concatenate(list(rows_A), axis=0),
                           np.concatenate(list(rows_B), axis=0)], axis=0)
