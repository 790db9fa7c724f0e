"""The embedded synthetic dataset: deterministic, unpaired in training, paired in test."""

from __future__ import annotations

import numpy as np
import pytest

from cyclegan_jax.data import synthetic


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
