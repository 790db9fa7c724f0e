"""pix2pix's aligned input: A | B halves, one crop and flip for both, direction, layouts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cyclegan_jax.data.pipeline import AlignedBatches
from cyclegan_jax.data.preprocess import split_aligned
from cyclegan_jax.data.sources import AlignedHalves, open_aligned, open_split
from cyclegan_jax.errors import UserError
from tests import helpers


def _write_pairs(folder, count, h=40, w=40, same_halves=False):
    """Aligned images: left half random, right half its negative (or the same pixels)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)  # seeded: test data
    for i in range(count):
        left = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
        right = left if same_halves else 255 - left
        Image.fromarray(np.concatenate([left, right], axis=1)).save(folder / f"{i:03d}.png")


def _config(tmp_path, **overrides):
    return helpers.tiny_config(**{"model": "pix2pix", "dataset": "folder",
                                  "dataroot": str(tmp_path), "batch_size": 4, "load_size": 40,
                                  "crop_size": 32, **overrides})


def test_both_halves_get_the_same_crop_and_flip_and_half_are_flipped(tmp_path):
    _write_pairs(tmp_path / "train", 8, same_halves=True)
    config = _config(tmp_path, preprocess="crop")  # crops anywhere in 40 x 40
    batches = AlignedBatches(open_aligned(config, "train"), config)
    flips, corners = 0, set()
    for step in range(50):  # 200 samples
        batch = batches.batch(step)
        np.testing.assert_array_equal(batch["A"], batch["B"])
        for k, a in enumerate(batch["A"]):
            item = batches._epoch_order(step // 2)[(step % 2) * 4 + k]
            left = split_aligned(np.asarray(Image.open(tmp_path / "train" / f"{item:03d}.png")))[0]
            left = left.astype(np.float32) / 127.5 - 1.0
            found = [(y, x, f) for f in (False, True) for y in range(9) for x in range(9)
                     if np.array_equal(a, left[y:y + 32, x:x + 32][:, ::-1] if f else
                                       left[y:y + 32, x:x + 32])]
            assert len(found) == 1
            corners.add(found[0][:2])
            flips += found[0][2]
    assert 70 <= flips <= 130  # binomial(200, 0.5): 5 standard deviations is 35
    assert len(corners) > 20


def test_direction_btoa_swaps_input_and_target(tmp_path):
    _write_pairs(tmp_path / "train", 4)
    a_to_b = AlignedBatches(open_aligned(_config(tmp_path), "train"), _config(tmp_path)).batch(3)
    config = _config(tmp_path, direction="BtoA")
    b_to_a = AlignedBatches(open_aligned(config, "train"), config).batch(3)
    np.testing.assert_array_equal(a_to_b["A"], b_to_a["B"])
    np.testing.assert_array_equal(a_to_b["B"], b_to_a["A"])
    # the right half is the negative of the left: -x in [-1, 1] up to resampling
    assert np.abs(a_to_b["A"] + a_to_b["B"]).mean() < 0.05


def test_halves_split_at_half_the_width_and_channels_follow_the_side(tmp_path):
    image = np.zeros((4, 7, 3), np.uint8)
    image[:, 3:] = 255
    left, right = split_aligned(image)
    assert left.shape == (4, 3, 3) and right.shape == (4, 4, 3) and right.min() == 255
    _write_pairs(tmp_path / "train", 2)
    config = _config(tmp_path, input_nc=1, lambda_identity=0.0, direction="BtoA")
    batch = AlignedBatches(open_aligned(config, "train"), config).batch(0)
    assert batch["A"].shape[-1] == 1 and batch["B"].shape[-1] == 3
    halves = AlignedHalves(open_aligned(config, "train"), "BtoA")
    assert np.array_equal(halves.load(0), split_aligned(np.asarray(
        Image.open(tmp_path / "train" / "000.png")))[1])


def test_layout_of_the_other_model_is_named(tmp_path):
    for split in ("trainA", "trainB"):
        _write_pairs(tmp_path / split, 1)
    with pytest.raises(UserError, match="unaligned layout.*combine_A_and_B"):
        open_aligned(_config(tmp_path), "train")
    _write_pairs(tmp_path / "aligned" / "train", 1)
    with pytest.raises(UserError, match="aligned layout.*configs/pix2pix.py"):
        open_split(_config(tmp_path / "aligned", model="cycle_gan"), "trainA")
    with pytest.raises(UserError, match="TFDS has no paired pix2pix dataset"):
        open_aligned(_config(tmp_path, dataset="tfds"), "train")


def test_synthetic_pairs_are_the_same_scene_in_both_domains():
    config = helpers.tiny_config(model="pix2pix", dataset="synthetic", synthetic_image_size=24)
    test = open_aligned(config, "test")
    image = test.load(1)
    assert image.shape == (24, 48, 3)
    # the test phase is CycleGAN's paired test split
    np.testing.assert_array_equal(image[:, :24], open_split(config, "testA").load(1))
    np.testing.assert_array_equal(image[:, 24:], open_split(config, "testA").ground_truth(1))
    assert not np.array_equal(open_aligned(config, "train").load(1), image)
