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
- the residual blocks' stride-1 3x3 convs by Winograd's minimal filtering F(2x2, 3x3)
  (`winograd_conv3x3`): 16 matrix products per 2x2 output pixels instead of 36, so
  2.25x fewer multiply-adds, plus cheap additions before and after.
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
# Winograd for float32 3x3 convs with at least this many 2x2 output tiles and channels:
# below them the 16 small matrix products run no faster than one im2col product (res
# conv fwd+bwd on the 2-core CPU, 256 channels: 64 tiles 12.2 vs 8.9 ms, 128 tiles 12.6
# vs 16.2, 256 tiles 21 vs 32; 64 channels at 128 or 256 tiles: 2.0 vs 1.6-2.1, 3.2-4.3
# vs 3.4-3.7; 128 channels: 5.4-6.2 vs 5.6-7.0, 9.2-10.0 vs 10.4-12.0).
_WINOGRAD_MIN_TILES = 128
_WINOGRAD_MIN_CHANNELS = 128


# At most this many input or output channels: the space-to-depth form ("s2d").
_FEW_CHANNELS = 4

IMPLS = ("auto", "xla", "s2d", "matmul")


def _form(impl: str = "auto") -> str:
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


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def _reflect_pad(x: jax.Array, padding: tuple[tuple[int, int], tuple[int, int]]) -> jax.Array:
    # One gather: jnp.pad's reflect mode is a concatenate per axis, two copies that
    # XLA:GPU runs at a fraction of the memory bandwidth.
    rows = _window_sources(x.shape[1], padding[0], 1, 1, "reflect")[:, 0]
    cols = _window_sources(x.shape[2], padding[1], 1, 1, "reflect")[:, 0]
    return x[:, rows[:, None], cols[None, :]]


def _reflect_pad_fwd(x, padding):
    return _reflect_pad(x, padding), None


def _reflect_pad_bwd(padding, _, g):
    # jnp.pad's transpose folds the borders back with slices and adds (no scatter).
    shape = (g.shape[0], g.shape[1] - sum(padding[0]), g.shape[2] - sum(padding[1]), g.shape[3])
    return jax.vjp(lambda z: _jnp_pad(z, padding, "reflect"), jnp.zeros(shape, g.dtype))[1](g)


_reflect_pad.defvjp(_reflect_pad_fwd, _reflect_pad_bwd)


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


# Winograd F(2, 3) (Lavin & Gray 2016), one axis at a time: B^T, G and A^T.
def _winograd_input(d0, d1, d2, d3):
    return d0 - d2, d1 + d2, d2 - d1, d1 - d3


# G as a matrix, and G x G acting on the 3x3 taps at once: [16 tile positions, 9 taps].
_WINOGRAD_G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)
_WINOGRAD_KERNEL = np.kron(_WINOGRAD_G, _WINOGRAD_G)


def _winograd_output(m0, m1, m2, m3):
    return m0 + m1 + m2, m1 - m2 - m3


def _winograd_tiles(x: jax.Array, axis: int) -> tuple[jax.Array, ...]:
    """`_winograd_input` over the overlapping 4-wide tiles at stride 2 along `axis`
    (length 2 t + 2): 4 arrays of length t, read as even and odd strided slices."""
    even = jax.lax.slice_in_dim(x, 0, None, 2, axis)
    odd = jax.lax.slice_in_dim(x, 1, None, 2, axis)
    first, last = (lambda a: jax.lax.slice_in_dim(a, 0, a.shape[axis] - 1, axis=axis),
                   lambda a: jax.lax.slice_in_dim(a, 1, None, axis=axis))
    return _winograd_input(first(even), first(odd), last(even), last(odd))


@jax.custom_vjp
def _winograd_input_tiles(x: jax.Array) -> jax.Array:
    """B^T d B for every 4x4 tile d at stride 2 of x ([n, 2 th + 2, 2 tw + 2, c]):
    [16 tile positions, n, th, tw, c]. (Stacked 4 x 4: XLA:CPU fuses no concatenate of
    more than 8 arrays, and materialises each of them first.)"""
    tiles = jnp.stack([jnp.stack(_winograd_tiles(a, 2)) for a in _winograd_tiles(x, 1)])
    return tiles.reshape((16,) + tiles.shape[2:])


def _winograd_untile(t0, t1, t2, t3, axis: int) -> jax.Array:
    """The transpose of `_winograd_tiles` along `axis`: 4 arrays of length t back to one
    of length 2 t + 2, each tile's B d added back to the pixels it read, which overlap by
    two. Pixel 2k gets d0 of tile k and d2 of tile k - 1; pixel 2k + 1, d1 and d3."""
    d0, d1, d2, d3 = t0, t1 - t2 + t3, t1 + t2 - t0, -t3

    def shift(a, lo):  # length t + 1: a at offset lo
        return jnp.pad(a, [(lo, 1 - lo) if i == axis else (0, 0) for i in range(a.ndim)])

    even, odd = shift(d0, 0) + shift(d2, 1), shift(d1, 0) + shift(d3, 1)
    y = jnp.stack([even, odd], axis=axis + 1)
    return y.reshape(y.shape[:axis] + (2 * y.shape[axis],) + y.shape[axis + 2:])


def _winograd_input_tiles_fwd(x):
    return _winograd_input_tiles(x), None


def _winograd_input_tiles_bwd(_, dt):
    """Each row of positions untiled along the width, then the rows along the height:
    edge pads, adds and one interleave per axis. (Autodiff takes the strided slices
    back through interior pads, which XLA:CPU ran at ~6 ms per residual conv at 128^2
    on one core, ~3.5 % of the step.)"""
    dt = dt.reshape((4, 4) + dt.shape[1:])
    rows = [_winograd_untile(*dt[a], axis=2) for a in range(4)]
    return (_winograd_untile(*rows, axis=1),)


_winograd_input_tiles.defvjp(_winograd_input_tiles_fwd, _winograd_input_tiles_bwd)


@jax.custom_vjp
def _winograd_output_tiles(m: jax.Array) -> jax.Array:
    """A^T m A for every tile ([16 tile positions, n, th, tw, out]): the 2x2 output
    pixels of each tile, [n, 2 th, 2 tw, out]."""
    _, n, th, tw, out = m.shape
    m = m.reshape((4, 4) + m.shape[1:])
    rows = _winograd_output(m[0], m[1], m[2], m[3])  # 2 x [4, n, th, tw, out]
    y = jnp.stack([jnp.stack(_winograd_output(r[0], r[1], r[2], r[3]), axis=3) for r in rows],
                  axis=2)  # [n, th, 2, tw, 2, out]
    return y.reshape(n, 2 * th, 2 * tw, out)


def _winograd_output_transpose(o0, o1):
    """The transpose of `_winograd_output`: A applied to the gradients of 2 outputs."""
    return o0, o0 + o1, o0 - o1, -o1


def _winograd_output_tiles_fwd(m):
    return _winograd_output_tiles(m), None


def _winograd_output_tiles_bwd(_, dy):
    """A dy A^T for every tile: the 16 positions stacked, each a sum of at most 4 of the
    tile's output gradients. (Autodiff took the slices of m back through 16 pads to [16,
    ...] each, summed: ~12 ms per residual conv at 128^2 on one CPU core.)"""
    n, h2, w2, out = dy.shape
    d = dy.reshape(n, h2 // 2, 2, w2 // 2, 2, out)
    by_row = _winograd_output_transpose(d[:, :, 0], d[:, :, 1])  # 4 x [n, th, tw, 2, out]
    dm = jnp.stack([jnp.stack(_winograd_output_transpose(r[:, :, :, 0], r[:, :, :, 1]))
                    for r in by_row])  # 4 x 4, as the input tiles
    return (dm.reshape((16,) + dm.shape[2:]),)


_winograd_output_tiles.defvjp(_winograd_output_tiles_fwd, _winograd_output_tiles_bwd)


def winograd_conv3x3(x: jax.Array, kernel: jax.Array, padding: Padding,
                     pad_mode: str = "zero") -> jax.Array:
    """Stride-1 3x3 `conv2d` by Winograd's F(2x2, 3x3): same values up to float rounding.

    Each 2x2 block of output pixels reads a 4x4 tile of the padded input d and is
    A^T [(G g G^T) * (B^T d B)] A: the tiles transformed by additions, then, for each
    of the 16 tile positions, the tiles times that position's transformed kernel (one
    batched matrix product [16, tiles, in] x [16, in, out]), then additions back to
    2x2 outputs. 16 multiply-adds per 4 outputs and channel pair instead of 36.
    """
    n, h, w, c = x.shape
    out = kernel.shape[-1]
    oh, ow = h + sum(padding[0]) - 2, w + sum(padding[1]) - 2
    th, tw = -(-oh // 2), -(-ow // 2)
    x = pad2d(x, padding, pad_mode)
    x = jnp.pad(x, ((0, 0), (0, 2 * th + 2 - x.shape[1]), (0, 2 * tw + 2 - x.shape[2]), (0, 0)))
    tiles = _winograd_input_tiles(x)
    # G g G^T for all 16 positions as one [c * out, 9] x [9, 16] matrix product, and so
    # its gradient. (As 16 slices and a stack, the step took 3.6 % longer on one CPU
    # core; as [16, 9] x [9, c * out], whose gradient XLA:CPU took through transposing
    # copies, 4.3 %.)
    k_all = jnp.einsum("xk,ke->ex", kernel.reshape(9, c * out).T,
                       _WINOGRAD_KERNEL.T.astype(kernel.dtype),
                       precision=jax.lax.Precision.HIGHEST).reshape(16, c, out)
    m = jnp.einsum("etc,eco->eto", tiles.reshape(16, n * th * tw, c), k_all)
    return _winograd_output_tiles(m.reshape(16, n, th, tw, out))[:, :oh, :ow]


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
    (and adding the bias) up to float summation order; `impl` as `_form`."""
    if pad_mode not in PAD_MODES:
        raise ValueError(f"pad_mode must be one of {PAD_MODES}, got {pad_mode!r}")
    form = _form(impl)
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
            and x.dtype == jnp.float32 and n * -(-oh // 2) * -(-ow // 2) >= _WINOGRAD_MIN_TILES):
        return winograd_conv3x3(x, kernel, padding, pad_mode)
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
    # select[d, a, i] = 1 where output phase a reads window offset d through torch tap i.
    select = np.zeros((2, 2, 3), np.float32)
    select[0, 0, 1] = select[0, 1, 2] = select[1, 1, 0] = 1.0
    # One contraction, so that the kernel's gradient is one small contraction too (not
    # a sum of padded slices that XLA would fuse into, and repeat in, the optimizer).
    sub_kernel = jnp.einsum("dai,ebj,ijoc->decabo", select.astype(kernel.dtype),
                            select.astype(kernel.dtype), kernel,
                            precision=jax.lax.Precision.HIGHEST).reshape(2, 2, c, 4 * out)
    if _form(impl) == "matmul" and n * h * w * 4 * c <= _MAX_PATCH_ELEMENTS:
        y = _sub_pixel_matmuls(x, sub_kernel.reshape(2, 2, c, 2, 2, out))
        return y if bias is None else y + bias
    y = conv2d(x, sub_kernel, (1, 1), ((0, 1), (0, 1)), impl,  # [n, h, w, (a, b, out)]
               bias=None if bias is None else jnp.tile(bias, 4))
    y = y.reshape(n, h, w, 2, 2, out).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, 2 * h, 2 * w, out)


# The 2x2 window offsets (d, e) in the order `_sub_pixel_matmuls` stacks them, and the
# contiguous run of them each output phase (a, b) reads: (0, 0) one, (0, 1) and (1, 0)
# two, (1, 1) all four.
_SUB_PIXEL_OFFSETS = ((1, 0), (0, 0), (0, 1), (1, 1))
_SUB_PIXEL_READS = {(0, 0): slice(1, 2), (0, 1): slice(1, 3), (1, 0): slice(0, 2),
                    (1, 1): slice(0, 4)}


def _sub_pixel_matmuls(x: jax.Array, sub_kernel: jax.Array) -> jax.Array:
    """The sub-pixel conv of `upsample2x` as one matrix product per output phase.

    `sub_kernel` is [d, e, in, a, b, out]. Phase (a, b) reads only the window offsets
    where the transposed conv has a tap, so the products do the transposed conv's 9
    multiply-adds per input pixel and channel pair, not the 2x2 conv's 16 (its other
    blocks are zeros).
    """
    n, h, w, c = x.shape
    xp = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
    windows = jnp.stack([xp[:, d:d + h, e:e + w] for d, e in _SUB_PIXEL_OFFSETS], axis=3)
    windows = windows.reshape(n * h * w, 4, c)
    phases = {}
    for (a, b), reads in _SUB_PIXEL_READS.items():
        k = jnp.stack([sub_kernel[d, e, :, a, b] for d, e in _SUB_PIXEL_OFFSETS[reads]])
        phases[a, b] = (windows[:, reads].reshape(n * h * w, -1)
                        @ k.reshape(-1, k.shape[-1])).reshape(n, h, w, -1)
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
