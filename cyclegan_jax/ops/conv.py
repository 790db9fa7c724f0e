"""The one door to the convolution algorithms: `conv2d` and `upsample2x` pick the form.

Forms (`FORMS`), chosen per run by `conv_impl` ("auto": "matmul" on CPUs, "xla" on TPUs,
"s2d" on GPUs):
- "xla": XLA's own convolution after `pad2d` (`ops.xla_conv`);
- "s2d": as "xla", but the convs from and to few channels (the generator's 7x7 convs from
  and to RGB, the PatchGAN's first) over blocks of pixels (`ops.space_to_depth`);
- "matmul", for XLA:CPU, whose own convolutions are slow for this model's shapes: the
  residual blocks' 3x3 convs by Winograd (`ops.winograd`), convs to few channels by
  shifted taps (`ops.shifted_taps`), the rest by im2col (`ops.im2col`).
The transposed conv is a sub-pixel conv in every form (`ops.sub_pixel`). All forms give
the same values up to float rounding; why each was chosen, with the measurements, is in
docs/performance.md.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from cyclegan_jax.ops import space_to_depth, sub_pixel, winograd
from cyclegan_jax.ops.im2col import im2col_conv
from cyclegan_jax.ops.padding import PAD_MODES, Padding
from cyclegan_jax.ops.shifted_taps import shifted_taps_conv
from cyclegan_jax.ops.xla_conv import xla_conv

FORMS = ("xla", "s2d", "matmul")
IMPLS = ("auto",) + FORMS  # what `conv_impl` may say

# Above this many elements (1 GiB of float32) a window gather costs more memory than it
# saves time (very large eval images): those convs use XLA's own convolution.
_MAX_PATCH_ELEMENTS = 256 * 1024 * 1024
# Below this many output channels a stride-1 conv sums shifted taps instead of im2col.
_FEW_OUTPUTS = 16
# Winograd for float32 3x3 convs with at least this many channels and output tiles:
# F(4x4, 3x3) where there are this many 4x4 tiles, else F(2x2, 3x3) where there are this
# many 2x2 tiles; below, their smaller matrix products ran no faster than im2col's one.
_WINOGRAD_MIN_TILES = 128
_WINOGRAD_MIN_CHANNELS = 128


def check_impl(impl: str) -> None:
    """Raises ValueError unless `impl` is one of `IMPLS`."""
    if impl not in IMPLS:
        raise ValueError(f"conv_impl must be one of {IMPLS}, got {impl!r}")


def conv_form(impl: str) -> str:
    """The form `impl` (one of `IMPLS`) stands for on this backend.

    "auto" is "matmul" on CPUs and "s2d" on GPUs (the fastest there), and "xla" on TPUs:
    space-to-depth exists for cuDNN's slow few-channel convs, and in XLA's cost analysis
    of the step compiled for a TPU v5e slice it costs 13 % more bytes and 4 % more FLOPs
    per step (its block kernels hold zero taps; docs/performance.md). Not timed on a TPU.
    """
    check_impl(impl)
    if impl != "auto":
        return impl
    return {"cpu": "matmul", "tpu": "xla"}.get(jax.default_backend(), "s2d")


def _matmul_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding,
                 pad_mode: str) -> jax.Array:
    """The CPU's matrix-product form of a conv: Winograd, shifted taps or im2col."""
    n, h, w, c = x.shape
    kh, kw, _, out = kernel.shape
    oh = (h + sum(padding[0]) - kh) // strides[0] + 1
    ow = (w + sum(padding[1]) - kw) // strides[1] + 1
    if n * oh * ow * kh * kw * c > _MAX_PATCH_ELEMENTS:
        return xla_conv(x, kernel, strides, padding, pad_mode)
    if ((kh, kw) == (3, 3) and strides == (1, 1) and min(c, out) >= _WINOGRAD_MIN_CHANNELS
            and x.dtype == jnp.float32):
        for m in reversed(winograd.TILE_SIZES):
            if n * math.prod(winograd.tile_counts(oh, ow, m)) >= _WINOGRAD_MIN_TILES:
                return winograd.winograd_conv3x3(x, kernel, padding, pad_mode, m)
    if out < _FEW_OUTPUTS and strides == (1, 1):
        return shifted_taps_conv(x, kernel, padding, pad_mode)
    return im2col_conv(x, kernel, strides, padding, pad_mode)


def conv2d(x: jax.Array, kernel: jax.Array, strides: tuple[int, int] = (1, 1),
           padding: Padding = ((0, 0), (0, 0)), impl: str = "auto", pad_mode: str = "zero",
           bias: jax.Array | None = None) -> jax.Array:
    """NHWC input, HWIO kernel, H and W padded by `padding` with zeros or reflected
    (`pad_mode`), plus `bias` ([out]) if given: the values of padding and
    `lax.conv_general_dilated`, in the form `conv_impl` `impl` picks."""
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    form = conv_form(impl)
    block = space_to_depth.block_size(kernel.shape, strides) if form == "s2d" else 0
    if block:
        return space_to_depth.s2d_conv(x, kernel, strides, padding, pad_mode, block, bias)
    if form == "matmul":
        y = _matmul_conv(x, kernel, strides, padding, pad_mode)
    else:
        y = xla_conv(x, kernel, strides, padding, pad_mode)
    return y if bias is None else y + bias


def double4x4(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """`torch.nn.ConvTranspose2d(k=4, stride=2, padding=1)` of NHWC `x` with a [4, 4, out, in]
    kernel (the U-Net's up-convs): XLA's conv of the input dilated by 2, padded by
    k - 1 - padding = 2, with the kernel flipped, in every form."""
    rhs = jnp.flip(kernel, (0, 1)).transpose(0, 1, 3, 2)  # [4, 4, in, out]
    return jax.lax.conv_general_dilated(
        x, rhs, (1, 1), ((2, 2), (2, 2)), lhs_dilation=(2, 2),
        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def upsample2x(x: jax.Array, kernel: jax.Array, impl: str = "auto",
               bias: jax.Array | None = None) -> jax.Array:
    """`torch.nn.ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1)` of NHWC `x`
    with a [3, 3, out, in] kernel (`ops.sub_pixel`), plus `bias` ([out]) if given."""
    n, h, w, c = x.shape
    if conv_form(impl) == "matmul" and n * h * w * 4 * c <= _MAX_PATCH_ELEMENTS:
        y = sub_pixel.phase_matmuls(x, kernel)
        return y if bias is None else y + bias
    return sub_pixel.sub_pixel_conv(x, kernel, bias)
