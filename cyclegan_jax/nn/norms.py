"""Instance norm as the official code uses it, and its fusion with the ReLU after it.

`torch.nn.InstanceNorm2d(affine=False, track_running_stats=False)`: per sample and
channel over H and W, biased variance, eps 1e-5 (official `models/networks.py`,
`get_norm_layer('instance')`); `norm="instance_affine"` adds a learned scale and shift,
as forks that use `InstanceNorm2d(affine=True)` do. Statistics are float32 whatever the
activations' dtype.
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cyclegan_jax.nn.canvas import Canvas

NORMS = ("instance", "instance_affine")
# Activation dtypes whose statistics are taken in one pass (see `moments`).
ONE_PASS_DTYPES = (jnp.bfloat16, jnp.float16)


def affine_norm(norm: str) -> bool:
    """Whether the norm option `norm` (one of `NORMS`) learns a scale and shift."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
    return norm == "instance_affine"


def moments(xf: jax.Array, one_pass: bool) -> tuple[jax.Array, jax.Array]:
    """Per sample and channel mean and biased variance of float `xf` (NHWC) over H and W.

    Two passes (the mean, then the mean squared deviation) as PyTorch; or, for low-precision
    activations, one pass that reads the activation once: the sums of d and d^2 for
    d = x minus its sample's first pixel (a shift that keeps the float32 sums well
    conditioned; the statistics do not depend on it, so it takes no gradient).
    """
    if not one_pass:
        mean = jnp.mean(xf, axis=(1, 2), keepdims=True)
        return mean, jnp.mean(jnp.square(xf - mean), axis=(1, 2), keepdims=True)
    shift = jax.lax.stop_gradient(xf[:, :1, :1, :])
    d = xf - shift
    m = jnp.mean(d, axis=(1, 2), keepdims=True)
    var = jnp.maximum(jnp.mean(jnp.square(d), axis=(1, 2), keepdims=True) - jnp.square(m), 0.0)
    return m + shift, var


class InstanceNorm(nn.Module):
    """Instance norm (see the module docstring); with a `canvas`, each image's statistics
    are taken over its own region only."""

    affine: bool = False
    epsilon: float = 1e-5
    dtype: Any = jnp.float32  # output dtype

    @nn.compact
    def __call__(self, x: jax.Array, canvas: Canvas | None = None) -> jax.Array:
        xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        if canvas is None:
            mean, var = moments(xf, x.dtype in ONE_PASS_DTYPES)
        else:
            mean, var = canvas.moments(xf)
        y = (xf - mean) * jax.lax.rsqrt(var + self.epsilon)
        if self.affine:
            features = x.shape[-1]
            y = y * self.param("scale", nn.initializers.ones, (features,), jnp.float32)
            y = y + self.param("bias", nn.initializers.zeros, (features,), jnp.float32)
        return y.astype(self.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def instance_norm_relu(x: jax.Array, epsilon: float = 1e-5) -> jax.Array:
    """`relu(InstanceNorm()(x))` for whole arrays, in x's dtype.

    Same values; its gradient takes the ReLU's mask from x > mean, as a float factor, in
    each of the norm gradient's two passes, where autodiff would write the masked
    gradient (or a boolean mask) to memory and read it twice: a memory-bound part of the
    accelerator step.
    """
    return _norm_relu_fwd(x, epsilon)[0]


def _norm_relu_fwd(x: jax.Array, epsilon: float) -> tuple[jax.Array, tuple]:
    xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    mean, var = moments(xf, x.dtype in ONE_PASS_DTYPES)
    r = jax.lax.rsqrt(var + epsilon)
    return nn.relu(((xf - mean) * r).astype(x.dtype)), (x, mean, r)


def _norm_relu_bwd(epsilon: float, res: tuple, g: jax.Array) -> tuple[jax.Array]:
    del epsilon  # in r already
    x, mean, r = res
    xf = x.astype(mean.dtype)
    xhat = (xf - mean) * r
    gm = g.astype(mean.dtype) * jnp.maximum(jnp.sign(xf - mean), 0.0)
    a = jnp.mean(gm, axis=(1, 2), keepdims=True)
    b = jnp.mean(gm * xhat, axis=(1, 2), keepdims=True)
    return ((r * (gm - a - xhat * b)).astype(x.dtype),)


instance_norm_relu.defvjp(_norm_relu_fwd, _norm_relu_bwd)


def norm_relu(y: jax.Array, affine: bool, canvas: Canvas | None, dtype: Any,
              name: str) -> jax.Array:
    """ReLU of the `InstanceNorm` named `name` (in the calling module): the fused
    `instance_norm_relu` where it applies (no affine, whole arrays)."""
    if affine or canvas is not None:
        return nn.relu(InstanceNorm(affine, dtype=dtype, name=name)(y, canvas))
    return instance_norm_relu(y)
