"""Applying trained networks: `translate` any image size with a generator, `discriminate`
with a discriminator, and batches of mixed sizes."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from cyclegan_jax.nn.canvas import Canvas
from cyclegan_jax.nn.networks import (ResnetGenerator, UnetGenerator, discriminator_from_params,
                                      generator_from_params, split_variables)
from cyclegan_jax.ops.padding import pad2d, reflect_index


def _images(images: jax.Array) -> jax.Array:
    images = jnp.asarray(images, jnp.float32)
    if images.ndim != 4:
        raise ValueError(f"images must be NHWC, got shape {images.shape}")
    return images


def apply_network(net, variables: dict, x: jax.Array, eval_mode: bool) -> jax.Array:
    """`net` (a generator or discriminator module) on NHWC `x` with `variables` (params, or
    `{"params", "batch_stats"}`); batch norm by its running statistics with `eval_mode`."""
    params, batch_stats = split_variables(variables)
    if eval_mode and not batch_stats:
        raise ValueError("eval_mode=True uses batch norm's running statistics, and these "
                         "variables have none (pass {'params': ..., 'batch_stats': ...})")
    full = {"params": params} | ({"batch_stats": batch_stats} if batch_stats else {})
    return net.apply(full, x, use_running_average=eval_mode)


@functools.partial(jax.jit, static_argnames=("eval_mode",))
def translate(params: dict, images: jax.Array, *, eval_mode: bool = False) -> jax.Array:
    """Translates NHWC images in [-1, 1] with one generator's variables.

    `params` are one generator's params (e.g. `state.params["G_A"]`, or
    `torch_compat.params_from_state_dict` of an official `.pth`), or `{"params": ...,
    "batch_stats": ...}` for a batch-normed one; the architecture (ResNet or U-Net, sizes,
    norm) is read off them. Images are reflect-padded at the bottom and right to the
    multiple of the size the generator needs (4 for a ResNet, 2^num_downs for a U-Net: 256
    for unet_256), translated, and cropped back to their shape; the official test code
    resizes instead. A ResNet takes any image of at least 5 x 5; a U-Net any image at
    least half its multiple on each side (the padding reflects the image once).

    Batch norm uses the batch's statistics, as the official test.py without `--eval`;
    `eval_mode=True` uses its running statistics (test.py `--eval`). Dropout is off.
    Pure and jittable.
    """
    net = generator_from_params(params)
    images = _images(images)
    h, w = images.shape[1:3]
    if isinstance(net, UnetGenerator):
        multiple = 2 ** net.num_downs
        if -h % multiple >= h or -w % multiple >= w:
            raise ValueError(
                f"this U-Net (num_downs {net.num_downs}) takes images whose sides are multiples "
                f"of {multiple}; a {h} x {w} image would be padded by more than itself "
                f"(sides from {multiple // 2 + 1} up are padded): resize it first")
    else:
        multiple = 4
        if min(h, w) < 5:  # a quarter-size map must be 2 pixels for the blocks' reflect padding
            raise ValueError(f"images must be at least 5 x 5 pixels, got {h} x {w}")
    padded = pad2d(images, ((0, -h % multiple), (0, -w % multiple)), "reflect")
    return apply_network(net, params, padded, eval_mode)[:, :h, :w, :]


def translate_alone(params: dict, images: np.ndarray, *, eval_mode: bool = False) -> np.ndarray:
    """`translate` with every image translated as if alone: one call per image for a
    batch-normed generator (batch statistics would mix the images; the official test.py
    runs batch size 1), one call for all of them otherwise. Returns NumPy."""
    if generator_from_params(params).norm == "batch":
        return np.concatenate([np.asarray(translate(params, x[None], eval_mode=eval_mode))
                               for x in np.asarray(images)])
    return np.asarray(translate(params, images, eval_mode=eval_mode))


@functools.partial(jax.jit, static_argnames=("eval_mode",))
def discriminate(params: dict, images: jax.Array, *, eval_mode: bool = False) -> jax.Array:
    """Raw scores (NHWC, one channel, no sigmoid) of one discriminator on NHWC images in
    [-1, 1]: a PatchGAN's patch scores or a PixelGAN's per-pixel scores.

    `params` are one discriminator's params or `{"params": ..., "batch_stats": ...}`; the
    architecture is read off them. `eval_mode` as in `translate`. Pure and jittable.
    """
    net = discriminator_from_params(params)
    return apply_network(net, params, _images(images), eval_mode)


@jax.jit
def translate_canvas(params: dict, canvas: jax.Array, sizes: jax.Array) -> jax.Array:
    """Translates images of different sizes batched on one canvas, each as if alone.

    `canvas` is NHWC in [-1, 1] (H and W multiples of 4), image n at the top left of
    row n (`pad_to`); `sizes` is [N, 2] int, each image's height and width. Output n's
    top-left `sizes[n]` region equals `translate` of image n alone (up to float
    rounding); the rest is meaningless.
    """
    net = generator_from_params(params)
    if not isinstance(net, ResnetGenerator) or net.norm == "batch":
        raise ValueError("only ResNet generators without batch norm translate mixed sizes on "
                         "one canvas; translate each image with `translate`")
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
