"""translate on any image size, on converted official weights; uint8 helpers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cyclegan_jax import translate
from cyclegan_jax.eval.inference import bucket_side, pad_to, translate_canvas
from cyclegan_jax.nn import ResnetGenerator
from cyclegan_jax.torch_compat import params_from_state_dict
from tests import helpers


@pytest.fixture(scope="module")
def official_params():
    npz = helpers.fixture("generator_ngf8_6blocks.npz")
    return params_from_state_dict(helpers.state_dict(npz, "state_dict/"))


def test_odd_size_keeps_shape_and_range(official_params):
    x = jax.random.uniform(jax.random.key(0), (2, 37, 53, 3), minval=-1, maxval=1)
    y = translate(official_params, x)
    assert y.shape == (2, 37, 53, 3)
    assert float(jnp.max(jnp.abs(y))) <= 1.0


def test_odd_size_is_padded_reflectively_and_cropped(official_params):
    x = jax.random.uniform(jax.random.key(0), (1, 37, 53, 3), minval=-1, maxval=1)
    padded = jnp.pad(x, ((0, 0), (0, 3), (0, 3), (0, 0)), mode="reflect")
    full = ResnetGenerator(ngf=8, n_blocks=6).apply({"params": official_params}, padded)
    np.testing.assert_allclose(np.asarray(translate(official_params, x)),
                               np.asarray(full[:, :37, :53]), atol=1e-5)


def test_multiple_of_four_is_unchanged_by_padding(official_params):
    npz = helpers.fixture("generator_ngf8_6blocks.npz")
    out = translate(official_params, helpers.nhwc(npz["input_nchw"]))
    np.testing.assert_allclose(np.asarray(out), helpers.nhwc(npz["output_nchw"]), atol=5e-6)


def test_translate_under_outer_jit_and_rejects_other_params(official_params):
    x = jnp.zeros((1, 8, 12, 3))
    assert jax.jit(translate)(official_params, x).shape == (1, 8, 12, 3)
    with pytest.raises(ValueError, match="generator params"):
        translate({"D_A": {}}, x)


def test_canvas_translation_equals_each_image_alone():
    npz = helpers.fixture("generator_ngf8_6blocks_affine.npz")
    params = params_from_state_dict(helpers.state_dict(npz, "state_dict/"))
    rng = np.random.default_rng(0)
    images = [rng.uniform(-1, 1, (h, w, 3)).astype(np.float32)
              for h, w in ((37, 53), (64, 64), (20, 61))]
    canvas = np.stack([pad_to(x, 64, 64) for x in images])
    out = np.asarray(translate_canvas(params, canvas, np.array([x.shape[:2] for x in images])))
    for x, y in zip(images, out):
        alone = np.asarray(translate(params, x[None]))[0]
        np.testing.assert_allclose(y[:x.shape[0], :x.shape[1]], alone, atol=2e-6)
    # Without the sizes, padding changes the result: the test above can fail.
    plain = np.asarray(translate(params, canvas[:1]))[0, :37, :53]
    assert np.abs(plain - np.asarray(translate(params, images[0][None]))[0]).max() > 1e-2


def test_bucket_sides():
    assert [bucket_side(n) for n in (1, 64, 65, 256, 257, 2048, 2049, 3000)] == \
        [64, 64, 80, 256, 320, 2048, 2560, 3072]
