"""Input pipeline: official sampling and transforms, determinism, host slices, sources."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cyclegan_jax.data import preprocess, synthetic
from cyclegan_jax.data.pipeline import UnalignedBatches
from cyclegan_jax.data.sources import to_rgb
from cyclegan_jax.errors import UserError
from tests import helpers


class _Ids:
    """A source whose image i is filled with the value i (so samples can be traced)."""

    def __init__(self, n, size=40, name="ids"):
        self.n, self.size, self.name = n, size, name

    def __len__(self):
        return self.n

    def load(self, i):
        return np.full((self.size, self.size, 3), i, np.uint8)


def _ids(batch):  # image id of every sample, from the [-1, 1] pixel values
    return np.rint((batch[:, 0, 0, 0] + 1) * 127.5).astype(int).tolist()


def test_epoch_length_wraps_and_covers_every_a_image():
    config = helpers.train_config(batch_size=4)
    batches = UnalignedBatches(_Ids(10), _Ids(3), config)
    assert batches.steps_per_epoch == 3  # ceil(max(10, 3) / 4)
    seen = sum((_ids(batches.batch(s)["A"]) for s in range(3)), [])
    assert len(seen) == 12 and set(seen) == set(range(10))  # the last batch wraps around
    assert all(b < 3 for s in range(3) for b in _ids(batches.batch(s)["B"]))


def test_batches_are_a_pure_function_of_seed_and_step():
    config = helpers.train_config(batch_size=2)
    a, b = UnalignedBatches(_Ids(7), _Ids(5), config), UnalignedBatches(_Ids(7), _Ids(5), config)
    for step in (0, 5, 11):
        np.testing.assert_array_equal(a.batch(step)["A"], b.batch(step)["A"])
        np.testing.assert_array_equal(a.batch(step)["B"], b.batch(step)["B"])
    other = UnalignedBatches(_Ids(7), _Ids(5), helpers.train_config(batch_size=2, seed=1))
    assert any(_ids(a.batch(s)["A"]) != _ids(other.batch(s)["A"]) for s in range(4))
    streamed = list(zip(range(3), a.iterate(4)))
    for step, batch in streamed:
        np.testing.assert_array_equal(batch["A"], a.batch(4 + step)["A"])
    # Each epoch's order is drawn once and kept: going back an epoch still gives its own.
    fresh = UnalignedBatches(_Ids(7), _Ids(5), config)
    for step in (11, 0, 11, 5):
        np.testing.assert_array_equal(a.batch(step)["A"], fresh.batch(step)["A"])


def test_serial_batches_pair_a_and_b_by_index():
    config = helpers.train_config(batch_size=3, serial_batches=True)
    batches = UnalignedBatches(_Ids(6), _Ids(4), config)
    assert _ids(batches.batch(0)["A"]) == [0, 1, 2]
    assert _ids(batches.batch(1)["B"]) == [3, 0, 1]


def test_each_host_reads_its_slice_of_the_global_batch():
    config = helpers.train_config(batch_size=4)
    whole = UnalignedBatches(_Ids(9), _Ids(9), config).batch(2)
    parts = [UnalignedBatches(_Ids(9), _Ids(9), config, process_index=i, process_count=2).batch(2)
             for i in range(2)]
    for side in "AB":
        np.testing.assert_array_equal(np.concatenate([p[side] for p in parts]), whole[side])


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


def test_grayscale_and_16_bit_images():
    rgb = np.random.default_rng(0).integers(0, 255, (8, 8, 3), np.uint8)
    gray = preprocess.to_channels(rgb, 1)
    assert gray.shape == (8, 8, 1)
    np.testing.assert_array_equal(gray[..., 0], np.asarray(Image.fromarray(rgb).convert("L")))
    deep = Image.fromarray(np.array([[0, 65535], [32768, 257]], np.uint16))
    np.testing.assert_array_equal(to_rgb(deep)[..., 0], [[0, 255], [128, 1]])
    palette = Image.fromarray(rgb).convert("P")
    assert to_rgb(palette).shape == (8, 8, 3)
    with pytest.raises(UserError, match="must be 1 or 3"):
        preprocess.to_channels(rgb, 2)


def test_synthetic_is_deterministic_unpaired_in_training_and_paired_in_test():
    a = synthetic.render(0, "trainA", 3, 48)
    np.testing.assert_array_equal(a, synthetic.render(0, "trainA", 3, 48))
    assert not np.array_equal(a, synthetic.render(1, "trainA", 3, 48))
    source = synthetic.SyntheticSource(0, "testA", 4, 48)
    apple, orange = source.load(2), source.ground_truth(2)
    np.testing.assert_array_equal(orange, synthetic.render(0, "testB", 2, 48))
    # Same scene: the background (corners) agrees, the fruit (centre region) does not.
    assert np.abs(apple[:4, :4].astype(int) - orange[:4, :4]).max() <= 1
    assert np.abs(apple.astype(int) - orange).mean() > 5
    with pytest.raises(ValueError, match="only for the synthetic test splits"):
        synthetic.SyntheticSource(0, "trainA", 4, 48).ground_truth(0)
