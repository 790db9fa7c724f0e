"""The networks against the official PyTorch outputs, parameter counts and init."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cyclegan_jax import translate
from cyclegan_jax.nn import ConvLayers, networks
from cyclegan_jax.torch_compat import params_from_state_dict
from tests import helpers



def _count(module, size=64, nc=3):
    shapes = jax.eval_shape(module.init, jax.random.key(0), jnp.zeros((1, size, size, nc)))
    return sum(x.size for x in jax.tree.leaves(shapes))


@pytest.mark.parametrize("module,expected", [
    (networks.ResnetGenerator(ngf=64, n_blocks=9), 11_378_179),
    (networks.ResnetGenerator(ngf=64, n_blocks=6), 7_837_699),
    (networks.ResnetGenerator(ngf=32, n_blocks=9), 2_850_563),
    (networks.PatchDiscriminator(ndf=64, n_layers=3), 2_764_737),
])
def test_parameter_counts_match_official(module, expected):
    assert _count(module, size=256) == expected


def test_affine_norm_adds_scale_and_shift_only():
    plain = _count(networks.ResnetGenerator(ngf=8, n_blocks=6))
    affine = _count(networks.ResnetGenerator(ngf=8, n_blocks=6, norm="instance_affine"))
    # One scale and one shift per channel of every norm: 3 in, 12 in blocks, 2 up.
    assert affine - plain == 2 * (8 + 16 + 32 + 12 * 32 + 16 + 8)


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
        net = networks.generator_from_params(params).clone(conv=ConvLayers(impl))

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
    out = networks.PatchDiscriminator(ndf=8).apply({"params": params}, helpers.nhwc(npz["input_nchw"]))
    assert out.shape == (2, 6, 8, 1)
    np.testing.assert_allclose(np.asarray(out), helpers.nhwc(npz["output_nchw"]), atol=5e-6)


@pytest.mark.parametrize("size,patches", [(256, 30), (128, 14), (64, 6)])
def test_discriminator_patch_map_size(size, patches):
    net = networks.PatchDiscriminator(ndf=8)
    x = jnp.zeros((1, size, size, 3))
    params = jax.eval_shape(net.init, jax.random.key(0), x)
    assert jax.eval_shape(net.apply, params, x).shape == (1, patches, patches, 1)


def test_init_is_official_normal_002_with_zero_bias():
    net = networks.ResnetGenerator(ngf=64, n_blocks=9)
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
    assert np.array_equal(np.asarray(networks.conv_init(key, shape)), np.asarray(expected))


def test_dropout_only_in_training_mode():
    net = networks.ResnetGenerator(ngf=8, n_blocks=2, use_dropout=True)
    x = jax.random.uniform(jax.random.key(0), (1, 16, 16, 3), minval=-1, maxval=1)
    params = net.init(jax.random.key(1), x)
    a = net.apply(params, x)
    assert np.array_equal(np.asarray(a), np.asarray(net.apply(params, x)))
    b = net.apply(params, x, train=True, rngs={"dropout": jax.random.key(2)})
    assert not np.allclose(np.asarray(a), np.asarray(b))


def test_grayscale_generator_channels():
    net = networks.ResnetGenerator(ngf=8, n_blocks=2, input_nc=1, output_nc=3)
    x = jnp.zeros((1, 16, 16, 1))
    params = net.init(jax.random.key(0), x)
    assert net.apply(params, x).shape == (1, 16, 16, 3)
    with pytest.raises(ValueError, match="1 input channels"):
        net.apply(params, jnp.zeros((1, 16, 16, 3)))

