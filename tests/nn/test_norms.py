"""Instance norm as torch's, its one-pass statistics and the fused norm+ReLU gradient."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cyclegan_jax.nn import norms



def test_instance_norm_matches_numpy_biased_variance():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 5, 3)).astype(np.float32) * 3 + 1
    y = norms.InstanceNorm().apply({}, x)
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)  # biased, as torch
    np.testing.assert_allclose(np.asarray(y), (x - mean) / np.sqrt(var + 1e-5), atol=1e-5)


@pytest.mark.parametrize("offset", [0.0, 5000.0])
def test_one_pass_moments_and_gradients_match_two_pass(offset):
    # bfloat16 activations take one pass; shifted by a pixel, the float32 sums stay exact
    # enough even with a mean 125x the spread (unshifted, the variance is off by ~1e-3).
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((2, 64, 64, 3)) * 40 + offset).astype(np.float32)
    mean, var = norms.moments(jnp.asarray(x), one_pass=True)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(np.asarray(mean), x64.mean((1, 2), keepdims=True), rtol=1e-6,
                               atol=1e-4)
    np.testing.assert_allclose(np.asarray(var), x64.var((1, 2), keepdims=True), rtol=1e-5)
    w = jnp.asarray(rng.standard_normal(x.shape).astype(np.float32))

    def loss(x, one_pass):
        m, v = norms.moments(x, one_pass)
        return jnp.sum(w * (x - m) * jax.lax.rsqrt(v + 1e-5))

    ours, ref = (jax.grad(loss)(jnp.asarray(x), p) for p in (True, False))
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=1e-3, atol=1e-5)
    assert np.abs(np.asarray(ref)).max() > 1e-2  # a gradient that is not ~0


def test_bfloat16_instance_norm_matches_float32():
    x = np.random.default_rng(3).standard_normal((2, 16, 16, 4)).astype(np.float32) * 2 + 3
    y16 = norms.InstanceNorm(dtype=jnp.bfloat16).apply({}, jnp.asarray(x, jnp.bfloat16))
    y32 = norms.InstanceNorm().apply({}, jnp.asarray(jnp.asarray(x, jnp.bfloat16), jnp.float32))
    assert y16.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(y16, np.float32), np.asarray(y32), atol=2e-2)


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_instance_norm_relu_equals_norm_then_relu_with_the_same_gradient(dtype):
    # The fused form's own gradient (the ReLU mask taken from x > mean in both passes)
    # against autodiff of the norm and ReLU modules, in float32 arithmetic.
    rng = np.random.default_rng(6)
    x = jnp.asarray((rng.standard_normal((2, 8, 6, 5)) * 2 + 1).astype(np.float32), dtype)
    w = jnp.asarray(rng.standard_normal((2, 8, 6, 5)).astype(np.float32))
    plain = lambda x: nn.relu(norms.InstanceNorm(dtype=x.dtype).apply({}, x))  # noqa: E731
    np.testing.assert_array_equal(np.asarray(norms.instance_norm_relu(x), np.float32),
                                  np.asarray(plain(x), np.float32))
    grad = lambda f, x: jax.grad(lambda x: jnp.sum(f(x).astype(jnp.float32) * w))(x)  # noqa: E731
    ours = np.asarray(grad(norms.instance_norm_relu, x), np.float32)
    ref = np.asarray(grad(plain, x.astype(jnp.float32)))
    tol = 1e-6 if dtype == jnp.float32 else 2e-2  # bfloat16: the gradient's own rounding
    np.testing.assert_allclose(ours, ref, atol=tol * np.abs(ref).max())
    no_relu = np.asarray(grad(lambda x: norms.InstanceNorm().apply({}, x), x.astype(jnp.float32)))
    assert np.abs(ours - no_relu).max() > 0.1 * np.abs(ref).max()  # the mask is applied

