"""The unaligned input pipeline: official sampling, determinism by (seed, step), host slices."""

from __future__ import annotations

import numpy as np

from cyclegan_jax.data.pipeline import UnalignedBatches
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
