"""Applying a trained generator: `translate` any image size, and batches of mixed sizes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from cyclegan_jax.nn.canvas import Canvas
from cyclegan_jax.nn.networks import generator_from_params
from cyclegan_jax.ops.padding import pad2d, reflect_index


@jax.jit
def translate(params: dict, images: jax.Array) -> jax.Array:
    """Translates NHWC images in [-1, 1] with one generator's params.

    `params` are one `ResnetGenerator`'s params (e.g. `state.params["G_A"]`, or
    `torch_compat.params_from_state_dict` of an official `.pth`); the architecture is
    read off them. Images of any height and width (at least 5) are reflect-padded at the
    bottom and right to a multiple of 4 (the generator's two stride-2 stages need it),
    translated, and cropped back to their shape; the official test code resizes instead.
    Pure and jittable.
    """
    net = generator_from_params(params)
    images = jnp.asarray(images, jnp.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be NHWC, got shape {images.shape}")
    h, w = images.shape[1:3]
    if min(h, w) < 5:  # a quarter-size map must be 2 pixels for the blocks' reflect padding
        raise ValueError(f"images must be at least 5 x 5 pixels, got {h} x {w}")
    padded = pad2d(images, ((0, -h % 4), (0, -w % 4)), "reflect")
    return net.apply({"params": params}, padded)[:, :h, :w, :]


@jax.jit
def translate_canvas(params: dict, canvas: jax.Array, sizes: jax.Array) -> jax.Array:
    """Translates images of different sizes batched on one canvas, each as if alone.

    `canvas` is NHWC in [-1, 1] (H and W multiples of 4), image n at the top left of
    row n (`pad_to`); `sizes` is [N, 2] int, each image's height and width. Output n's
    top-left `sizes[n]` region equals `translate` of image n alone (up to float
    rounding); the rest is meaningless.
    """
    net = generator_from_params(params)
    h, w = canvas.shape[1:3]
    if h % 4 or w % 4:
        raise ValueError(f"canvas height and width must be multiples of 4, got {h}x{w}")
    rounded = (jnp.asarray(sizes, jnp.int32) + 3) // 4 * 4  # as translate pads them
    return net.apply({"params": params}, jnp.asarray(canvas, jnp.float32), canvas=Canvas(rounded))


# Canvas sides for images of mixed sizes: each image is padded up to the next one, so a
# folder of arbitrary sizes compiles at most a few shapes, with at most 25 % padding.
BUCKET_SIDES = (64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512, 640, 768, 896,
                1024, 1280, 1536, 1792, 2048)


def bucket_side(n: int) -> int:
    """The canvas side for an image side `n`: the next of `BUCKET_SIDES`, or the next
    multiple of 512 above 2048."""
    for side in BUCKET_SIDES:
        if n <= side:
            return side
    return -(-n // 512) * 512


def pad_to(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """An HWC image reflect-padded at the bottom and right to `height` x `width` (beyond one
    reflection, the edge pixel repeats; `translate_canvas` never reads those pixels)."""
    h, w = image.shape[:2]
    rows = np.clip(reflect_index(np.arange(height), h), 0, h - 1)
    cols = np.clip(reflect_index(np.arange(width), w), 0, w - 1)
    return image[rows[:, None], cols[None, :]]
