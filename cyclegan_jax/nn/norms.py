"""The official norm layers (official `models/networks.py`, `get_norm_layer`), and the
fusion of instance norm with the ReLU after it.

`norm` is one of `NORMS`:
- "instance": `torch.nn.InstanceNorm2d(affine=False, track_running_stats=False)`: per
  sample and channel over H and W, biased variance, eps 1e-5;
- "instance_affine": the same with a learned scale and shift, as forks that use
  `InstanceNorm2d(affine=True)` do;
- "batch": `torch.nn.BatchNorm2d(affine=True, track_running_stats=True)` (`BatchNorm`);
- "none": no norm layer.
Statistics are float32 whatever the activations' dtype. The convs before a norm carry a
bias only for the instance norms (`conv_bias`), as the official networks' `use_bias`.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from cyclegan_jax.nn.canvas import Canvas

NORMS = ("instance", "instance_affine", "batch", "none")
# Activation dtypes whose statistics are taken in one pass (see `moments`).
ONE_PASS_DTYPES = (jnp.bfloat16, jnp.float16)


def check_norm(norm: str) -> None:
    """Raises ValueError unless `norm` is one of `NORMS`."""
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


def conv_bias(norm: str) -> bool:
    """Whether a conv followed by the norm `norm` has a bias: the official `use_bias`, true
    only for instance norms (batch norm has its own shift; "none" is no InstanceNorm2d
    either, so its convs have no bias)."""
    check_norm(norm)
    return norm.startswith("instance")


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


class BatchNorm(nn.Module):
    """`torch.nn.BatchNorm2d(affine=True, track_running_stats=True)`, NHWC.

    With batch statistics (the default, torch's train mode) it normalises by the mean and
    biased variance over N, H and W and, where the "batch_stats" collection is mutable
    (not while initialising), moves the running statistics as torch does:
    running = (1 - momentum) running + momentum stat, with the *unbiased* variance. With
    `use_running_average` (torch's eval mode) it normalises by the running statistics.
    The running statistics start at mean 0, variance 1; the scale is drawn by
    `scale_init` (the official init: N(1, init_gain)), the shift starts at 0.
    """

    momentum: float = 0.1
    epsilon: float = 1e-5
    dtype: Any = jnp.float32  # output dtype
    scale_init: Callable = nn.initializers.ones

    @nn.compact
    def __call__(self, x: jax.Array, use_running_average: bool = False) -> jax.Array:
        features = x.shape[-1]
        scale = self.param("scale", self.scale_init, (features,), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (features,), jnp.float32)
        xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        # Batch statistics need no running ones: params alone may be applied.
        tracked = (use_running_average or self.is_mutable_collection("batch_stats")
                   or self.has_variable("batch_stats", "mean"))
        if tracked:
            running_mean = self.variable("batch_stats", "mean", jnp.zeros, (features,), jnp.float32)
            running_var = self.variable("batch_stats", "var", jnp.ones, (features,), jnp.float32)
        if use_running_average:
            mean, var = running_mean.value, running_var.value
        else:
            mean = jnp.mean(xf, axis=(0, 1, 2))
            var = jnp.mean(jnp.square(xf - mean), axis=(0, 1, 2))
            if self.is_mutable_collection("batch_stats") and not self.is_initializing():
                n = xf.size // features
                m = self.momentum
                running_mean.value = (1 - m) * running_mean.value + m * mean
                running_var.value = (1 - m) * running_var.value + m * var * (n / max(n - 1, 1))
        y = (xf - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias
        return y.astype(self.dtype)


def norm_layer(norm: str, name: str, dtype: Any, scale_init: Callable = nn.initializers.ones
               ) -> Callable[..., jax.Array]:
    """The norm layer `norm` (one of `NORMS`) named `name` in the calling module, as a
    function `(x, canvas=None, use_running_average=False) -> y`.

    A canvas (images of different sizes in one padded batch) is for instance norms only:
    batch statistics would mix the images' padding in.
    """
    check_norm(norm)
    if norm == "none":
        return lambda x, canvas=None, use_running_average=False: x.astype(dtype)
    if norm == "batch":
        layer = BatchNorm(dtype=dtype, scale_init=scale_init, name=name)

        def batch_norm(x, canvas=None, use_running_average=False):
            if canvas is not None:
                raise ValueError("batch norm cannot run images of different sizes in one "
                                 "padded batch; translate them one size at a time")
            return layer(x, use_running_average)

        return batch_norm
    instance = InstanceNorm(norm == "instance_affine", dtype=dtype, name=name)
    return lambda x, canvas=None, use_running_average=False: instance(x, canvas)


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


def norm_relu(y: jax.Array, norm: str, canvas: Canvas | None, dtype: Any, name: str,
              use_running_average: bool = False,
              scale_init: Callable = nn.initializers.ones) -> jax.Array:
    """ReLU of the `norm_layer` named `name` (in the calling module): the fused
    `instance_norm_relu` where it applies (plain instance norm, whole arrays)."""
    if norm == "instance" and canvas is None:
        return instance_norm_relu(y)
    return nn.relu(norm_layer(norm, name, dtype, scale_init)(y, canvas, use_running_average))
