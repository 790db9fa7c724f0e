"""The transposed conv as sub-pixel convs against torch's definition; the CPU form's taps."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cyclegan_jax.nn.layers import UpsampleConv
from cyclegan_jax.ops import conv



def _torch_conv_transpose(x, w, stride=2, padding=1, output_padding=1):
    """Direct definition of torch.nn.ConvTranspose2d: scatter-add of input pixels.

    x: [N, H, W, Cin]; w: torch layout [Cin, Cout, kh, kw].
    """
    n, h, wd, _ = x.shape
    _, cout, kh, kw = w.shape
    full = np.zeros((n, (h - 1) * stride + kh, (wd - 1) * stride + kw, cout), np.float64)
    for i in range(h):
        for j in range(wd):
            full[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :] += np.einsum(
                "nc,cokl->nklo", x[:, i, j, :], w)
    out_h = (h - 1) * stride - 2 * padding + kh + output_padding
    out_w = (wd - 1) * stride - 2 * padding + kw + output_padding
    return full[:, padding:padding + out_h, padding:padding + out_w, :]


@pytest.mark.parametrize("impl", ["matmul", "xla"])  # the CPU and the accelerator forms
def test_transposed_conv_matches_pytorch_and_same_padding_does_not(impl):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 7, 4)).astype(np.float32)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)  # torch [in, out, kh, kw]
    ref = _torch_conv_transpose(x, w)
    assert ref.shape == (2, 10, 14, 3)
    params = {"params": {"kernel": w.transpose(2, 3, 1, 0), "bias": np.zeros(3, np.float32)}}
    ours = UpsampleConv(3, impl=impl)  # the layer ResnetGenerator upsamples with
    np.testing.assert_allclose(np.asarray(ours.apply(params, x)), ref, atol=1e-5)
    same = nn.ConvTranspose(3, (3, 3), strides=(2, 2), padding="SAME", transpose_kernel=True)
    out_same = np.asarray(same.apply(params, x))
    assert out_same.shape == ref.shape  # the trap: right shape ...
    assert np.abs(out_same - ref).max() > 0.1  # ... wrong values


def test_cpu_upsample_multiplies_only_where_the_transposed_conv_has_taps():
    # The sub-pixel 2x2 conv's kernel is 7/16 zeros; on CPU each output phase reads only
    # the window offsets it has taps for: 9 multiply-adds per input pixel and channel
    # pair, as the transposed conv, instead of 16.
    n, h, w, c, out = 2, 5, 7, 4, 3
    x, k = jnp.zeros((n, h, w, c)), jnp.zeros((3, 3, out, c))
    jaxpr = jax.make_jaxpr(lambda x, k: conv.upsample2x(x, k, "matmul"))(x, k)
    macs = sum(np.prod(e.outvars[0].aval.shape) * e.invars[0].aval.shape[-1]
               for e in jaxpr.jaxpr.eqns if e.primitive.name == "dot_general"
               and e.invars[0].aval.shape[0] == n * h * w)
    assert macs == 9 * n * h * w * c * out


def test_cpu_upsample_gradients_equal_the_sub_pixel_convs():
    # The CPU form builds each phase's kernel by permuting the torch taps, with its own
    # gradient (the inverse permutation).
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.standard_normal((2, 5, 7, 4)).astype(np.float32))
    k = jnp.asarray(rng.standard_normal((3, 3, 6, 4)).astype(np.float32))
    grads = {impl: jax.grad(lambda x, k, impl=impl: jnp.sum(conv.upsample2x(x, k, impl) ** 3),
                            argnums=(0, 1))(x, k) for impl in ("matmul", "xla")}
    for a, b in zip(grads["matmul"], grads["xla"]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5 * float(jnp.abs(b).max()))

