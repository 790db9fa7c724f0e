"""The official training transforms: resize modes, crop, flip, channels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cyclegan_jax.data import preprocess
from cyclegan_jax.errors import UserError
from tests import helpers


@pytest.mark.parametrize("mode,size,expected", [
    ("resize_and_crop", (50, 30), (32, 32)),
    ("crop", (50, 40), (32, 32)),
    ("scale_width", (80, 40), (32, 32)),
    ("scale_width_and_crop", (30, 90), (32, 32)),
])
def test_preprocess_modes_give_square_crops(mode, size, expected):
    config = helpers.train_config(preprocess=mode, load_size=36, crop_size=32)
    image = np.random.default_rng(0).integers(0, 255, (size[1], size[0], 3), np.uint8)
    out = preprocess.train_transform(image, config, 3, np.random.default_rng(0))
    assert out.shape == (*expected, 3) and out.dtype == np.float32
    assert -1.0 <= out.min() and out.max() <= 1.0


def test_resize_is_pil_bicubic_then_crop_then_flip():
    config = helpers.train_config(load_size=36, crop_size=32, no_flip=False)
    image = np.random.default_rng(0).integers(0, 255, (20, 30, 3), np.uint8)
    resized = np.asarray(Image.fromarray(image).resize((36, 36), Image.BICUBIC))
    rng = np.random.default_rng(5)
    x, y, flip = int(rng.integers(0, 5)), int(rng.integers(0, 5)), rng.random() < 0.5
    expected = resized[y:y + 32, x:x + 32]
    expected = expected[:, ::-1] if flip else expected
    out = preprocess.train_transform(image, config, 3, np.random.default_rng(5))
    np.testing.assert_array_equal(out, expected.astype(np.float32) / 127.5 - 1)


def test_no_flip_never_flips():
    config = helpers.train_config(load_size=32, crop_size=32, no_flip=True)
    image = np.random.default_rng(0).integers(0, 255, (32, 32, 3), np.uint8)
    for seed in range(8):
        out = preprocess.train_transform(image, config, 3, np.random.default_rng(seed))
        np.testing.assert_array_equal(out, image / np.float32(127.5) - 1)


def test_grayscale_is_itu_r_601_luma_as_torchvision():
    rgb = np.random.default_rng(0).integers(0, 255, (8, 8, 3), np.uint8)
    gray = preprocess.to_channels(rgb, 1)
    assert gray.shape == (8, 8, 1)
    np.testing.assert_array_equal(gray[..., 0], np.asarray(Image.fromarray(rgb).convert("L")))
    with pytest.raises(UserError, match="must be 1 or 3"):
        preprocess.to_channels(rgb, 2)


def test_half_of_the_training_crops_are_flipped():
    # A left-to-right ramp, resized and cropped to itself: a flipped crop runs right to left.
    config = helpers.train_config(load_size=32, crop_size=32, no_flip=False)
    ramp = np.broadcast_to(np.linspace(0, 255, 32).astype(np.uint8)[None, :, None], (32, 32, 3))
    flips = sum(bool(out[0, 0, 0] > out[0, -1, 0]) for out in (
        preprocess.train_transform(np.ascontiguousarray(ramp), config, 3, np.random.default_rng(s))
        for s in range(400)))
    assert 150 <= flips <= 250, flips  # Binomial(400, 0.5): 200 +- 5 sd
