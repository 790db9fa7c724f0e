"""A network run on several batches in one call: the same values from fewer, larger calls.

Every layer of these networks is per sample, so one call on batches stacked together
gives each batch's result up to float rounding (matrix products may sum in another
order), and its matrix products, k times as tall, run closer to the machine's peak.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp

from cyclegan_jax.nn.layers import ConvLayers

# With the CPU's matrix-product conv forms, at most this many pixels (images x H x W) per
# generator call: joining more made the CPU step slower at 128^2 (docs/performance.md).
CPU_PIXELS_PER_CALL = 2 * 128 * 128


def together(net: Callable[[jax.Array], jax.Array], *xs: jax.Array) -> tuple[jax.Array, ...]:
    """(net(x) for x in xs) from one call of `net` on the xs interleaved (x_0, y_0, ...,
    x_1, y_1, ...: each device's samples stay on it)."""
    out = net(jnp.stack(xs, axis=1).reshape((-1,) + xs[0].shape[1:]))
    out = out.reshape((xs[0].shape[0], len(xs)) + out.shape[1:])
    return tuple(out[:, i] for i in range(len(xs)))


def images_per_call(shape: tuple[int, ...], conv: ConvLayers) -> int:
    """How many [N, H, W, C] batches of this shape a generator call takes: all of them (3)
    with XLA's convs, else as many as `CPU_PIXELS_PER_CALL` allows (at least 1). Decided by
    the conv form, not JAX's backend, so that a step compiled for a GPU on a CPU machine
    (`benchmarks/gpu_hlo.py`) is the GPU's step."""
    if conv.form != "matmul":
        return 3
    return max(1, CPU_PIXELS_PER_CALL // (shape[0] * shape[1] * shape[2]))


def joined(net: Callable[[jax.Array], jax.Array], per_call: int) -> Callable[..., tuple]:
    """`net` for several batches: `run(*xs)` returns (net(x) for x in xs), computed
    `together` in calls of at most `per_call` batches each, in order; None in, None out."""
    def run(*xs: jax.Array | None) -> tuple:
        given = [x for x in xs if x is not None]
        outs = []
        for i in range(0, len(given), per_call):
            outs += together(net, *given[i:i + per_call])
        done = iter(outs)
        return tuple(None if x is None else next(done) for x in xs)

    return run
