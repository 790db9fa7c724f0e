"""Every official network option against the official code (`fixtures/official_options.npz`,
written by `fixtures/make_official_options.py`): U-Nets, the PixelGAN, NLayer PatchGANs of
any depth, batch norm (train and eval mode, running statistics) and no norm."""

import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cyclegan_jax
from cyclegan_jax.nn import networks
from cyclegan_jax.torch_compat import network_for, params_from_state_dict
from tests import helpers

CASES = ("unet128_instance", "unet256_batch", "unet128_none", "resnet6_batch", "resnet6_none",
         "pixel_batch", "pixel_instance", "nlayers0_instance", "nlayers1_none",
         "nlayers5_instance", "basic6_batch")


@pytest.fixture(scope="module")
def golden():
    return helpers.fixture("official_options.npz")


def _nhwc(a):
    return jnp.asarray(a.transpose(0, 2, 3, 1))


def _run(case, golden, eval_mode=False):
    variables = params_from_state_dict(helpers.state_dict(golden, f"{case}/state_dict/"))
    x = _nhwc(golden[f"{case}/input_nchw"])
    if case.startswith(("unet", "resnet")):
        return variables, cyclegan_jax.translate(variables, x, eval_mode=eval_mode)
    return variables, cyclegan_jax.discriminate(variables, x, eval_mode=eval_mode)


@pytest.mark.parametrize("case", CASES)
def test_forward_equals_the_official_network(case, golden):
    variables, y = _run(case, golden)
    expected = golden[f"{case}/output_nchw"].transpose(0, 2, 3, 1)
    assert y.shape == expected.shape
    np.testing.assert_allclose(np.asarray(y), expected, atol=2e-5 * max(1, np.abs(expected).max()))


@pytest.mark.parametrize("case", [c for c in CASES if "batch" in c])
def test_batch_norm_eval_mode_uses_the_running_statistics(case, golden):
    variables, y = _run(case, golden, eval_mode=True)
    assert set(variables) == {"params", "batch_stats"}
    expected = golden[f"{case}/eval_output_nchw"].transpose(0, 2, 3, 1)
    np.testing.assert_allclose(np.asarray(y), expected, atol=2e-5 * max(1, np.abs(expected).max()))
    # and the train-mode statistics differ enough for the test to tell them apart
    assert np.abs(golden[f"{case}/output_nchw"] - golden[f"{case}/eval_output_nchw"]).max() > 1e-2


@pytest.mark.parametrize("case", [c for c in CASES if "batch" in c])
def test_batch_norm_updates_running_statistics_as_torch(case, golden):
    variables = params_from_state_dict(helpers.state_dict(golden, f"{case}/state_dict/"))
    net = network_for(helpers.state_dict(golden, f"{case}/state_dict/"))
    _, updated = net.apply(variables, _nhwc(golden[f"{case}/input_nchw"]),
                           mutable=["batch_stats"])
    after = params_from_state_dict(helpers.state_dict(golden, f"{case}/state_dict/")
                                   | helpers.state_dict(golden, f"{case}/after/"))
    for path, value in jax.tree_util.tree_leaves_with_path(after["batch_stats"]):
        got = updated["batch_stats"]
        for k in path:
            got = got[k.key]
        np.testing.assert_allclose(np.asarray(got), value, rtol=2e-5, atol=1e-6,
                                   err_msg=jax.tree_util.keystr(path))


@pytest.mark.parametrize("case", CASES)
def test_architecture_is_read_off_the_params(case, golden):
    sd = helpers.state_dict(golden, f"{case}/state_dict/")
    built = json.loads(str(golden[f"{case}/meta"]))["built_by"]
    net = network_for(sd)
    variables = params_from_state_dict(sd)
    from_params = (networks.generator_from_params if case.startswith(("unet", "resnet"))
                   else networks.discriminator_from_params)(variables)
    assert from_params == net, built
    assert f"norm='{net.norm}'" in built


def test_unet_translate_pads_to_its_multiple_and_refuses_too_small_images(golden):
    variables = params_from_state_dict(helpers.state_dict(golden, "unet128_instance/state_dict/"))
    x = _nhwc(golden["unet128_instance/input_nchw"])  # 128 x 256
    crop = cyclegan_jax.translate(variables, x[:, :100, :200])  # padded to 128 x 256
    assert crop.shape == (1, 100, 200, 3)
    with pytest.raises(ValueError, match="multiples of 128"):
        cyclegan_jax.translate(variables, x[:, :60, :200])


def test_eval_mode_without_running_statistics_is_an_error(golden):
    variables = params_from_state_dict(helpers.state_dict(golden, "unet128_instance/state_dict/"))
    with pytest.raises(ValueError, match="running statistics"):
        cyclegan_jax.translate(variables, jnp.zeros((1, 128, 128, 3)), eval_mode=True)


def test_official_unet_pth_loads_as_a_batch_normed_generator_and_round_trips(golden, tmp_path):
    # As the official pix2pix generators are shipped: a unet_256 with batch norm, torch.save'd.
    from cyclegan_jax.torch_compat.official import save_generator

    variables = cyclegan_jax.load_generator(os.path.join(helpers.FIXTURES, "unet256_batch_ngf4.pth"))
    assert set(variables) == {"params", "batch_stats"}
    x = _nhwc(golden["unet256_batch/input_nchw"])
    expected = golden["unet256_batch/eval_output_nchw"].transpose(0, 2, 3, 1)
    np.testing.assert_allclose(np.asarray(cyclegan_jax.translate(variables, x, eval_mode=True)),
                               expected, atol=2e-5)
    save_generator(variables, tmp_path / "g.msgpack")
    again = cyclegan_jax.load_generator(str(tmp_path / "g.msgpack"))
    assert helpers.params_equal(again, variables)


def test_unet_dropout_drops_half_of_its_inner_levels_in_training_only():
    net = networks.UnetGenerator(ngf=4, num_downs=7, norm="instance", use_dropout=True)
    x = jax.random.uniform(jax.random.key(0), (2, 128, 128, 3), minval=-1, maxval=1)
    variables = net.init(jax.random.key(1), x)
    _, state = net.apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)},
                         capture_intermediates=lambda m, _: isinstance(m, nn.Dropout),
                         mutable=["intermediates"])
    dropped = jax.tree.leaves(state["intermediates"])
    assert len(dropped) == 7 - 5  # levels 4 .. num_downs - 2, as upstream
    zeros = np.mean(np.concatenate([np.asarray(d).ravel() == 0 for d in dropped]))
    assert 0.45 < zeros < 0.55
    plain = net.clone(use_dropout=False)
    np.testing.assert_array_equal(net.apply(variables, x), plain.apply(variables, x))
    assert not np.array_equal(net.apply(variables, x, train=True, rngs={"dropout": jax.random.key(3)}),
                              plain.apply(variables, x))
