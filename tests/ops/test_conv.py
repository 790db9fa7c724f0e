"""The conv door: every form gives XLA's convolution, and picks its algorithm by shape."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cyclegan_jax.ops import conv
from cyclegan_jax.ops.winograd import winograd_conv3x3



@pytest.mark.parametrize("shape,kernel,strides,padding,pad_mode", [
    ((2, 9, 11, 5), (3, 3, 5, 7), (1, 1), ((1, 1), (1, 1)), "zero"),  # im2col
    ((2, 9, 11, 5), (3, 3, 5, 7), (1, 1), ((1, 1), (1, 1)), "reflect"),  # residual block conv
    ((1, 12, 10, 6), (7, 7, 6, 3), (1, 1), ((3, 3), (3, 3)), "reflect"),  # few outputs: shift-add
    ((2, 10, 12, 3), (4, 4, 3, 8), (2, 2), ((1, 1), (1, 1)), "zero"),  # strided im2col
    ((1, 6, 7, 4), (2, 2, 4, 16), (1, 1), ((0, 1), (0, 1)), "zero"),  # the sub-pixel conv
    ((1, 9, 9, 16), (4, 4, 16, 1), (1, 1), ((1, 1), (1, 1)), "zero"),  # the PatchGAN's last conv
])
def test_cpu_matmul_convolutions_equal_xla_convolution(shape, kernel, strides, padding, pad_mode):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal(shape).astype(np.float32))
    k = jnp.asarray(rng.standard_normal(kernel).astype(np.float32))
    widths = ((0, 0),) + padding + ((0, 0),)
    padded = jnp.pad(x, widths, mode="reflect" if pad_mode == "reflect" else "constant")
    expected = jax.lax.conv_general_dilated(padded, k, strides, "VALID",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))
    grads = lambda impl: jax.grad(  # noqa: E731
        lambda x, k: jnp.sum(conv.conv2d(x, k, strides, padding, impl, pad_mode) ** 3),
        argnums=(0, 1))(x, k)
    for impl in ("xla", "matmul", "s2d"):
        np.testing.assert_allclose(np.asarray(conv.conv2d(x, k, strides, padding, impl, pad_mode)),
                                   expected, rtol=1e-5, atol=1e-4)
    for impl in ("matmul", "s2d"):  # within float32 rounding of the largest element
        for a, b in zip(grads(impl), grads("xla")):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5 * float(jnp.abs(b).max()))


def test_cpu_matmul_form_picks_the_winograd_tile_by_tile_count():
    rng = np.random.default_rng(3)
    pad = ((1, 1), (1, 1))
    # 4x4 tiles where there are at least 128 of them, else 2x2 tiles where there are that
    # many, else im2col; and only for at least 128 channels.
    for n, size, channels, m in ((1, 22, 128, 0), (1, 24, 128, 2), (1, 24, 64, 0),
                                 (2, 32, 128, 4), (1, 32, 128, 2)):
        k = jnp.asarray(rng.standard_normal((3, 3, channels, channels)).astype(np.float32))
        x = jnp.asarray(rng.standard_normal((n, size, size, channels)).astype(np.float32))
        y = conv.conv2d(x, k, (1, 1), pad, "matmul", "reflect")
        for tile in (2, 4):
            assert np.array_equal(y, winograd_conv3x3(x, k, pad, "reflect", tile)) == (m == tile)
        ref = np.asarray(conv.conv2d(x, k, (1, 1), pad, "xla", "reflect"))
        np.testing.assert_allclose(np.asarray(y), ref, rtol=0, atol=1e-4 * np.abs(ref).max())


def test_bias_is_added_in_the_convs_own_output_layout():
    # Added after the space-to-depth or sub-pixel form's transpose, the bias became a
    # broadcast as large as the output that cuDNN read as a side input (H100 profile);
    # added to the conv's output, it is a per-channel vector. Same values either way.
    rng = np.random.default_rng(4)
    x = jnp.asarray(rng.standard_normal((2, 16, 12, 3)).astype(np.float32))
    k = jnp.asarray(rng.standard_normal((7, 7, 3, 8)).astype(np.float32))
    b = jnp.asarray(rng.standard_normal(8).astype(np.float32))
    pad = ((3, 3), (3, 3))
    for impl in ("s2d", "matmul", "xla"):
        np.testing.assert_array_equal(
            np.asarray(conv.conv2d(x, k, (1, 1), pad, impl, "reflect", b)),
            np.asarray(conv.conv2d(x, k, (1, 1), pad, impl, "reflect") + b))
    jaxpr = jax.make_jaxpr(lambda x, k, b: conv.conv2d(x, k, (1, 1), pad, "s2d", "reflect", b))(x, k, b)
    adds = [e.outvars[0].aval.shape for e in jaxpr.jaxpr.eqns if e.primitive.name == "add"]
    assert adds == [(2, 4, 3, 16 * 8)], adds  # [n, blocks, blocks, 4x4 phases x channels]

    up_x = jnp.asarray(rng.standard_normal((2, 5, 6, 4)).astype(np.float32))
    up_k = jnp.asarray(rng.standard_normal((3, 3, 3, 4)).astype(np.float32))
    up_b = jnp.asarray(rng.standard_normal(3).astype(np.float32))
    for impl in ("xla", "matmul"):
        np.testing.assert_array_equal(np.asarray(conv.upsample2x(up_x, up_k, impl, up_b)),
                                      np.asarray(conv.upsample2x(up_x, up_k, impl) + up_b))
    jaxpr = jax.make_jaxpr(lambda x, k, b: conv.upsample2x(x, k, "xla", b))(up_x, up_k, up_b)
    adds = [e.outvars[0].aval.shape for e in jaxpr.jaxpr.eqns if e.primitive.name == "add"]
    assert adds == [(2, 5, 6, 4 * 3)], adds  # [n, h, w, 2x2 phases x channels]



def test_auto_picks_the_form_of_each_backend(monkeypatch):
    picks = {}
    for backend in ("cpu", "gpu", "cuda", "tpu"):
        monkeypatch.setattr(jax, "default_backend", lambda backend=backend: backend)
        picks[backend] = conv.conv_form("auto")
    assert picks == {"cpu": "matmul", "gpu": "s2d", "cuda": "s2d", "tpu": "xla"}
    assert conv.conv_form("s2d") == "s2d"
    with pytest.raises(ValueError, match="conv_impl must be one of"):
        conv.conv_form("cudnn")
