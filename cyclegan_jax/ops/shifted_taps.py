"""A stride-1 convolution to few output channels as one product and a sum of shifted slices.

For few outputs (the generator's last 7x7 conv to RGB, the PatchGAN's conv to 1) an
im2col product would be a thin matrix. Instead every input pixel is multiplied by all
taps' kernels at once ([in, kh kw out], a wide product), and each output sums the
kh x kw shifted slices of that product that belong to it.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from cyclegan_jax.ops.padding import Padding, pad2d


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _shifted_tap_sum(taps: jax.Array, oh: int, ow: int) -> jax.Array:
    """y[n, r, c, o] = sum over i, j of taps[n, r + i, c + j, i, j, o], for the taps' products
    [n, H, W, kh, kw, out]: summed along the width first, then along the height."""
    kh, kw = taps.shape[3:5]
    rows = sum(taps[:, :, j:j + ow, :, j, :] for j in range(kw))  # [n, hp, ow, kh, out]
    return sum(rows[:, i:i + oh, :, i, :] for i in range(kh))


def _shifted_tap_sum_fwd(taps, oh, ow):
    return _shifted_tap_sum(taps, oh, ow), taps.shape


def _shifted_tap_sum_bwd(oh, ow, shape, dy):
    """d taps[n, r, c, i, j] = dy[n, r - i, c - j] (zero outside dy): the kh x kw shifted
    windows of the zero-padded dy, stacked, one read per element (XLA:CPU fused autodiff's
    sum of padded copies into kh x kw reads per element)."""
    _, hp, wp, kh, kw, _ = shape
    dyp = jnp.pad(dy, ((0, 0), (kh - 1, hp - oh), (kw - 1, wp - ow), (0, 0)))
    rows = [dyp[:, kh - 1 - i:kh - 1 - i + hp] for i in range(kh)]
    return (jnp.stack([jnp.stack([r[:, :, kw - 1 - j:kw - 1 - j + wp] for j in range(kw)], axis=3)
                       for r in rows], axis=3),)


_shifted_tap_sum.defvjp(_shifted_tap_sum_fwd, _shifted_tap_sum_bwd)


def shifted_taps_conv(x: jax.Array, kernel: jax.Array, padding: Padding,
                      pad_mode: str) -> jax.Array:
    """Stride-1 NHWC conv with an HWIO kernel: each padded input pixel times every tap's
    kernel ([n, H, W, kh, kw, out]), then the shifted slices summed."""
    kh, kw, c, out = kernel.shape
    x = pad2d(x, padding, pad_mode)
    n, hp, wp, _ = x.shape
    k_all = kernel.transpose(2, 0, 1, 3).reshape(c, kh * kw * out)
    taps = (x.reshape(n * hp * wp, c) @ k_all).reshape(n, hp, wp, kh, kw, out)
    return _shifted_tap_sum(taps, hp - kh + 1, wp - kw + 1)
