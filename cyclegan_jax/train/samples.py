"""Sample grids a person can look at. CycleGAN: real A | fake B | rec A // real B | fake A |
rec B. pix2pix: real A | fake B | real B (the official visuals)."""

from __future__ import annotations

import jax
import numpy as np

from cyclegan_jax.eval.inference import translate_alone
from cyclegan_jax.images import rgb_uint8


def _grid(blocks: list[list[np.ndarray]]) -> np.ndarray:
    """uint8 grid: each block is a list of NHWC batches put side by side, one row per image;
    blocks stack top to bottom."""
    rows = [np.concatenate([rgb_uint8(x) for x in jax.device_get(b)], axis=2) for b in blocks]
    return np.concatenate([np.concatenate(list(r), axis=0) for r in rows], axis=0)


def sample_grid(params: dict, real_A: np.ndarray, real_B: np.ndarray) -> np.ndarray:
    """A CycleGAN uint8 `[H, W, 3]` grid: one row per A image (real A, fake B, rec A), then
    one row per B image (real B, fake A, rec B). Inputs are NHWC in [-1, 1]; `params` holds
    G_A and G_B."""
    fake_B = translate_alone(params["G_A"], real_A)
    rec_A = translate_alone(params["G_B"], fake_B)
    fake_A = translate_alone(params["G_B"], real_B)
    rec_B = translate_alone(params["G_A"], fake_A)
    return _grid([[real_A, fake_B, rec_A], [real_B, fake_A, rec_B]])


def pix2pix_grid(params: dict, real_A: np.ndarray, real_B: np.ndarray) -> np.ndarray:
    """A pix2pix uint8 `[H, W, 3]` grid, one row per pair: input, translation, target.
    `params` holds G."""
    return _grid([[real_A, translate_alone(params["G"], real_A), real_B]])
