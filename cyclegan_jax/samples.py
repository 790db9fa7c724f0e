"""Sample grids a person can look at: real A | fake B | rec A // real B | fake A | rec B."""

from __future__ import annotations

import os

import jax
import numpy as np
from PIL import Image

from cyclegan_jax.inference import float_to_uint8, translate


def rgb_uint8(x: np.ndarray) -> np.ndarray:
    """float [-1, 1] HWC or NHWC -> uint8 with 3 channels (one channel is tiled, as the
    official `tensor2im` does)."""
    u = float_to_uint8(x)
    return np.repeat(u, 3, axis=-1) if u.shape[-1] == 1 else u


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


def save_png(image: np.ndarray, path: str) -> None:
    """Writes a uint8 image atomically (a partial file never carries the final name)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    Image.fromarray(image).save(tmp, format="PNG")
    os.replace(tmp, path)
