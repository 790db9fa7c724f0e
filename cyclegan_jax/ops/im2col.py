"""A convolution as one matrix product: every window of the input gathered, times the kernel.

XLA:CPU runs matrix products near the machine's peak but its own convolutions slowly for
this model's shapes (transposed convs, every backward pass). One gather reads every
kh x kw window, its zero or reflect padding included (no padded copy, no per-tap slices;
its gradient is one scatter-add), and one [kh kw c, out] product does the rest.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from cyclegan_jax.ops.padding import Padding, window_sources


def gather_windows(x: jax.Array, kh: int, kw: int, strides: tuple[int, int], padding: Padding,
                   mode: str) -> jax.Array:
    """[n, oh, ow, kh, kw, c]: every window of the padded input, read in one gather."""
    rows = window_sources(x.shape[1], tuple(padding[0]), kh, strides[0], mode)
    cols = window_sources(x.shape[2], tuple(padding[1]), kw, strides[1], mode)
    if mode == "zero" and any(map(sum, padding)):  # index `size` reads an appended zero
        x = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
    return jnp.asarray(x).at[:, rows[:, None, :, None], cols[None, :, None, :]].get(
        mode="promise_in_bounds")


def im2col_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding,
                pad_mode: str) -> jax.Array:
    """NHWC input, HWIO kernel: the windows of `gather_windows` times the kernel."""
    kh, kw, c, out = kernel.shape
    patches = gather_windows(x, kh, kw, strides, padding, pad_mode)
    n, oh, ow = patches.shape[:3]
    return jnp.einsum("nhwk,ko->nhwo", patches.reshape(n, oh, ow, kh * kw * c),
                      kernel.reshape(kh * kw * c, out))
