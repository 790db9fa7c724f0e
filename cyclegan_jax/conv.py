"""The convolutions of the CycleGAN networks, in the form each backend runs fastest.

On accelerators they are `lax.conv_general_dilated` calls after `pad2d`, whose
reflect padding is one gather (`jnp.pad`'s reflect mode is a concatenate per axis, two
copies that XLA:GPU ran at ~0.85 TB/s on an H200) with a gradient that folds the
borders back without a scatter. The convs from and to few channels (the generator's
7x7 convs from and to RGB, the PatchGAN's first and last) run as space-to-depth convs:
the padded input cut into 4x4 blocks stacked along the channels, the kernel rearranged
to match (zeros where a block offset misses it), the output blocks spread back to
pixels (`s2d_conv`). Same parameters, same values; cuDNN ran the 7x7 3-channel convs at
~27 TFLOP/s in bf16, their space-to-depth forms 3-4x faster (H100). XLA:CPU's generic
convolution is slow for this model's shapes: few output channels (the generator's
last 7x7 conv to 3 channels, the PatchGAN's conv to 1), transposed convolutions and
every backward pass. On CPU we therefore express each convolution as matrix
multiplications, which XLA:CPU runs well and whose gradients are matrix
multiplications too:
- im2col: every kh x kw window of the input, zero or reflect padding included, read by
  one gather (no padded copy, no per-tap slices; its gradient is one scatter-add),
  times the [kh*kw*in, out] kernel;
- for few output channels, the input times all taps' kernels at once ([in, kh*kw*out]),
  then the kh*kw shifted slices of that product summed;
- the residual blocks' stride-1 3x3 convs by Winograd's minimal filtering
  (`winograd_conv3x3`): F(2x2, 3x3), 16 matrix products per 2x2 output pixels instead
  of 36 (2.25x fewer multiply-adds), or, where there are enough tiles, F(4x4, 3x3), 36
  per 4x4 instead of 144 (4x fewer), plus cheap additions before and after.
The Winograd transforms and the shifted-tap sums have gradients written out: autodiff's
(interior pads, sums of padded copies) became fusions that XLA:CPU ran with many reads
per element.
The stride-2 transposed convolution (`torch.nn.ConvTranspose2d(k=3, s=2, p=1,
output_padding=1)`) becomes a stride-1 2x2 convolution with four times the output
channels followed by depth-to-space (sub-pixel convolution), exact on every backend;
on CPU one matrix product per output phase, over only the window offsets that phase
has taps for (9 multiply-adds per input pixel and channel pair instead of 16).

The modules keep the parameter names, shapes and initialisation of `nn.Conv` and
`nn.ConvTranspose(transpose_kernel=True)`, so checkpoints and the PyTorch importer
do not depend on which form runs.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

Padding = Sequence[tuple[int, int]]
# Above this many elements (1 GiB of float32) the im2col matrix costs more memory than
# it saves time (very large eval images): fall back to XLA's own convolution.
_MAX_PATCH_ELEMENTS = 256 * 1024 * 1024
_FEW_OUTPUTS = 16
# Winograd for float32 3x3 convs with at least this many output tiles and channels:
# F(4x4, 3x3) where there are this many 4x4 tiles, else F(2x2, 3x3) where there are this
# many 2x2 tiles. Below them the smaller matrix products ran no faster (res conv fwd+bwd
# on the 2-core CPU, 256 channels: 64 2x2 tiles 12.2 vs 8.9 ms for im2col, 128 tiles 12.6
# vs 16.2, 256 tiles 21 vs 32; 64 channels at 128 or 256 tiles: 2.0 vs 1.6-2.1, 3.2-4.3
# vs 3.4-3.7; 128 channels: 5.4-6.2 vs 5.6-7.0, 9.2-10.0 vs 10.4-12.0. 256 channels, 4x4
# against 2x2 tiles: 2 x 32^2 pixels (128 4x4 tiles) 37.1 vs 43.1 ms, 1 x 64^2 (256)
# 55.4 vs 74.6, but 1 x 32^2 (64) 25.7 vs 21.0).
_WINOGRAD_MIN_TILES = 128
_WINOGRAD_MIN_CHANNELS = 128


# At most this many input or output channels: the space-to-depth form ("s2d").
_FEW_CHANNELS = 4

IMPLS = ("auto", "xla", "s2d", "matmul")


def conv_form(impl: str = "auto") -> str:
    """The form `impl` stands for: "matmul", "s2d" (XLA's convolutions, those from and to
    few channels by space-to-depth) or "xla"; "auto": "matmul" on CPU, else "s2d".

    (On an H200 the matmul forms of the 7x7 convs from and to RGB were slower than
    cuDNN: benchmarks/layer_forms.py.)
    """
    if impl not in IMPLS:
        raise ValueError(f"conv_impl must be one of {IMPLS}, got {impl!r}")
    if impl == "auto":
        return "matmul" if jax.default_backend() == "cpu" else "s2d"
    return impl


def _s2d_block(kernel_shape: Sequence[int], strides: tuple[int, int]) -> int:
    """The block size of the space-to-depth form for this conv; 0: not worth it."""
    kh, kw, c, out = kernel_shape
    if min(c, out) > _FEW_CHANNELS or strides[0] != strides[1] or min(kh, kw) < 4:
        return 0
    # 4 was the fastest block (or within 7 % of it) for all of these on an H100 (bf16, 256^2).
    return 4 if 4 % strides[0] == 0 else strides[0]


PAD_MODES = ("zero", "reflect")


def _window_sources(size: int, pad: tuple[int, int], k: int, stride: int,
                    mode: str) -> np.ndarray:
    """[out, k]: the input index each window tap reads along one axis of length `size`
    padded by `pad` (`size` itself, out of bounds, where zero padding is read)."""
    src = np.arange(-pad[0], size + pad[1])
    if mode == "reflect":  # torch.nn.ReflectionPad2d: mirror without repeating the edge
        if max(pad) >= size:
            raise ValueError(f"reflect padding {pad} needs more than {size} pixels")
        src = np.abs(src)
        src = np.where(src >= size, 2 * (size - 1) - src, src)
    else:
        src = np.where((src < 0) | (src >= size), size, src)
    out = (len(src) - k) // stride + 1
    return np.stack([src[i:i + stride * (out - 1) + 1:stride] for i in range(k)], axis=1)


def _gather_windows(x: jax.Array, kh: int, kw: int, strides: tuple[int, int],
                    padding: Padding, mode: str) -> jax.Array:
    """[n, oh, ow, kh, kw, c]: every window of the padded input, read in one gather."""
    rows = _window_sources(x.shape[1], tuple(padding[0]), kh, strides[0], mode)
    cols = _window_sources(x.shape[2], tuple(padding[1]), kw, strides[1], mode)
    if mode == "zero" and any(map(sum, padding)):  # index `size` reads an appended zero
        x = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
    return jnp.asarray(x).at[:, rows[:, None, :, None], cols[None, :, None, :]].get(
        mode="promise_in_bounds")


def _jnp_pad(x: jax.Array, padding: Padding, mode: str) -> jax.Array:
    widths = ((0, 0), tuple(padding[0]), tuple(padding[1]), (0, 0))
    return jnp.pad(x, widths, mode="reflect" if mode == "reflect" else "constant")


def _give_linear_vjp(f: jax.custom_vjp, bwd: Callable) -> None:
    """Sets the gradient of the linear `f` (a `jax.custom_vjp`) to `bwd`(its nondiff
    arguments, None, cotangent): the transposed map, which needs nothing saved."""
    f.defvjp(lambda *args: (f(*args), None), bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _reflect_pad(x: jax.Array, padding: tuple[tuple[int, int], tuple[int, int]]) -> jax.Array:
    # One gather: jnp.pad's reflect mode is a concatenate per axis, two copies that
    # XLA:GPU runs at a fraction of the memory bandwidth.
    rows = _window_sources(x.shape[1], padding[0], 1, 1, "reflect")[:, 0]
    cols = _window_sources(x.shape[2], padding[1], 1, 1, "reflect")[:, 0]
    return x[:, rows[:, None], cols[None, :]]


def _reflect_pad_bwd(padding, _, g):
    # jnp.pad's transpose folds the borders back with slices and adds (no scatter).
    shape = (g.shape[0], g.shape[1] - sum(padding[0]), g.shape[2] - sum(padding[1]), g.shape[3])
    return jax.vjp(lambda z: _jnp_pad(z, padding, "reflect"), jnp.zeros(shape, g.dtype))[1](g)


_give_linear_vjp(_reflect_pad, _reflect_pad_bwd)


def pad2d(x: jax.Array, padding: Padding, mode: str = "zero") -> jax.Array:
    """NHWC `x` with H and W padded by `padding`, with zeros or as `torch.nn.ReflectionPad2d`."""
    if mode == "reflect":
        return _reflect_pad(x, tuple(map(tuple, padding)))
    return _jnp_pad(x, padding, mode)


def _conv_valid(x: jax.Array, kernel: jax.Array, strides: tuple[int, int]) -> jax.Array:
    return jax.lax.conv_general_dilated(x, kernel, strides, "VALID",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _s2d_taps(k: int, stride: int, block: int) -> np.ndarray:
    """[t, block, block // stride, k] 0/1: input block offset t and phase p feed output
    phase q through kernel tap i = block * t + p - stride * q (1-D)."""
    t = (k - 1 + block - stride) // block + 1
    taps = np.zeros((t, block, block // stride, k), np.float32)
    for a, p, q in np.ndindex(taps.shape[:3]):
        i = block * a + p - stride * q
        if 0 <= i < k:
            taps[a, p, q, i] = 1.0
    return taps


def s2d_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding,
             pad_mode: str, block: int, bias: jax.Array | None = None) -> jax.Array:
    """`conv2d` as a conv over `block` x `block` blocks of the padded input stacked along
    the channels (space-to-depth), whose output blocks are spread back to pixels.

    `block` must be a multiple of both strides. Output pixel y = (block/s) Y + q reads
    padded rows s y + i = block (Y + t) + p, so the block kernel's tap t maps input
    phase p to output phase q through kernel row i = block t + p - s q (zero where
    that is outside the kernel): a stride-1 conv from block^2 * c channels to
    (block/s)^2 * out channels. Each block-kernel entry is one kernel entry or 0, so the
    values are the conv's up to float summation order. `bias` ([out]) is added to each
    output block's channels before the blocks are spread back, so that XLA gives cuDNN
    a bias vector (added after the transpose, it became a broadcast as large as the
    output, written and read again at every call: an H100 profile).
    """
    n, h, w, c = x.shape
    kh, kw, _, out = kernel.shape
    (sh, sw), b = strides, block
    if b % sh or b % sw:
        raise ValueError(f"space-to-depth block {b} must be a multiple of the strides {strides}")
    oh = (h + sum(padding[0]) - kh) // sh + 1
    ow = (w + sum(padding[1]) - kw) // sw + 1
    taps_h, taps_w = _s2d_taps(kh, sh, b), _s2d_taps(kw, sw, b)
    (th, _, qh, _), (tw, _, qw, _) = taps_h.shape, taps_w.shape
    block_kernel = jnp.einsum("apqi,bruj,ijco->abprcquo", taps_h.astype(kernel.dtype),
                              taps_w.astype(kernel.dtype), kernel,
                              precision=jax.lax.Precision.HIGHEST)
    block_kernel = block_kernel.reshape(th, tw, b * b * c, qh * qw * out)
    oh_blocks, ow_blocks = -(-oh // qh), -(-ow // qw)
    x = pad2d(x, padding, pad_mode)
    hb, wb = b * (oh_blocks + th - 1), b * (ow_blocks + tw - 1)  # rows/cols the blocks read
    x = jnp.pad(x[:, :hb, :wb], ((0, 0), (0, max(hb - x.shape[1], 0)),
                                 (0, max(wb - x.shape[2], 0)), (0, 0)))
    x = x.reshape(n, hb // b, b, wb // b, b, c).transpose(0, 1, 3, 2, 4, 5)
    y = _conv_valid(x.reshape(n, hb // b, wb // b, b * b * c), block_kernel, (1, 1))
    if bias is not None:  # block channels are (output phase row, phase col, channel)
        y = y + jnp.tile(bias, qh * qw)
    y = y.reshape(n, oh_blocks, ow_blocks, qh, qw, out).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, oh_blocks * qh, ow_blocks * qw, out)[:, :oh, :ow]


# Winograd's F(m x m, 3x3) (Lavin & Gray 2016) for output tiles of m = 2 and 4, one axis
# at a time: B^T [a, a], G [a, 3] and A^T [m, a] for input tiles of a = m + 2 (F(4, 3)
# at the points 0, +-1, +-2).
_WINOGRAD = {
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


def _winograd_tiles(x: jax.Array, axis: int, m: int) -> list[jax.Array]:
    """B^T d along `axis` (length m t + 2) for the t overlapping tiles d of m + 2 pixels at
    stride m: m + 2 arrays of length t, combined from strided slices of x."""
    t = (x.shape[axis] - 2) // m
    phases = [jax.lax.slice_in_dim(x, p, None, m, axis) for p in range(m)]
    d = [jax.lax.slice_in_dim(phases[i % m], i // m, i // m + t, axis=axis) for i in range(m + 2)]
    return [_combine(row, d) for row in _WINOGRAD[m][0]]


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _winograd_input_tiles(x: jax.Array, m: int) -> jax.Array:
    """B^T d B for every (m + 2)^2 tile d at stride m of x ([n, m th + 2, m tw + 2, c]):
    [(m + 2)^2 tile positions, n, th, tw, c]. (Stacked (m + 2) x (m + 2): XLA:CPU fuses
    no concatenate of more than 8 arrays, and materialises each of them first.)"""
    tiles = jnp.stack([jnp.stack(_winograd_tiles(a, 2, m)) for a in _winograd_tiles(x, 1, m)])
    return tiles.reshape((tiles.shape[0] * tiles.shape[1],) + tiles.shape[2:])


def _winograd_untile(ts: Sequence[jax.Array], axis: int, m: int) -> jax.Array:
    """The transpose of `_winograd_tiles` along `axis`: m + 2 arrays of length t back to
    one of length m t + 2, each tile's B d added back to the pixels it read (tiles
    overlap by two): pixel m k + p gets d_p of tile k and d_{p + m} of tile k - 1."""
    bt = _WINOGRAD[m][0]
    d = [_combine(bt[:, i], ts) for i in range(m + 2)]

    def shift(a, lo):  # length t + 1: a at offset lo
        return jnp.pad(a, [(lo, 1 - lo) if i == axis else (0, 0) for i in range(a.ndim)])

    phases = [shift(d[p], 0) + shift(d[p + m], 1) if p + m < m + 2 else shift(d[p], 0)
              for p in range(m)]
    y = jnp.stack(phases, axis=axis + 1)
    y = y.reshape(y.shape[:axis] + (m * y.shape[axis],) + y.shape[axis + 2:])
    return jax.lax.slice_in_dim(y, 0, y.shape[axis] - m + 2, axis=axis)


def _winograd_input_tiles_bwd(m, _, dt):
    """Each row of positions untiled along the width, then the rows along the height:
    edge pads, adds and one interleave per axis. (Autodiff takes the strided slices
    back through interior pads, which XLA:CPU ran at ~6 ms per residual conv at 128^2
    on one core, ~3.5 % of the step, with F(2x2, 3x3).)"""
    a = m + 2
    dt = dt.reshape((a, a) + dt.shape[1:])
    rows = [_winograd_untile(list(dt[i]), 2, m) for i in range(a)]
    return (_winograd_untile(rows, 1, m),)


_give_linear_vjp(_winograd_input_tiles, _winograd_input_tiles_bwd)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _winograd_output_tiles(p: jax.Array, m: int) -> jax.Array:
    """A^T p A for every tile ([(m + 2)^2 tile positions, n, th, tw, out]): the m x m
    output pixels of each tile, [n, m th, m tw, out]."""
    at = _WINOGRAD[m][2]
    _, n, th, tw, out = p.shape
    p = p.reshape((m + 2, m + 2) + p.shape[1:])
    rows = [_combine(r, list(p)) for r in at]  # m x [a, n, th, tw, out]
    y = jnp.stack([jnp.stack([_combine(r, list(row)) for r in at], axis=3) for row in rows],
                  axis=2)  # [n, th, m, tw, m, out]
    return y.reshape(n, m * th, m * tw, out)


def _winograd_output_tiles_bwd(m, _, dy):
    """A dy A^T for every tile: the (m + 2)^2 positions stacked as the input tiles, each
    a combination of the tile's output gradients. (Autodiff took the slices of p back
    through pads to [(m + 2)^2, ...] each, summed: ~12 ms per residual conv at 128^2 on
    one CPU core, with F(2x2, 3x3).)"""
    at = _WINOGRAD[m][2]
    n, h, w, out = dy.shape
    d = dy.reshape(n, h // m, m, w // m, m, out)
    by_row = [_combine(at[:, i], [d[:, :, r] for r in range(m)]) for i in range(m + 2)]
    dp = jnp.stack([jnp.stack([_combine(at[:, j], [r[:, :, :, s] for s in range(m)])
                               for j in range(m + 2)]) for r in by_row])
    return (dp.reshape((dp.shape[0] * dp.shape[1],) + dp.shape[2:]),)


_give_linear_vjp(_winograd_output_tiles, _winograd_output_tiles_bwd)


def _kernel_transform(m: int) -> np.ndarray:
    """G (x) G, [(m + 2)^2, 9]: a flattened 3x3 kernel to its (m + 2)^2 Winograd taps."""
    g = _WINOGRAD[m][1]
    return np.kron(g, g)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _winograd_kernel(kernel: jax.Array, m: int) -> jax.Array:
    """G g G^T for every input channel and output channel of the [3, 3, c, out] kernel:
    [(m + 2)^2 tile positions, c, out], one [(m + 2)^2, 9] x [9, c * out] matrix product,
    its gradient the transposed product. (As [c * out, 9] x [9, (m + 2)^2] the forward
    missed XLA:CPU's fast matrix products: 4.0 against 2.7 ms per F(4x4, 3x3) kernel of
    256 x 256 channels on one core. Autodiff took this product's gradient through
    transposing copies: the F(2x2, 3x3) step 4.3 % slower on one core.)"""
    c, out = kernel.shape[2:]
    return jnp.matmul(_kernel_transform(m).astype(kernel.dtype), kernel.reshape(9, c * out),
                      precision=jax.lax.Precision.HIGHEST).reshape(-1, c, out)


def _winograd_kernel_bwd(m, _, du):
    a2, c, out = du.shape
    dk = jnp.matmul(_kernel_transform(m).T.astype(du.dtype), du.reshape(a2, c * out),
                    precision=jax.lax.Precision.HIGHEST)
    return (dk.reshape(3, 3, c, out),)


_give_linear_vjp(_winograd_kernel, _winograd_kernel_bwd)


def _tile_counts(oh: int, ow: int, m: int) -> tuple[int, int]:
    """How many m x m output tiles cover an oh x ow output, along each axis."""
    return -(-oh // m), -(-ow // m)


def winograd_conv3x3(x: jax.Array, kernel: jax.Array, padding: Padding,
                     pad_mode: str = "zero", m: int = 2) -> jax.Array:
    """Stride-1 3x3 `conv2d` by Winograd's F(m x m, 3x3), m = 2 or 4: same values up to
    float rounding (F(4x4, 3x3)'s a few times F(2x2, 3x3)'s).

    Each m x m block of output pixels reads an a x a tile (a = m + 2) of the padded input
    d and is A^T [(G g G^T) * (B^T d B)] A: the tiles transformed by additions, then, for
    each of the a^2 tile positions, the tiles times that position's transformed kernel
    (one batched matrix product [a^2, tiles, in] x [a^2, in, out]), then additions back
    to m x m outputs. a^2 multiply-adds per m^2 outputs and channel pair instead of 9 m^2:
    16 per 4 (F(2x2, 3x3)) or 36 per 16 (F(4x4, 3x3)).
    """
    if m not in _WINOGRAD:
        raise ValueError(f"Winograd output tiles must be one of {sorted(_WINOGRAD)}, got {m}")
    n, h, w, c = x.shape
    out = kernel.shape[-1]
    a = m + 2
    oh, ow = h + sum(padding[0]) - 2, w + sum(padding[1]) - 2
    th, tw = _tile_counts(oh, ow, m)
    x = pad2d(x, padding, pad_mode)
    x = jnp.pad(x, ((0, 0), (0, m * th + 2 - x.shape[1]), (0, m * tw + 2 - x.shape[2]), (0, 0)))
    tiles = _winograd_input_tiles(x, m)
    k_all = _winograd_kernel(kernel, m)
    p = jnp.einsum("etc,eco->eto", tiles.reshape(a * a, n * th * tw, c), k_all)
    return _winograd_output_tiles(p.reshape(a * a, n, th, tw, out), m)[:, :oh, :ow]


@functools.partial(jax.custom_vjp, nondiff_argnums=(1, 2))
def _shifted_tap_sum(taps: jax.Array, oh: int, ow: int) -> jax.Array:
    """y[n, r, c, o] = sum over i, j of taps[n, r + i, c + j, i, j, o]: the output of a
    stride-1 conv from every tap's product ([n, H, W, kh, kw, out]), summed first
    along the width, then along the height."""
    kh, kw = taps.shape[3:5]
    rows = sum(taps[:, :, j:j + ow, :, j, :] for j in range(kw))  # [n, hp, ow, kh, out]
    return sum(rows[:, i:i + oh, :, i, :] for i in range(kh))


def _shifted_tap_sum_fwd(taps, oh, ow):
    return _shifted_tap_sum(taps, oh, ow), taps.shape


def _shifted_tap_sum_bwd(oh, ow, shape, dy):
    """d taps[n, r, c, i, j] = dy[n, r - i, c - j] (zero outside dy): kh * kw shifted
    windows of the zero-padded dy, stacked, one read per element. (Autodiff's sum of
    padded copies was fused by XLA:CPU into kh * kw reads per element: ~4 % of the
    128^2 step on one core.)"""
    _, hp, wp, kh, kw, _ = shape
    dyp = jnp.pad(dy, ((0, 0), (kh - 1, hp - oh), (kw - 1, wp - ow), (0, 0)))
    rows = [dyp[:, kh - 1 - i:kh - 1 - i + hp] for i in range(kh)]
    return (jnp.stack([jnp.stack([r[:, :, kw - 1 - j:kw - 1 - j + wp] for j in range(kw)], axis=3)
                       for r in rows], axis=3),)


_shifted_tap_sum.defvjp(_shifted_tap_sum_fwd, _shifted_tap_sum_bwd)


def conv2d(x: jax.Array, kernel: jax.Array, strides: tuple[int, int] = (1, 1),
           padding: Padding = ((0, 0), (0, 0)), impl: str = "auto",
           pad_mode: str = "zero", bias: jax.Array | None = None) -> jax.Array:
    """NHWC input, HWIO kernel, padding `padding` of kind `pad_mode` ("zero" or "reflect"),
    plus `bias` ([out]) if given. Same result as padding and `lax.conv_general_dilated`
    (and adding the bias) up to float summation order; `impl` as `conv_form`."""
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    form = conv_form(impl)
    block = _s2d_block(kernel.shape, strides) if form == "s2d" else 0
    if block:
        return s2d_conv(x, kernel, strides, padding, pad_mode, block, bias)
    y = _conv_in_form(x, kernel, strides, padding, form, pad_mode)
    return y if bias is None else y + bias


def _conv_in_form(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding,
                  form: str, pad_mode: str) -> jax.Array:
    """`conv2d` without bias in `form`: the matmul forms for "matmul", else XLA's conv
    (also for "s2d" convs that `_s2d_block` leaves alone)."""
    n, h, w, c = x.shape
    kh, kw, _, out = kernel.shape
    oh = (h + sum(padding[0]) - kh) // strides[0] + 1
    ow = (w + sum(padding[1]) - kw) // strides[1] + 1
    if form != "matmul" or n * oh * ow * kh * kw * c > _MAX_PATCH_ELEMENTS:
        return _conv_valid(pad2d(x, padding, pad_mode), kernel, strides)
    if ((kh, kw) == (3, 3) and strides == (1, 1) and min(c, out) >= _WINOGRAD_MIN_CHANNELS
            and x.dtype == jnp.float32):
        for m in (4, 2):
            if n * math.prod(_tile_counts(oh, ow, m)) >= _WINOGRAD_MIN_TILES:
                return winograd_conv3x3(x, kernel, padding, pad_mode, m)
    if out < _FEW_OUTPUTS and strides == (1, 1):
        # Every tap's output at every padded input position, [n, H, W, kh, kw, out];
        # then the shifted slices summed (`_shifted_tap_sum`).
        x = pad2d(x, padding, pad_mode)
        hp, wp = x.shape[1:3]
        k_all = kernel.transpose(2, 0, 1, 3).reshape(c, kh * kw * out)
        taps = (x.reshape(n * hp * wp, c) @ k_all).reshape(n, hp, wp, kh, kw, out)
        return _shifted_tap_sum(taps, oh, ow)
    patches = _gather_windows(x, kh, kw, strides, padding, pad_mode)
    return jnp.einsum("nhwk,ko->nhwo", patches.reshape(n, oh, ow, kh * kw * c),
                      kernel.reshape(kh * kw * c, out))


def _kernel_and_bias(module: nn.Module, kernel_shape: tuple[int, ...]) -> tuple[jax.Array, jax.Array]:
    """`module`'s float32 params "kernel" (`kernel_shape`) and "bias" ([features]), cast
    to its compute dtype; with `module.normed`, the bias passes no gradient.

    An instance norm (with or without affine) subtracts each channel's mean, so the bias
    of a conv in front of one changes nothing after it, and its gradient is zero in
    exact arithmetic. Computed, it is a reduction over the whole conv output (in an H100
    profile of the bf16 step at 256^2, batch 32, the fusions computing these took ~12 of
    170 ms, some of them while also writing the conv's output gradient), whose float
    rounding then moves the bias by about +-lr per Adam step, as in PyTorch, to no effect
    on any output. So it is skipped: the bias is still added (same outputs for any
    params), and Adam leaves it where it is.
    """
    kernel = module.param("kernel", module.kernel_init, kernel_shape, jnp.float32)
    bias = module.param("bias", module.bias_init, (module.features,), jnp.float32)
    if module.normed:
        bias = jax.lax.stop_gradient(bias)
    return kernel.astype(module.dtype), bias.astype(module.dtype)


class Conv(nn.Module):
    """`nn.Conv` with explicit zero or reflect padding, computed by `conv2d` (same
    params: kernel, bias)."""

    features: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: Padding = ((0, 0), (0, 0))
    pad_mode: str = "zero"  # or "reflect" (torch.nn.ReflectionPad2d)
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros
    dtype: Any = jnp.float32
    impl: str = "auto"
    normed: bool = False  # an instance norm follows: the bias gets no gradient (above)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel, bias = _kernel_and_bias(
            self, tuple(self.kernel_size) + (x.shape[-1], self.features))
        return conv2d(x.astype(self.dtype), kernel, tuple(self.strides), self.padding,
                      self.impl, self.pad_mode, bias)


def upsample2x(x: jax.Array, kernel: jax.Array, impl: str = "auto",
               bias: jax.Array | None = None) -> jax.Array:
    """`torch.nn.ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1)`, plus `bias`
    ([out]) if given: added to the sub-pixel conv's output (every phase's channels) before
    depth-to-space, where XLA fuses it into the conv (see `s2d_conv`).

    `kernel` is [3, 3, out, in] (the torch weight `.transpose(2, 3, 1, 0)`, as
    `nn.ConvTranspose(transpose_kernel=True)` holds it). In 1-D the transposed conv
    gives out[2m] = x[m] w[1] and out[2m+1] = x[m] w[2] + x[m+1] w[0] (x past the end
    is 0): a 2-tap stride-1 convolution per output phase. (Flax's
    `nn.ConvTranspose(padding="SAME")` has the right output shape but shifted values;
    PyTorch's padding is (1, 2) on the dilated input, reference §13.)
    """
    n, h, w, c = x.shape
    out = kernel.shape[2]
    if conv_form(impl) == "matmul" and n * h * w * 4 * c <= _MAX_PATCH_ELEMENTS:
        y = _sub_pixel_matmuls(x, kernel)
        return y if bias is None else y + bias
    # select[d, a, i] = 1 where output phase a reads window offset d through torch tap i.
    select = np.zeros((2, 2, 3), np.float32)
    for (d, a), i in _TORCH_TAP.items():
        select[d, a, i] = 1.0
    # One contraction, so that the kernel's gradient is one small contraction too (not
    # a sum of padded slices that XLA would fuse into, and repeat in, the optimizer).
    sub_kernel = jnp.einsum("dai,ebj,ijoc->decabo", select.astype(kernel.dtype),
                            select.astype(kernel.dtype), kernel,
                            precision=jax.lax.Precision.HIGHEST).reshape(2, 2, c, 4 * out)
    y = conv2d(x, sub_kernel, (1, 1), ((0, 1), (0, 1)), impl,  # [n, h, w, (a, b, out)]
               bias=None if bias is None else jnp.tile(bias, 4))
    y = y.reshape(n, h, w, 2, 2, out).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, 2 * h, 2 * w, out)


# Along one axis, the torch tap that output phase a multiplies window offset d by
# ((d, a) = (1, 0) has none); see `upsample2x`.
_TORCH_TAP = {(0, 0): 1, (0, 1): 2, (1, 1): 0}
# The 2x2 window offsets (d, e) in the order `_sub_pixel_matmuls` stacks them, and the
# contiguous run of them each output phase (a, b) reads: (0, 0) one, (0, 1) and (1, 0)
# two, (1, 1) all four.
_SUB_PIXEL_OFFSETS = ((1, 0), (0, 0), (0, 1), (1, 1))
_SUB_PIXEL_READS = {(0, 0): slice(1, 2), (0, 1): slice(1, 3), (1, 0): slice(0, 2),
                    (1, 1): slice(0, 4)}
# The torch taps (3 i + j) that the phases' reads multiply by, phase after phase: each
# of the nine once.
_PHASE_TAPS = np.array([3 * _TORCH_TAP[d, a] + _TORCH_TAP[e, b]
                        for (a, b), reads in _SUB_PIXEL_READS.items()
                        for d, e in _SUB_PIXEL_OFFSETS[reads]])


@jax.custom_vjp
def _phase_kernels(kernel: jax.Array) -> tuple[jax.Array, ...]:
    """The [3, 3, out, in] transposed-conv kernel as one [reads * in, out] matrix per
    output phase of `_sub_pixel_matmuls` (in `_SUB_PIXEL_READS` order): the torch taps
    in `_PHASE_TAPS` order, split by phase. A permutation of the taps, its gradient the
    inverse one. (Built as the sub-pixel conv's kernel, an einsum with 0/1 selections,
    and sliced, it ran as matrix products of 3 or 4 columns at < 1 GFLOP/s on XLA:CPU:
    ~50 ms of the 64^2 step on one core.)"""
    taps = kernel.reshape(9, *kernel.shape[2:]).transpose(0, 2, 1)[_PHASE_TAPS]  # [9, in, out]
    starts = np.cumsum([0] + [r.stop - r.start for r in _SUB_PIXEL_READS.values()])
    return tuple(taps[a:b].reshape(-1, taps.shape[-1]) for a, b in zip(starts, starts[1:]))


def _phase_kernels_bwd(_, d_phases):
    out = d_phases[0].shape[-1]
    taps = jnp.concatenate(d_phases).reshape(9, -1, out)[np.argsort(_PHASE_TAPS)]
    return (taps.transpose(0, 2, 1).reshape(3, 3, out, -1),)


_give_linear_vjp(_phase_kernels, _phase_kernels_bwd)


def _sub_pixel_matmuls(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """`upsample2x` without bias as one matrix product per output phase (a, b) of the
    sub-pixel conv, over only the window offsets where the transposed conv has a tap:
    the transposed conv's 9 multiply-adds per input pixel and channel pair, not the 2x2
    conv's 16 (its other kernel blocks are zeros)."""
    n, h, w, c = x.shape
    xp = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
    windows = jnp.stack([xp[:, d:d + h, e:e + w] for d, e in _SUB_PIXEL_OFFSETS], axis=3)
    windows = windows.reshape(n * h * w, 4, c)
    phases = {}
    for ((a, b), reads), k in zip(_SUB_PIXEL_READS.items(), _phase_kernels(kernel)):
        phases[a, b] = (windows[:, reads].reshape(n * h * w, -1) @ k).reshape(n, h, w, -1)
    y = jnp.stack([jnp.stack([phases[a, 0], phases[a, 1]], axis=3) for a in (0, 1)], axis=2)
    return y.reshape(n, 2 * h, 2 * w, y.shape[-1])


class UpsampleConv(nn.Module):
    """The generator's stride-2 transposed conv; params as `nn.ConvTranspose(features,
    (3, 3), transpose_kernel=True)`: kernel [3, 3, features, in] and bias."""

    features: int
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros
    dtype: Any = jnp.float32
    impl: str = "auto"
    normed: bool = False  # an instance norm follows: the bias gets no gradient (above)

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel, bias = _kernel_and_bias(self, (3, 3, self.features, x.shape[-1]))
        return upsample2x(x.astype(self.dtype), kernel, self.impl, bias)
