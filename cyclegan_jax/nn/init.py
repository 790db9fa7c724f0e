"""The official weight initialisations (official `models/networks.py`, `init_weights`).

`init_type` is one of `INIT_TYPES`, `init_gain` the official `--init_gain`:
- "normal": N(0, init_gain);
- "xavier": `xavier_normal_(gain=init_gain)`, N(0, init_gain * sqrt(2 / (fan_in + fan_out)));
- "kaiming": `kaiming_normal_(a=0, mode="fan_in")`, N(0, sqrt(2 / fan_in)); init_gain unused;
- "orthogonal": `orthogonal_(gain=init_gain)`: the weight as torch flattens it,
  [size(0), rest], has orthonormal rows (or columns, if it has more rows than columns),
  times init_gain.
Every conv's bias starts at 0 and every batch norm's scale ~ N(1, init_gain), shift 0,
whatever the init_type.

Fans are torch's, read off the torch weight [size(0), size(1), kh, kw]: fan_in =
size(1) kh kw, fan_out = size(0) kh kw. Conv2d's weight is [out, in, kh, kw] and
ConvTranspose2d's [in, out, kh, kw], so torch's fan_in of a transposed conv counts its
*output* channels. Our kernels hold both as [kh, kw, size(1), size(0)] (Conv: [kh, kw,
in, out]; transposed: [kh, kw, out, in], `nn.layers`), so the same rule reads both.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import jax
import jax.numpy as jnp

INIT_TYPES = ("normal", "xavier", "kaiming", "orthogonal")

Initializer = Callable[[jax.Array, tuple[int, ...], Any], jax.Array]


def check_init_type(init_type: str) -> None:
    """Raises ValueError unless `init_type` is one of `INIT_TYPES`."""
    if init_type not in INIT_TYPES:
        raise ValueError(f"init_type must be one of {INIT_TYPES}, got {init_type!r}")


def _flat_normal(key: jax.Array, shape: tuple[int, ...], std: float, dtype: Any) -> jax.Array:
    # One flat draw (the same numbers as a shaped `jax.random.normal`; XLA:CPU compiles a
    # flat one several times faster).
    return (jax.random.normal(key, (math.prod(shape),), dtype) * jnp.asarray(std, dtype)
            ).reshape(shape)


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """torch's (fan_in, fan_out) of a kernel held as [kh, kw, size(1), size(0)]."""
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _orthogonal(key: jax.Array, shape: tuple[int, ...], gain: float, dtype: Any) -> jax.Array:
    # torch's matrix is [size(0), size(1) kh kw]: its rows are our last axis.
    rows, cols = shape[-1], math.prod(shape[:-1])
    a = jax.random.normal(key, (max(rows, cols), min(rows, cols)), jnp.float32)
    q, r = jnp.linalg.qr(a)
    q = q * jnp.sign(jnp.diagonal(r))  # Haar-distributed, as torch's sign correction
    matrix = q.T if rows < cols else q  # [rows, cols]
    return (gain * matrix.T).reshape(shape).astype(dtype)


def kernel_init(init_type: str = "normal", init_gain: float = 0.02) -> Initializer:
    """The initializer of conv kernels (held as [kh, kw, size(1), size(0)], see the module
    docstring) for the official `init_type` and `init_gain`."""
    check_init_type(init_type)

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        if init_type == "normal":
            return _flat_normal(key, shape, init_gain, dtype)
        if init_type == "orthogonal":
            return _orthogonal(key, shape, init_gain, dtype)
        fan_in, fan_out = _fans(shape)
        std = (init_gain * math.sqrt(2.0 / (fan_in + fan_out)) if init_type == "xavier"
               else math.sqrt(2.0 / fan_in))  # kaiming
        return _flat_normal(key, shape, std, dtype)

    return init


def norm_scale_init(init_gain: float = 0.02) -> Initializer:
    """A batch norm's scale: N(1, init_gain)."""

    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        return 1 + _flat_normal(key, shape, init_gain, dtype)

    return init
