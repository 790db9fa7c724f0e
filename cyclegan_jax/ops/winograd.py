"""Stride-1 3x3 convolutions by Winograd's minimal filtering, F(2x2, 3x3) and F(4x4, 3x3).

Each m x m block of outputs reads an (m + 2)^2 tile of the padded input d and is
A^T [(G g G^T) * (B^T d B)] A (Lavin & Gray 2016): the tiles transformed by additions,
then for each of the (m + 2)^2 tile positions one batched matrix product of the tiles
with that position's transformed kernel, then additions back to outputs. That is
(m + 2)^2 multiply-adds per m^2 outputs and channel pair instead of 9 m^2: 16 per 4, or
36 per 16. Values equal the direct conv's up to float rounding (F(4x4, 3x3) rounds a
few times more). The transforms' gradients are written out (`ops.linear`), and the tile
positions are stacked (m + 2) x (m + 2), since XLA:CPU fuses no concatenate of more than
8 arrays.
"""

from __future__ import annotations

import functools
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cyclegan_jax.ops.linear import linear_vjp
from cyclegan_jax.ops.padding import Padding, pad2d

# B^T [a, a], G [a, 3] and A^T [m, a] along one axis, for output tiles of m = 2 and 4 and
# input tiles of a = m + 2 (F(4, 3) at the points 0, +-1, +-2).
_MATRICES = {
    2: (np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]]),
        np.array([[1, 0, 0], [1 / 2, 1 / 2, 1 / 2], [1 / 2, -1 / 2, 1 / 2], [0, 0, 1]]),
        np.array([[1, 1, 1, 0], [0, 1, -1, -1]])),
    4: (np.array([[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0],
                  [0, -2, -1, 2, 1, 0], [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]]),
        np.array([[1 / 4, 0, 0], [-1 / 6, -1 / 6, -1 / 6], [-1 / 6, 1 / 6, -1 / 6],
                  [1 / 24, 1 / 12, 1 / 6], [1 / 24, -1 / 12, 1 / 6], [0, 0, 1]]),
        np.array([[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0],
                  [0, 1, -1, 8, -8, 1]])),
}
TILE_SIZES = tuple(sorted(_MATRICES))


def _combine(coefs: np.ndarray, arrays: Sequence[jax.Array]) -> jax.Array:
    """sum of c * a over the nonzero coefficients (+-1 as adds and subtracts)."""
    terms = [(float(c), a) for c, a in zip(coefs, arrays) if c != 0]
    terms.sort(key=lambda t: t[0] < 0)  # a positive term first, if any
    total = None
    for c, a in terms:
        if total is None:
            total = a if c == 1 else a * np.asarray(c, a.dtype)
        elif abs(c) == 1:
            total = total + a if c > 0 else total - a
        else:
            total = total + a * np.asarray(c, a.dtype)
    return total


def _tiles(x: jax.Array, axis: int, m: int) -> list[jax.Array]:
    """B^T d along `axis` (length m t + 2) for the t overlapping tiles d of m + 2 pixels at
    stride m: m + 2 arrays of length t, combined from strided slices of x."""
    t = (x.shape[axis] - 2) // m
    phases = [jax.lax.slice_in_dim(x, p, None, m, axis) for p in range(m)]
    d = [jax.lax.slice_in_dim(phases[i % m], i // m, i // m + t, axis=axis) for i in range(m + 2)]
    return [_combine(row, d) for row in _MATRICES[m][0]]


def _untile(ts: Sequence[jax.Array], axis: int, m: int) -> jax.Array:
    """The transpose of `_tiles` along `axis`: m + 2 arrays of length t back to one of
    length m t + 2, each tile's B d added back to the pixels it read (tiles overlap by
    two): pixel m k + p gets d_p of tile k and d_{p + m} of tile k - 1."""
    bt = _MATRICES[m][0]
    d = [_combine(bt[:, i], ts) for i in range(m + 2)]

    def shift(a, lo):  # length t + 1: a at offset lo
        return jnp.pad(a, [(lo, 1 - lo) if i == axis else (0, 0) for i in range(a.ndim)])

    phases = [shift(d[p], 0) + shift(d[p + m], 1) if p + m < m + 2 else shift(d[p], 0)
              for p in range(m)]
    y = jnp.stack(phases, axis=axis + 1)
    y = y.reshape(y.shape[:axis] + (m * y.shape[axis],) + y.shape[axis + 2:])
    return jax.lax.slice_in_dim(y, 0, y.shape[axis] - m + 2, axis=axis)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _input_tiles(x: jax.Array, m: int) -> jax.Array:
    """B^T d B for every (m + 2)^2 tile d at stride m of x ([n, m th + 2, m tw + 2, c]):
    [(m + 2)^2 tile positions, n, th, tw, c]."""
    tiles = jnp.stack([jnp.stack(_tiles(a, 2, m)) for a in _tiles(x, 1, m)])
    return tiles.reshape((tiles.shape[0] * tiles.shape[1],) + tiles.shape[2:])


def _input_tiles_bwd(m, _, dt):
    """Each row of positions untiled along the width, then the rows along the height:
    edge pads, adds and one interleave per axis (autodiff's interior pads were slow)."""
    a = m + 2
    dt = dt.reshape((a, a) + dt.shape[1:])
    rows = [_untile(list(dt[i]), 2, m) for i in range(a)]
    return (_untile(rows, 1, m),)


linear_vjp(_input_tiles, _input_tiles_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _output_tiles(p: jax.Array, m: int) -> jax.Array:
    """A^T p A for every tile ([(m + 2)^2 tile positions, n, th, tw, out]): the m x m
    output pixels of each tile, [n, m th, m tw, out]."""
    at = _MATRICES[m][2]
    _, n, th, tw, out = p.shape
    p = p.reshape((m + 2, m + 2) + p.shape[1:])
    rows = [_combine(r, list(p)) for r in at]  # m x [a, n, th, tw, out]
    y = jnp.stack([jnp.stack([_combine(r, list(row)) for r in at], axis=3) for row in rows],
                  axis=2)  # [n, th, m, tw, m, out]
    return y.reshape(n, m * th, m * tw, out)


def _output_tiles_bwd(m, _, dy):
    """A dy A^T for every tile: the (m + 2)^2 positions stacked as the input tiles, each a
    combination of the tile's output gradients."""
    at = _MATRICES[m][2]
    n, h, w, out = dy.shape
    d = dy.reshape(n, h // m, m, w // m, m, out)
    by_row = [_combine(at[:, i], [d[:, :, r] for r in range(m)]) for i in range(m + 2)]
    dp = jnp.stack([jnp.stack([_combine(at[:, j], [r[:, :, :, s] for s in range(m)])
                               for j in range(m + 2)]) for r in by_row])
    return (dp.reshape((dp.shape[0] * dp.shape[1],) + dp.shape[2:]),)


linear_vjp(_output_tiles, _output_tiles_bwd)


def _kernel_transform(m: int) -> np.ndarray:
    """G (x) G, [(m + 2)^2, 9]: a flattened 3x3 kernel to its (m + 2)^2 Winograd taps."""
    g = _MATRICES[m][1]
    return np.kron(g, g)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _kernel_taps(kernel: jax.Array, m: int) -> jax.Array:
    """G g G^T for every channel pair of the [3, 3, c, out] kernel: [(m + 2)^2, c, out], one
    [(m + 2)^2, 9] x [9, c out] product (the orientation XLA:CPU runs fastest) whose
    gradient is the transposed product (autodiff's went through transposing copies)."""
    c, out = kernel.shape[2:]
    return jnp.matmul(_kernel_transform(m).astype(kernel.dtype), kernel.reshape(9, c * out),
                      precision=jax.lax.Precision.HIGHEST).reshape(-1, c, out)


def _kernel_taps_bwd(m, _, du):
    a2, c, out = du.shape
    dk = jnp.matmul(_kernel_transform(m).T.astype(du.dtype), du.reshape(a2, c * out),
                    precision=jax.lax.Precision.HIGHEST)
    return (dk.reshape(3, 3, c, out),)


linear_vjp(_kernel_taps, _kernel_taps_bwd)


def tile_counts(oh: int, ow: int, m: int) -> tuple[int, int]:
    """How many m x m output tiles cover an oh x ow output, along each axis."""
    return -(-oh // m), -(-ow // m)


def winograd_conv3x3(x: jax.Array, kernel: jax.Array, padding: Padding,
                     pad_mode: str = "zero", m: int = 2) -> jax.Array:
    """Stride-1 3x3 NHWC conv with a [3, 3, in, out] kernel by F(m x m, 3x3), m = 2 or 4."""
    if m not in _MATRICES:
        raise ValueError(f"Winograd output tiles must be one of {TILE_SIZES}, got {m}")
    n, h, w, c = x.shape
    out = kernel.shape[-1]
    a = m + 2
    oh, ow = h + sum(padding[0]) - 2, w + sum(padding[1]) - 2
    th, tw = tile_counts(oh, ow, m)
    x = pad2d(x, padding, pad_mode)
    x = jnp.pad(x, ((0, 0), (0, m * th + 2 - x.shape[1]), (0, m * tw + 2 - x.shape[2]), (0, 0)))
    tiles = _input_tiles(x, m)
    k_all = _kernel_taps(kernel, m)
    p = jnp.einsum("etc,eco->eto", tiles.reshape(a * a, n * th * tw, c), k_all)
    return _output_tiles(p.reshape(a * a, n, th, tw, out), m)[:, :oh, :ow]
