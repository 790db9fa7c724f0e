"""`translate_tiled`: the untiled result from tiles, the instance-norm statistics of the
whole image included, on images several tiles wide; eval.py --tile; refusals."""

from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

import cyclegan_jax
from cyclegan_jax.eval import runner
from cyclegan_jax.eval.tiled import halo, translate_tiled
from cyclegan_jax.nn.networks import generator_from_params
from tests import helpers

GENERATOR = os.path.join(helpers.FIXTURES, "generator_ngf8_6blocks.pth")  # reach 72 pixels


@pytest.fixture(scope="module")
def generator():
    return cyclegan_jax.load_generator(GENERATOR)


def _image(h, w):
    rng = np.random.default_rng(0)  # seeded: a test image with structure at every scale
    coarse = rng.uniform(-1, 1, (h // 8 + 1, w // 8 + 1, 3))
    smooth = np.kron(coarse, np.ones((8, 8, 1)))[:h, :w]
    return np.clip(smooth + 0.3 * rng.uniform(-1, 1, (h, w, 3)), -1, 1).astype(np.float32)


@pytest.mark.parametrize("shape,tile", [((216, 296), 176),   # 3 x 5 windows
                                        ((150, 390), 184)])  # sides not multiples of 4
def test_tiles_give_the_whole_image_result(generator, shape, tile):
    assert halo(generator_from_params(generator)) == 72
    image = _image(*shape)
    whole = np.asarray(cyclegan_jax.translate(generator, image[None]))[0]
    tiled = translate_tiled(generator, image, tile)
    assert tiled.shape == whole.shape
    # measured 2e-6; a halo 16 pixels short of the reach gives 5e-5, each window's own
    # instance-norm statistics 0.67
    assert np.abs(tiled - whole).max() < 1e-5


def test_eval_tile_option_translates_large_images_in_tiles(generator, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    big = ((_image(200, 280) + 1) * 127.5).round().astype(np.uint8)
    Image.fromarray(big).save(photos / "big.png")
    outputs = {}
    for tile in (0, 176):
        out = tmp_path / f"out{tile}"
        runner.translate_folder(generator, str(photos), str(out),
                                runner.EvalOptions(batch_size=1, tile=tile))
        outputs[tile] = np.asarray(Image.open(out / "images" / "big_fake_B.png")).astype(int)
    assert np.abs(outputs[0] - outputs[176]).max() <= 1


def test_what_cannot_be_tiled_is_refused(generator):
    image = _image(64, 64)
    with pytest.raises(ValueError, match="at least 148"):
        translate_tiled(generator, image, 128)
    golden = helpers.fixture("pix2pix_two_steps_unet128_ngf4.npz")
    unet = cyclegan_jax.params_from_state_dict(helpers.state_dict(golden, "before/G/"))
    with pytest.raises(ValueError, match="ResNet generators"):
        translate_tiled(unet, image, 256)
    batch_normed = helpers.fixture("train_two_steps_ngf8_batchnorm.npz")
    g_a = cyclegan_jax.params_from_state_dict(helpers.state_dict(batch_normed, "before/G_A/"))
    with pytest.raises(ValueError, match="batch norm normalises by the batch"):
        translate_tiled(g_a, image, 256)
    with pytest.raises(ValueError, match="one HWC image"):
        translate_tiled(generator, image[None], 256)
