"""Winograd F(2x2, 3x3) and F(4x4, 3x3) against XLA's convolution, values and gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cyclegan_jax.ops import conv
from cyclegan_jax.ops.winograd import winograd_conv3x3



@pytest.mark.parametrize("m", [2, 4])
@pytest.mark.parametrize("shape,padding,pad_mode", [
    ((2, 9, 11, 5), ((1, 1), (1, 1)), "reflect"),  # residual block conv, odd sizes: cropped tiles
    ((1, 8, 8, 4), ((1, 1), (1, 1)), "zero"),
    ((1, 7, 10, 3), ((0, 1), (2, 0)), "zero"),  # uneven padding
])
def test_winograd_conv_equals_xla_convolution(shape, padding, pad_mode, m):
    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.standard_normal(shape).astype(np.float32))
    k = jnp.asarray(rng.standard_normal((3, 3, shape[-1], 6)).astype(np.float32))
    forms = {"xla": lambda x, k: conv.conv2d(x, k, (1, 1), padding, "xla", pad_mode),
             "winograd": lambda x, k: winograd_conv3x3(x, k, padding, pad_mode, m)}
    out = {n: f(x, k) for n, f in forms.items()}
    # F(4x4, 3x3) rounds a few times more than F(2x2, 3x3) (measured: 1e-5 of the largest
    # output at 256 channels, against 8e-7).
    tol = 1e-5 if m == 2 else 1e-4
    np.testing.assert_allclose(np.asarray(out["winograd"]), np.asarray(out["xla"]),
                               rtol=tol, atol=10 * tol)
    grads = {n: jax.grad(lambda x, k, f=f: jnp.sum(f(x, k) ** 3), argnums=(0, 1))(x, k)
             for n, f in forms.items()}
    for a, b in zip(grads["winograd"], grads["xla"]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=tol * float(jnp.abs(b).max()))

