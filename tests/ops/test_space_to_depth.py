"""Space-to-depth convs against XLA's convolution, values and gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cyclegan_jax.ops import conv
from cyclegan_jax.ops.space_to_depth import s2d_conv



@pytest.mark.parametrize("shape,kernel,strides,padding,pad_mode,block", [
    ((2, 14, 10, 3), (7, 7, 3, 8), (1, 1), ((3, 3), (3, 3)), "reflect", 4),  # conv_in
    ((1, 12, 10, 6), (7, 7, 6, 3), (1, 1), ((3, 3), (3, 3)), "reflect", 2),  # conv_out
    ((1, 12, 10, 6), (7, 7, 6, 3), (1, 1), ((3, 3), (3, 3)), "reflect", 8),  # blocks past the edge
    ((2, 10, 14, 3), (4, 4, 3, 8), (2, 2), ((1, 1), (1, 1)), "zero", 4),  # PatchGAN conv_0
    ((1, 13, 11, 5), (3, 3, 5, 2), (1, 2), ((1, 0), (2, 1)), "zero", 2),  # uneven: crops, pads
])
def test_space_to_depth_conv_equals_xla_convolution(shape, kernel, strides, padding, pad_mode, block):
    rng = np.random.default_rng(1)
    x = jnp.asarray(rng.standard_normal(shape).astype(np.float32))
    k = jnp.asarray(rng.standard_normal(kernel).astype(np.float32))
    b = jnp.asarray(rng.standard_normal(kernel[-1]).astype(np.float32))
    forms = {"xla": lambda x, k, b: conv.conv2d(x, k, strides, padding, "xla", pad_mode) + b,
             "s2d": lambda x, k, b: s2d_conv(x, k, strides, padding, pad_mode, block, b)}
    out = {n: f(x, k, b) for n, f in forms.items()}
    np.testing.assert_allclose(np.asarray(out["s2d"]), np.asarray(out["xla"]), rtol=1e-5, atol=1e-4)
    grads = {n: jax.grad(lambda x, k, b, f=f: jnp.sum(f(x, k, b) ** 3), argnums=(0, 1, 2))(x, k, b)
             for n, f in forms.items()}
    for a, b in zip(grads["s2d"], grads["xla"]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5 * float(jnp.abs(b).max()))
    with pytest.raises(ValueError, match="multiple of the strides"):
        s2d_conv(x, k, (3, 3), padding, pad_mode, block)

