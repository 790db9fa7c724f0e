"""Zero and reflect padding of NHWC images, and which input pixel each padded position reads.

Reflect padding is `torch.nn.ReflectionPad2d`'s: mirrored without repeating the edge,
so position -1 reads pixel 1 and position `size` reads pixel `size - 2`.
`reflect_index` is that rule, and every reflect padding of the project goes through it:
the convs' gathers (`window_sources`, `pad2d`), each image's own edges on a canvas
(`nn.canvas`), and the rounding of image sizes in `eval.inference`.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cyclegan_jax.ops.linear import linear_vjp

Padding = Sequence[tuple[int, int]]
PAD_MODES = ("zero", "reflect")


def reflect_index(index, size):
    """The pixel that position `index` (may be < 0 or >= size) of an axis of `size` pixels
    reads under reflect padding; NumPy or JAX arrays, `size` may be an array too.
    Valid for positions at most `size - 1` outside the axis."""
    last = size - 1
    return last - abs(last - abs(index))


def window_sources(size: int, pad: tuple[int, int], k: int, stride: int, mode: str) -> np.ndarray:
    """[out, k]: the input index each tap of each window reads along one axis of length
    `size` padded by `pad` (`size` itself, one past the end, where zero padding is read)."""
    src = np.arange(-pad[0], size + pad[1])
    if mode == "reflect":
        if max(pad) >= size:
            raise ValueError(f"reflect padding {pad} needs more than {size} pixels")
        src = reflect_index(src, size)
    else:
        src = np.where((src < 0) | (src >= size), size, src)
    out = (len(src) - k) // stride + 1
    return np.stack([src[i:i + stride * (out - 1) + 1:stride] for i in range(k)], axis=1)


def _jnp_pad(x: jax.Array, padding: Padding, mode: str) -> jax.Array:
    widths = ((0, 0), tuple(padding[0]), tuple(padding[1]), (0, 0))
    return jnp.pad(x, widths, mode="reflect" if mode == "reflect" else "constant")


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _reflect_pad(x: jax.Array, padding: tuple[tuple[int, int], tuple[int, int]]) -> jax.Array:
    # One gather: jnp.pad's reflect mode is a concatenate per axis, two copies that XLA:GPU
    # runs well below the memory bandwidth (docs/performance.md).
    rows = window_sources(x.shape[1], padding[0], 1, 1, "reflect")[:, 0]
    cols = window_sources(x.shape[2], padding[1], 1, 1, "reflect")[:, 0]
    return x[:, rows[:, None], cols[None, :]]


def _reflect_pad_bwd(padding, _, g):
    # The gather's transpose as jnp.pad's: the borders folded back by slices and adds, no scatter.
    shape = (g.shape[0], g.shape[1] - sum(padding[0]), g.shape[2] - sum(padding[1]), g.shape[3])
    return jax.vjp(lambda z: _jnp_pad(z, padding, "reflect"), jnp.zeros(shape, g.dtype))[1](g)


linear_vjp(_reflect_pad, _reflect_pad_bwd)


def pad2d(x: jax.Array, padding: Padding, mode: str = "zero") -> jax.Array:
    """NHWC `x` with H and W padded by `padding` ((top, bottom), (left, right)), with zeros or
    as `torch.nn.ReflectionPad2d`."""
    if not any(map(sum, padding)):
        return x
    if mode == "reflect" and all(isinstance(d, int) for d in x.shape[1:3]):
        return _reflect_pad(x, tuple(map(tuple, padding)))
    # Symbolic sides (a `jax.export` with free height and width) have no index table.
    return _jnp_pad(x, padding, mode)
