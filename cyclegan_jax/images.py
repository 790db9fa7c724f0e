"""Images as people see them: uint8 conversions and atomic PNG files."""

from __future__ import annotations

import io

import jax
import jax.numpy as jnp
import numpy as np
from PIL import Image

from cyclegan_jax import files


def uint8_to_float(images: np.ndarray | jax.Array) -> jax.Array:
    """uint8 [0, 255] -> float32 [-1, 1] (x / 127.5 - 1, as ToTensor + Normalize(0.5, 0.5))."""
    return jnp.asarray(images, jnp.float32) / 127.5 - 1.0


def _quantize(images, xp):
    """float [-1, 1] -> uint8 with the array module `xp` (NumPy or jax.numpy): NaN -> 0,
    round half to even, clip."""
    return xp.clip(xp.round((xp.nan_to_num(images) + 1.0) * 127.5), 0, 255).astype(xp.uint8)


def float_to_uint8(images: np.ndarray | jax.Array) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], rounding to nearest and clipping, on the host.

    The official `tensor2im` truncates ((x + 1) / 2 * 255 then astype(uint8)), which
    darkens every pixel by half a level on average; we round.
    """
    return _quantize(np.asarray(images, np.float32), np)


def float_to_uint8_traced(images: jax.Array) -> jax.Array:
    """`float_to_uint8` as a jittable JAX function (for exported and compiled programs)."""
    return _quantize(jnp.asarray(images, jnp.float32), jnp)


def rgb_uint8(x: np.ndarray) -> np.ndarray:
    """float [-1, 1] HWC or NHWC -> uint8 with 3 channels (one channel is tiled, as the
    official `tensor2im` does)."""
    u = float_to_uint8(x)
    return np.repeat(u, 3, axis=-1) if u.shape[-1] == 1 else u


def save_png(image: np.ndarray, path: files.PathLike) -> None:
    """Writes a uint8 image as a PNG file, atomically (`files.write_atomic`)."""
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    files.write_atomic(path, buffer.getvalue())
