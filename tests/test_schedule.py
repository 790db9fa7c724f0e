"""The official linear learning-rate policy (reference §7), per iteration."""

from __future__ import annotations

import pytest

from cyclegan_jax import HParams, learning_rate

STEPS_PER_EPOCH = 7


@pytest.mark.parametrize("epoch,lr", [
    (1, 2.0e-4), (100, 2.0e-4), (101, 1.980198e-4), (102, 1.960396e-4), (150, 1.009901e-4),
    (199, 3.960396e-6), (200, 1.980198e-6), (201, 0.0), (250, 0.0),
])
def test_lr_table(epoch, lr):
    hp = HParams(steps_per_epoch=STEPS_PER_EPOCH)
    first = (epoch - 1) * STEPS_PER_EPOCH
    for step in (first, first + STEPS_PER_EPOCH - 1):  # constant within an epoch
        assert float(learning_rate(hp, step)) == pytest.approx(lr, rel=1e-5, abs=1e-12)


def test_epoch_count_places_the_schedule():
    hp = HParams(steps_per_epoch=STEPS_PER_EPOCH, epoch_count=151)
    assert float(learning_rate(hp, 0)) == pytest.approx(9.90099e-5, rel=1e-5)
