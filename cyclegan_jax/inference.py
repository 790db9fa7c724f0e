"""Applying a trained generator: `translate` and uint8 conversions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from cyclegan_jax.models import generator_from_params


@jax.jit
def translate(params: dict, images: jax.Array) -> jax.Array:
    """Translates NHWC images in [-1, 1] with one generator's params.

    `params` are one `ResnetGenerator`'s params (e.g. `state.params["G_A"]`, or
    `torch_import.params_from_state_dict` of an official `.pth`); the architecture is
    read off them. Images may have any height and width: they are reflect-padded at
    the bottom and right to a multiple of 4 (the generator's two stride-2 stages need
    it), translated, and cropped back, so the output has the input's shape. The
    official test code instead resizes to a multiple of 4. Pure and jittable.
    """
    net = generator_from_params(params)
    images = jnp.asarray(images, jnp.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be NHWC, got shape {images.shape}")
    h, w = images.shape[1:3]
    pad_h, pad_w = -h % 4, -w % 4
    padded = jnp.pad(images, ((0, 0), (0, pad_h), (0, pad_w), (0, 0)), mode="reflect")
    return net.apply({"params": params}, padded)[:, :h, :w, :]


@jax.jit
def translate_canvas(params: dict, canvas: jax.Array, sizes: jax.Array) -> jax.Array:
    """Translates images of different sizes batched on one canvas, each as if alone.

    `canvas` is NHWC in [-1, 1] (H and W multiples of 4), image n at the top left of
    row n, reflect-padded at the bottom and right (`pad_to`); `sizes` is [N, 2] int,
    each image's height and width. Output n's top-left `sizes[n]` region equals
    `translate` of image n alone (up to float rounding); the rest is meaningless.
    """
    net = generator_from_params(params)
    h, w = canvas.shape[1:3]
    if h % 4 or w % 4:
        raise ValueError(f"canvas height and width must be multiples of 4, got {h}x{w}")
    valid = (jnp.asarray(sizes, jnp.int32) + 3) // 4 * 4  # translate pads to a multiple of 4
    return net.apply({"params": params}, jnp.asarray(canvas, jnp.float32), valid=valid)


def uint8_to_float(images: np.ndarray | jax.Array) -> jax.Array:
    """uint8 [0, 255] -> float32 [-1, 1] (x / 127.5 - 1, as ToTensor + Normalize(0.5, 0.5))."""
    return jnp.asarray(images, jnp.float32) / 127.5 - 1.0


def float_to_uint8(images: np.ndarray | jax.Array) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], rounding to nearest and clipping.

    The official `tensor2im` truncates ((x + 1) / 2 * 255 then astype(uint8)), which
    darkens every pixel by half a level on average; we round.
    """
    scaled = (np.nan_to_num(np.asarray(images, np.float32)) + 1.0) * 127.5
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


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
    """Reflect-pads an HWC image at the bottom and right to `height` x `width`."""
    h, w = image.shape[:2]
    mode = "reflect" if min(h, w) > 1 else "edge"
    return np.pad(image, ((0, height - h), (0, width - w), (0, 0)), mode=mode)
