"""The functional image pool against the official per-image semantics."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cyclegan_jax.train import pool

query = jax.jit(pool.query)


def _images(start, n):
    """n distinct 1x1x1 images whose value is their id."""
    return jnp.arange(start, start + n, dtype=jnp.float32).reshape(n, 1, 1, 1)


def test_filling_stores_and_returns_each_image():
    p = pool.create_pool(5, (1, 1, 1))
    p, out = query(p, _images(0, 2), jax.random.key(0))
    np.testing.assert_array_equal(out.ravel(), [0, 1])
    p, out = query(p, _images(2, 2), jax.random.key(1))
    np.testing.assert_array_equal(out.ravel(), [2, 3])
    assert int(p.num_images) == 4
    np.testing.assert_array_equal(p.images.ravel()[:4], [0, 1, 2, 3])


def test_batch_crossing_full_is_handled_image_by_image():
    p = pool.create_pool(3, (1, 1, 1))
    p, _ = query(p, _images(0, 2), jax.random.key(0))
    p, out = query(p, _images(2, 4), jax.random.key(1))  # image 2 fills the last slot
    assert float(out[0, 0, 0, 0]) == 2.0
    assert int(p.num_images) == 3
    # Images 3..5 arrived with the pool full: each came back itself or swapped with a stored one.
    stored_before = {0.0, 1.0, 2.0, 3.0, 4.0}
    assert set(out.ravel()[1:].tolist()) <= stored_before | {5.0}


def test_full_pool_swaps_half_the_time_uniformly():
    size, rounds = 4, 500
    p = pool.create_pool(size, (1, 1, 1))
    p, _ = query(p, _images(0, size), jax.random.key(0))
    swaps, slots = 0, np.zeros(size)
    next_id = size
    for r in range(rounds):
        before = np.asarray(p.images).ravel().copy()
        new = _images(next_id, 1)
        p, out = query(p, new, jax.random.fold_in(jax.random.key(1), r))
        got = float(out.ravel()[0])
        after = np.asarray(p.images).ravel()
        if got != next_id:
            swaps += 1
            slot = int(np.flatnonzero(before == got)[0])  # returned a stored image ...
            assert after[slot] == next_id  # ... and the new one took its slot
            slots[slot] += 1
        else:
            np.testing.assert_array_equal(before, after)  # kept out of the pool
        next_id += 1
    # Binomial(500, 0.5): mean 250, sd ~11; 5 sd bounds.
    assert 195 <= swaps <= 305, swaps
    assert slots.min() >= swaps / size * 0.5, slots


def test_pool_size_zero_is_identity():
    p = pool.create_pool(0, (4, 4, 3))
    x = jax.random.normal(jax.random.key(0), (3, 4, 4, 3))
    p2, out = query(p, x, jax.random.key(1))
    np.testing.assert_array_equal(np.asarray(out), np.asarray(x))
    assert p2.images.shape == (0, 4, 4, 3)


def test_same_key_same_result():
    p = pool.create_pool(2, (1, 1, 1))
    p, _ = query(p, _images(0, 2), jax.random.key(0))
    a = query(p, _images(2, 6), jax.random.key(5))[1]
    b = query(p, _images(2, 6), jax.random.key(5))[1]
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_negative_pool_size_rejected():
    with pytest.raises(ValueError, match="pool_size"):
        pool.create_pool(-1, (1, 1, 1))
