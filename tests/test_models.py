"""Networks against the official PyTorch outputs and parameter counts."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cyclegan_jax import conv, models, translate
from cyclegan_jax.torch_import import params_from_state_dict
from tests import helpers


def _count(module, size=64, nc=3):
    shapes = jax.eval_shape(module.init, jax.random.key(0), jnp.zeros((1, size, size, nc)))
    return sum(x.size for x in jax.tree.leaves(shapes))


@pytest.mark.parametrize("module,expected", [
    (models.ResnetGenerator(ngf=64, n_blocks=9), 11_378_179),
    (models.ResnetGenerator(ngf=64, n_blocks=6), 7_837_699),
    (models.ResnetGenerator(ngf=32, n_blocks=9), 2_850_563),
    (models.PatchDiscriminator(ndf=64, n_layers=3), 2_764_737),
])
def test_parameter_counts_match_official(module, expected):
    assert _count(module, size=256) == expected


def test_affine_norm_adds_scale_and_shift_only():
    plain = _count(models.ResnetGenerator(ngf=8, n_blocks=6))
    affine = _count(models.ResnetGenerator(ngf=8, n_blocks=6, norm="instance_affine"))
    # One scale and one shift per channel of every norm: 3 in, 12 in blocks, 2 up.
    assert affine - plain == 2 * (8 + 16 + 32 + 12 * 32 + 16 + 8)


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
             "winograd": lambda x, k: conv.winograd_conv3x3(x, k, padding, pad_mode, m)}
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
            assert np.array_equal(y, conv.winograd_conv3x3(x, k, pad, "reflect", tile)) == (m == tile)
        ref = np.asarray(conv.conv2d(x, k, (1, 1), pad, "xla", "reflect"))
        np.testing.assert_allclose(np.asarray(y), ref, rtol=0, atol=1e-4 * np.abs(ref).max())


@pytest.mark.parametrize("name", ["generator_ngf8_6blocks.npz", "generator_ngf8_6blocks_affine.npz"])
def test_generator_matches_official_output(name):
    npz = helpers.fixture(name)
    params = params_from_state_dict(helpers.state_dict(npz, "state_dict/"))
    out = translate(params, helpers.nhwc(npz["input_nchw"]))
    np.testing.assert_allclose(np.asarray(out), helpers.nhwc(npz["output_nchw"]), atol=5e-6)


def test_generator_forms_agree_with_the_official_output_and_in_gradients():
    # XLA's convs carry the residual stream's reflect border from block to block; the
    # CPU matmul forms pad inside each conv. Same outputs (the official ones), same grads.
    npz = helpers.fixture("generator_ngf8_6blocks.npz")
    params = params_from_state_dict(helpers.state_dict(npz, "state_dict/"))
    x = jnp.asarray(helpers.nhwc(npz["input_nchw"]))
    w = jnp.asarray(np.random.default_rng(7).standard_normal(x.shape).astype(np.float32))
    grads = {}
    for impl in ("matmul", "xla"):
        net = models.generator_from_params(params).clone(conv_impl=impl)

        def loss(p, net=net):
            out = net.apply({"params": p}, x)
            return jnp.sum(out * w), out
        (_, out), grads[impl] = jax.jit(jax.value_and_grad(loss, has_aux=True))(params)
        np.testing.assert_allclose(np.asarray(out), helpers.nhwc(npz["output_nchw"]), atol=5e-6)

    def same(path, a, b):
        scale = np.abs(np.asarray(b)).max()
        assert scale > 0 or "bias" in jax.tree_util.keystr(path), path
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=0, atol=1e-5 * scale + 1e-12,
                                   err_msg=jax.tree_util.keystr(path))
    jax.tree_util.tree_map_with_path(same, grads["xla"], grads["matmul"])


def test_discriminator_matches_official_output():
    npz = helpers.fixture("discriminator_ndf8.npz")
    params = params_from_state_dict(helpers.state_dict(npz, "state_dict/"))
    out = models.PatchDiscriminator(ndf=8).apply({"params": params}, helpers.nhwc(npz["input_nchw"]))
    assert out.shape == (2, 6, 8, 1)
    np.testing.assert_allclose(np.asarray(out), helpers.nhwc(npz["output_nchw"]), atol=5e-6)


@pytest.mark.parametrize("size,patches", [(256, 30), (128, 14), (64, 6)])
def test_discriminator_patch_map_size(size, patches):
    net = models.PatchDiscriminator(ndf=8)
    x = jnp.zeros((1, size, size, 3))
    params = jax.eval_shape(net.init, jax.random.key(0), x)
    assert jax.eval_shape(net.apply, params, x).shape == (1, patches, patches, 1)


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
    ours = conv.UpsampleConv(3, impl=impl)  # the layer ResnetGenerator upsamples with
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


def test_reflect_pad_matches_reflection_pad2d():
    x = np.arange(2 * 4 * 5 * 1, dtype=np.float32).reshape(2, 4, 5, 1)
    out = np.asarray(conv.pad2d(jnp.asarray(x), ((2, 2), (2, 2)), "reflect"))
    whole = jnp.asarray([[4, 5], [4, 5]])  # a canvas holding just the image: the same padding
    np.testing.assert_array_equal(np.asarray(models.reflect_pad(jnp.asarray(x), 2, whole)), out)
    # ReflectionPad2d does not repeat the edge: row -1 is row 1.
    np.testing.assert_array_equal(out[:, 1, 2:-2, 0], x[:, 1, :, 0])
    np.testing.assert_array_equal(out[:, 0, 2:-2, 0], x[:, 2, :, 0])
    np.testing.assert_array_equal(out[:, 2:-2, 0, 0], x[:, :, 2, 0])


def test_reflect_pad_gradient_folds_borders_back():
    # pad2d gathers; its custom gradient must equal that of jnp.pad's reflect mode.
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((2, 6, 5, 3)).astype(np.float32))
    padding = ((3, 1), (2, 2))
    w = jnp.asarray(rng.standard_normal((2, 10, 9, 3)).astype(np.float32))
    ours = jax.grad(lambda x: jnp.sum(conv.pad2d(x, padding, "reflect") * w))(x)
    ref = jax.grad(lambda x: jnp.sum(jnp.pad(x, ((0, 0),) + padding + ((0, 0),), "reflect") * w))(x)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=1e-6, atol=1e-6)
    assert np.abs(np.asarray(ref)).max() > 1  # not a vacuous comparison of zeros


def test_instance_norm_matches_numpy_biased_variance():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 5, 3)).astype(np.float32) * 3 + 1
    y = models.InstanceNorm().apply({}, x)
    mean = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)  # biased, as torch
    np.testing.assert_allclose(np.asarray(y), (x - mean) / np.sqrt(var + 1e-5), atol=1e-5)


@pytest.mark.parametrize("offset", [0.0, 5000.0])
def test_one_pass_moments_and_gradients_match_two_pass(offset):
    # bfloat16 activations take one pass; shifted by a pixel, the float32 sums stay exact
    # enough even with a mean 125x the spread (unshifted, the variance is off by ~1e-3).
    rng = np.random.default_rng(2)
    x = (rng.standard_normal((2, 64, 64, 3)) * 40 + offset).astype(np.float32)
    mean, var = models.moments(jnp.asarray(x), one_pass=True)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(np.asarray(mean), x64.mean((1, 2), keepdims=True), rtol=1e-6,
                               atol=1e-4)
    np.testing.assert_allclose(np.asarray(var), x64.var((1, 2), keepdims=True), rtol=1e-5)
    w = jnp.asarray(rng.standard_normal(x.shape).astype(np.float32))

    def loss(x, one_pass):
        m, v = models.moments(x, one_pass)
        return jnp.sum(w * (x - m) * jax.lax.rsqrt(v + 1e-5))

    ours, ref = (jax.grad(loss)(jnp.asarray(x), p) for p in (True, False))
    np.testing.assert_allclose(np.asarray(ours), np.asarray(ref), rtol=1e-3, atol=1e-5)
    assert np.abs(np.asarray(ref)).max() > 1e-2  # a gradient that is not ~0


def test_bfloat16_instance_norm_matches_float32():
    x = np.random.default_rng(3).standard_normal((2, 16, 16, 4)).astype(np.float32) * 2 + 3
    y16 = models.InstanceNorm(dtype=jnp.bfloat16).apply({}, jnp.asarray(x, jnp.bfloat16))
    y32 = models.InstanceNorm().apply({}, jnp.asarray(jnp.asarray(x, jnp.bfloat16), jnp.float32))
    assert y16.dtype == jnp.bfloat16
    np.testing.assert_allclose(np.asarray(y16, np.float32), np.asarray(y32), atol=2e-2)


def test_init_is_official_normal_002_with_zero_bias():
    net = models.ResnetGenerator(ngf=64, n_blocks=9)
    params = jax.jit(net.init)(jax.random.key(0), jnp.zeros((1, 16, 16, 3)))["params"]
    kernels = np.concatenate([np.asarray(p).ravel() for path, p in
                              jax.tree_util.tree_leaves_with_path(params)
                              if path[-1].key == "kernel"])
    biases = [np.asarray(p) for path, p in jax.tree_util.tree_leaves_with_path(params)
              if path[-1].key == "bias"]
    assert abs(kernels.mean()) < 1e-4
    assert kernels.std() == pytest.approx(0.02, rel=1e-2)
    assert all(not b.any() for b in biases)


@pytest.mark.parametrize("shape", [(7, 7, 3, 8), (3, 3, 16, 16), (4, 4, 8, 1), (5,)])
def test_flat_conv_init_draws_the_numbers_of_the_shaped_normal_init(shape):
    key = jax.random.key(3)
    expected = nn.initializers.normal(stddev=0.02)(key, shape, jnp.float32)
    assert np.array_equal(np.asarray(models.conv_init(key, shape)), np.asarray(expected))


def test_dropout_only_in_training_mode():
    net = models.ResnetGenerator(ngf=8, n_blocks=2, use_dropout=True)
    x = jax.random.uniform(jax.random.key(0), (1, 16, 16, 3), minval=-1, maxval=1)
    params = net.init(jax.random.key(1), x)
    a = net.apply(params, x)
    assert np.array_equal(np.asarray(a), np.asarray(net.apply(params, x)))
    b = net.apply(params, x, train=True, rngs={"dropout": jax.random.key(2)})
    assert not np.allclose(np.asarray(a), np.asarray(b))


def test_grayscale_generator_channels():
    net = models.ResnetGenerator(ngf=8, n_blocks=2, input_nc=1, output_nc=3)
    x = jnp.zeros((1, 16, 16, 1))
    params = net.init(jax.random.key(0), x)
    assert net.apply(params, x).shape == (1, 16, 16, 3)
    with pytest.raises(ValueError, match="1 input channels"):
        net.apply(params, jnp.zeros((1, 16, 16, 3)))


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
             "s2d": lambda x, k, b: conv.s2d_conv(x, k, strides, padding, pad_mode, block, b)}
    out = {n: f(x, k, b) for n, f in forms.items()}
    np.testing.assert_allclose(np.asarray(out["s2d"]), np.asarray(out["xla"]), rtol=1e-5, atol=1e-4)
    grads = {n: jax.grad(lambda x, k, b, f=f: jnp.sum(f(x, k, b) ** 3), argnums=(0, 1, 2))(x, k, b)
             for n, f in forms.items()}
    for a, b in zip(grads["s2d"], grads["xla"]):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5 * float(jnp.abs(b).max()))
    with pytest.raises(ValueError, match="multiple of the strides"):
        conv.s2d_conv(x, k, (3, 3), padding, pad_mode, block)


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


def test_biases_in_front_of_instance_norms_get_no_gradient():
    # The norm subtracts each channel's mean, so such a bias changes no output and its
    # gradient is zero in exact arithmetic: it is not computed (a reduction over the
    # whole conv output). Every other parameter still gets its gradient.
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32))
    nets = {"G": models.ResnetGenerator(ngf=8, n_blocks=2), "D": models.PatchDiscriminator(ndf=8)}
    for name, net in nets.items():
        params = jax.jit(net.init)(jax.random.key(0), x)["params"]
        # Nonzero biases everywhere, as after loading a trained checkpoint.
        params = jax.tree.map(lambda p: p + 0.1 * jnp.asarray(rng.standard_normal(p.shape),
                                                              jnp.float32), params)
        grads = jax.jit(jax.grad(lambda p: jnp.sum(net.apply({"params": p}, x) ** 2)))(params)
        flat = {"/".join(k.key for k in path): np.asarray(g)
                for path, g in jax.tree_util.tree_leaves_with_path(grads)}
        free = {"G": {"conv_out/bias"}, "D": {"conv_0/bias", "conv_out/bias"}}[name]
        for path, g in flat.items():
            if path.endswith("/bias") and path not in free:
                assert not g.any(), path
            else:
                assert np.abs(g).max() > 1e-4, path

    # What is skipped is float rounding only: the same conv and norm with the bias's
    # gradient computed.
    def conv_norm(p, normed):
        y = conv.Conv(8, (3, 3), padding=((1, 1), (1, 1)), normed=normed).apply({"params": p}, x)
        return jnp.sum(jnp.tanh(models.InstanceNorm().apply({}, y)) * x[..., :1])
    p = conv.Conv(8, (3, 3), padding=((1, 1), (1, 1))).init(jax.random.key(1), x)["params"]
    grad = jax.jit(jax.grad(conv_norm), static_argnums=1)
    computed, skipped = grad(p, False), grad(p, True)
    assert np.abs(np.asarray(computed["bias"])).max() < 1e-5 * np.abs(np.asarray(computed["kernel"])).max()
    assert not np.asarray(skipped["bias"]).any()
    np.testing.assert_array_equal(np.asarray(computed["kernel"]), np.asarray(skipped["kernel"]))


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_instance_norm_relu_equals_norm_then_relu_with_the_same_gradient(dtype):
    # The fused form's own gradient (the ReLU mask taken from x > mean in both passes)
    # against autodiff of the norm and ReLU modules, in float32 arithmetic.
    rng = np.random.default_rng(6)
    x = jnp.asarray((rng.standard_normal((2, 8, 6, 5)) * 2 + 1).astype(np.float32), dtype)
    w = jnp.asarray(rng.standard_normal((2, 8, 6, 5)).astype(np.float32))
    plain = lambda x: nn.relu(models.InstanceNorm(dtype=x.dtype).apply({}, x))  # noqa: E731
    np.testing.assert_array_equal(np.asarray(models.instance_norm_relu(x), np.float32),
                                  np.asarray(plain(x), np.float32))
    grad = lambda f, x: jax.grad(lambda x: jnp.sum(f(x).astype(jnp.float32) * w))(x)  # noqa: E731
    ours = np.asarray(grad(models.instance_norm_relu, x), np.float32)
    ref = np.asarray(grad(plain, x.astype(jnp.float32)))
    tol = 1e-6 if dtype == jnp.float32 else 2e-2  # bfloat16: the gradient's own rounding
    np.testing.assert_allclose(ours, ref, atol=tol * np.abs(ref).max())
    no_relu = np.asarray(grad(lambda x: models.InstanceNorm().apply({}, x), x.astype(jnp.float32)))
    assert np.abs(ours - no_relu).max() > 0.1 * np.abs(ref).max()  # the mask is applied
