"""The generator's stride-2 transposed convolution as sub-pixel convolutions.

`torch.nn.ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1)` gives, along one
axis, out[2m] = x[m] w[1] and out[2m+1] = x[m] w[2] + x[m+1] w[0] (x past the end is 0):
a stride-1 conv per output phase. As one stride-1 2x2 conv with four times the output
channels followed by depth-to-space it is exact on every backend (`sub_pixel_conv`); on
CPU one matrix product per output phase, over only the window offsets that phase has
taps for, does the transposed conv's 9 multiply-adds per input pixel and channel pair
instead of the 2x2 conv's 16 (`phase_matmuls`). Flax's `nn.ConvTranspose(padding="SAME")`
has the right output shape but shifted values: PyTorch's padding is (1, 2) on the
dilated input (official `models/networks.py`, `ResnetGenerator`'s upsampling layers).

Kernels are [3, 3, out, in]: the torch weight `.transpose(2, 3, 1, 0)`, as
`nn.ConvTranspose(transpose_kernel=True)` holds it.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from cyclegan_jax.ops.linear import linear_vjp
from cyclegan_jax.ops.xla_conv import xla_conv

# Along one axis, the torch tap that output phase a multiplies window offset d by
# ((d, a) = (1, 0) has none).
_TORCH_TAP = {(0, 0): 1, (0, 1): 2, (1, 1): 0}
# The 2x2 window offsets (d, e) in the order `phase_matmuls` stacks them, and the
# contiguous run of them each output phase (a, b) reads: (0, 0) one, (0, 1) and (1, 0)
# two, (1, 1) all four.
_OFFSETS = ((1, 0), (0, 0), (0, 1), (1, 1))
_READS = {(0, 0): slice(1, 2), (0, 1): slice(1, 3), (1, 0): slice(0, 2), (1, 1): slice(0, 4)}
# The torch taps (3 i + j) that the phases' reads multiply by, phase after phase: each of
# the nine once.
_PHASE_TAPS = np.array([3 * _TORCH_TAP[d, a] + _TORCH_TAP[e, b]
                        for (a, b), reads in _READS.items() for d, e in _OFFSETS[reads]])


def sub_pixel_conv(x: jax.Array, kernel: jax.Array, bias: jax.Array | None = None) -> jax.Array:
    """The transposed conv (plus `bias`, [out]) as XLA's 2x2 conv to four phases' channels,
    then depth-to-space; the bias is added in the conv's own output layout."""
    n, h, w, c = x.shape
    out = kernel.shape[2]
    # select[d, a, i] = 1 where output phase a reads window offset d through torch tap i.
    select = np.zeros((2, 2, 3), np.float32)
    for (d, a), i in _TORCH_TAP.items():
        select[d, a, i] = 1.0
    # One contraction, so that the kernel's gradient is one small contraction too.
    sub_kernel = jnp.einsum("dai,ebj,ijoc->decabo", select.astype(kernel.dtype),
                            select.astype(kernel.dtype), kernel,
                            precision=jax.lax.Precision.HIGHEST).reshape(2, 2, c, 4 * out)
    y = xla_conv(x, sub_kernel, (1, 1), ((0, 1), (0, 1)), "zero")  # [n, h, w, (a, b, out)]
    if bias is not None:
        y = y + jnp.tile(bias, 4)
    y = y.reshape(n, h, w, 2, 2, out).transpose(0, 1, 3, 2, 4, 5)
    return y.reshape(n, 2 * h, 2 * w, out)


@jax.custom_vjp
def _phase_kernels(kernel: jax.Array) -> tuple[jax.Array, ...]:
    """The [3, 3, out, in] kernel as one [reads * in, out] matrix per output phase (in
    `_READS` order): the torch taps permuted and split by phase, the gradient the inverse
    permutation (built from 0/1 selections instead, they became matrix products of 3 or 4
    columns that XLA:CPU ran very slowly)."""
    taps = kernel.reshape(9, *kernel.shape[2:]).transpose(0, 2, 1)[_PHASE_TAPS]  # [9, in, out]
    starts = np.cumsum([0] + [r.stop - r.start for r in _READS.values()])
    return tuple(taps[a:b].reshape(-1, taps.shape[-1]) for a, b in zip(starts, starts[1:]))


def _phase_kernels_bwd(_, d_phases):
    out = d_phases[0].shape[-1]
    taps = jnp.concatenate(d_phases).reshape(9, -1, out)[np.argsort(_PHASE_TAPS)]
    return (taps.transpose(0, 2, 1).reshape(3, 3, out, -1),)


linear_vjp(_phase_kernels, _phase_kernels_bwd)


def phase_matmuls(x: jax.Array, kernel: jax.Array) -> jax.Array:
    """The transposed conv without bias as one matrix product per output phase (a, b), over
    only the window offsets where that phase has taps."""
    n, h, w, c = x.shape
    xp = jnp.pad(x, ((0, 0), (0, 1), (0, 1), (0, 0)))
    windows = jnp.stack([xp[:, d:d + h, e:e + w] for d, e in _OFFSETS], axis=3)
    windows = windows.reshape(n * h * w, 4, c)
    phases = {}
    for ((a, b), reads), k in zip(_READS.items(), _phase_kernels(kernel)):
        phases[a, b] = (windows[:, reads].reshape(n * h * w, -1) @ k).reshape(n, h, w, -1)
    y = jnp.stack([jnp.stack([phases[a, 0], phases[a, 1]], axis=3) for a in (0, 1)], axis=2)
    return y.reshape(n, 2 * h, 2 * w, y.shape[-1])
