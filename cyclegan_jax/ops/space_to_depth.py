"""Convolutions from and to few channels as convolutions over blocks of pixels (space-to-depth).

cuDNN runs a 7x7 conv from or to 3 channels far below its peak. Cut into `block` x
`block` blocks stacked along the channels, the same conv becomes a conv over
block^2 * c channels with a rearranged kernel (zeros where a block offset misses it),
whose output blocks are spread back to pixels. Same parameters, same values up to float
summation order.
"""

from __future__ import annotations

from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cyclegan_jax.ops.padding import Padding, pad2d
from cyclegan_jax.ops.xla_conv import conv_valid

# At most this many input or output channels make a conv worth this form.
FEW_CHANNELS = 4


def block_size(kernel_shape: Sequence[int], strides: tuple[int, int]) -> int:
    """The block size of the space-to-depth form for this conv; 0: not worth it."""
    kh, kw, c, out = kernel_shape
    if min(c, out) > FEW_CHANNELS or strides[0] != strides[1] or min(kh, kw) < 4:
        return 0
    # 4 was the fastest block, or within 7 % of it, for every such conv on an H100.
    return 4 if 4 % strides[0] == 0 else strides[0]


def _block_taps(k: int, stride: int, block: int) -> np.ndarray:
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
    """NHWC conv with an HWIO kernel as a conv over `block` x `block` blocks of the padded
    input; `block` must be a multiple of both strides.

    Output pixel y = (block/s) Y + q reads padded rows s y + i = block (Y + t) + p, so the
    block kernel's tap t maps input phase p to output phase q through kernel row
    i = block t + p - s q: a stride-1 conv from block^2 c to (block/s)^2 out channels.
    `bias` ([out]) is added to each output block's channels before the blocks are spread
    back, where XLA hands it to cuDNN as a vector rather than an output-sized broadcast.
    """
    n, h, w, c = x.shape
    kh, kw, _, out = kernel.shape
    (sh, sw), b = strides, block
    if b % sh or b % sw:
        raise ValueError(f"space-to-depth block {b} must be a multiple of the strides {strides}")
    oh = (h + sum(padding[0]) - kh) // sh + 1
    ow = (w + sum(padding[1]) - kw) // sw + 1
    taps_h, taps_w = _block_taps(kh, sh, b), _block_taps(kw, sw, b)
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
    y = conv_valid(x.reshape(n, hb // b, wb // b, b * b * c), block_kernel, (1, 1))
    if bias is not None:  # block channels are (output phase row, phase col, channel)
        y = y + jnp.tile(bias, qh * qw)
    y = y.reshape(n, oh_blocks, ow_blocks, qh, qw, out).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, oh_blocks * qh, ow_blocks * qw, out)[:, :oh, :ow]
