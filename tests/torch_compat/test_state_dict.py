"""Official state_dict -> Flax params: detection, inference of sizes, clear errors."""

from __future__ import annotations

import os

import jax
import numpy as np
import pytest

from cyclegan_jax.nn import networks
from cyclegan_jax.torch_compat import StateDictError, params_from_state_dict
from tests import helpers


def _official_shapes(section: str) -> dict[str, tuple[int, ...]]:
    """Key -> shape for one section of official_state_dict_keys.txt."""
    shapes, current = {}, None
    with open(os.path.join(helpers.FIXTURES, "official_state_dict_keys.txt")) as f:
        for line in f:
            if line.startswith("## "):
                current = line[3:]
            elif current and current.startswith(section) and "\t" in line:
                key, shape, _ = line.strip().split("\t")
                shapes[key] = tuple(int(v) for v in shape.strip("[]").split(", "))
    return shapes


@pytest.mark.parametrize("section,expected", [
    ("ResnetGenerator 9 blocks", 11_378_179),
    ("ResnetGenerator 6 blocks", 7_837_699),
    ("NLayerDiscriminator n_layers=3", 2_764_737),
])
def test_every_official_key_and_shape_converts(section, expected):
    shapes = _official_shapes(section)
    assert shapes
    params = params_from_state_dict({k: np.zeros(s, np.float32) for k, s in shapes.items()})
    assert sum(x.size for x in jax.tree.leaves(params)) == expected


def _generator_sd():
    return helpers.state_dict(helpers.fixture("generator_ngf8_6blocks.npz"), "state_dict/")


def test_generator_architecture_is_inferred():
    params = params_from_state_dict(_generator_sd())
    net = networks.generator_from_params(params)
    assert (net.ngf, net.n_blocks, net.input_nc, net.output_nc, net.norm) == (8, 6, 3, 3, "instance")
    affine = params_from_state_dict(
        helpers.state_dict(helpers.fixture("generator_ngf8_6blocks_affine.npz"), "state_dict/"))
    assert networks.generator_from_params(affine).norm == "instance_affine"


def test_conv_layout_is_transposed_to_flax():
    sd = _generator_sd()
    params = params_from_state_dict(sd)
    np.testing.assert_array_equal(params["conv_in"]["kernel"], sd["model.1.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(params["up_0"]["kernel"], sd["model.16.weight"].transpose(2, 3, 1, 0))
    np.testing.assert_array_equal(params["block_3"]["conv_1"]["bias"], sd["model.13.conv_block.5.bias"])


def test_running_stats_and_module_prefix_are_ignored():
    sd = _generator_sd()
    noisy = {f"module.{k}": v for k, v in sd.items()}
    noisy["module.model.2.running_mean"] = np.ones(8, np.float32)
    noisy["module.model.2.running_var"] = np.ones(8, np.float32)
    noisy["module.model.2.num_batches_tracked"] = np.array(3)
    a, b = params_from_state_dict(sd), params_from_state_dict(noisy)
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_dropout_layout_is_recognised():
    sd = {}
    for k, v in _generator_sd().items():
        sd[k.replace("conv_block.5.", "conv_block.6.")] = v
    params = params_from_state_dict(sd)
    np.testing.assert_array_equal(params["block_0"]["conv_1"]["bias"], sd["model.10.conv_block.6.bias"])


def test_unknown_key_is_named():
    sd = _generator_sd()
    sd["model.99.weight"] = np.zeros((3, 3, 1, 1), np.float32)
    with pytest.raises(StateDictError, match=r"unknown keys \['model.99.weight'\]"):
        params_from_state_dict(sd)


def test_missing_key_is_named():
    sd = _generator_sd()
    del sd["model.12.conv_block.5.bias"]
    with pytest.raises(StateDictError, match=r"missing keys \['model.12.conv_block.5.bias'\]"):
        params_from_state_dict(sd)


def test_misshaped_key_is_named():
    sd = _generator_sd()
    sd["model.4.weight"] = np.zeros((16, 8, 5, 5), np.float32)
    with pytest.raises(StateDictError, match=r"model.4.weight: got \(16, 8, 5, 5\), expected \(16, 8, 3, 3\)"):
        params_from_state_dict(sd)


def test_unrecognised_state_dict():
    with pytest.raises(StateDictError, match="cannot tell which network"):
        params_from_state_dict({"fc.weight": np.zeros((2, 2), np.float32)})


def test_discriminator_is_detected():
    npz = helpers.fixture("discriminator_ndf8.npz")
    params = params_from_state_dict(helpers.state_dict(npz, "state_dict/"))
    assert sorted(params) == ["conv_0", "conv_1", "conv_2", "conv_3", "conv_out"]
    assert params["conv_0"]["kernel"].shape == (4, 4, 3, 8)
