"""The official init types (`nn.init`) against the official `init_weights`: per-layer moments
of the same networks initialised by the official code (`fixtures/init_moments.npz`), and
orthogonality along torch's axis."""

import json

import jax
import numpy as np
import pytest

from cyclegan_jax.nn import init as init_lib
from cyclegan_jax.nn import networks
from cyclegan_jax.torch_compat import state_dict as sd_lib
from tests import helpers

GAIN = 0.05
NETS = {
    "unet128": (networks.UnetGenerator(ngf=16, num_downs=7, norm="batch"), 128,
                sd_lib.unet_key_map(7, "batch")),
    "resnet6": (networks.ResnetGenerator(ngf=16, n_blocks=6, norm="batch"), 32,
                sd_lib.generator_key_map(6, "batch", False)),
    "pixel": (networks.PixelDiscriminator(ndf=16, norm="batch"), 8, sd_lib.pixel_key_map("batch")),
}


@pytest.fixture(scope="module")
def moments():
    return helpers.fixture("init_moments.npz")


def _torch_weights(init_type, name):
    """Our freshly initialised network's weights by official key, in torch layouts."""
    net, side, key_map = NETS[name]
    net = net.clone(init_type=init_type, init_gain=GAIN)
    variables = net.init(jax.random.key(7), np.zeros((1, side, side, 3), np.float32))
    out = {}
    for key, (path, kind) in key_map.items():
        node = variables
        for p in path:
            node = node[p]
        value = np.asarray(node, np.float64)
        out[key] = value.transpose(3, 2, 0, 1) if kind == "conv" else value
    return out


@pytest.mark.parametrize("init_type", init_lib.INIT_TYPES)
@pytest.mark.parametrize("name", NETS)
def test_each_layer_has_the_official_moments(init_type, name, moments):
    ours = _torch_weights(init_type, name)
    keys = json.loads(str(moments[f"{init_type}/{name}/keys"]))
    assert set(keys) == {k for k in ours if not k.endswith(("running_mean", "running_var"))}
    for key, mean, std in zip(keys, moments[f"{init_type}/{name}/mean"], moments[f"{init_type}/{name}/std"]):
        w = ours[key]
        if std == 0:  # biases and batch-norm shifts: constants
            assert np.all(w == mean), key
            continue
        n = w.size
        # Two independent samples: the std's relative standard error is about 1/sqrt(n).
        assert w.std(ddof=1) == pytest.approx(std, rel=5 / np.sqrt(n)), key
        assert abs(w.mean() - mean) < 5 * std * np.sqrt(2 / n), key


@pytest.mark.parametrize("name", NETS)
def test_orthogonal_rows_along_torchs_first_axis(name):
    for key, w in _torch_weights("orthogonal", name).items():
        if w.ndim != 4:
            continue
        m = w.reshape(w.shape[0], -1) / GAIN  # torch: [size(0), size(1) kh kw]
        gram = m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m
        np.testing.assert_allclose(gram, np.eye(len(gram)), atol=1e-4, err_msg=key)


def test_normal_init_keeps_the_numbers_of_a_shaped_normal_draw():
    key = jax.random.key(3)
    expected = jax.random.normal(key, (3, 3, 16, 8)) * 0.02
    np.testing.assert_array_equal(init_lib.kernel_init("normal", 0.02)(key, (3, 3, 16, 8)), expected)


def test_unknown_init_type_names_the_choices():
    with pytest.raises(ValueError, match="init_type must be one of .*'orthogonal'"):
        init_lib.kernel_init("uniform")
