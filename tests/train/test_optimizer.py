"""Adam against PyTorch's formula evaluated in float64; the official linear LR policy."""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest

from cyclegan_jax.train.hparams import HParams
from cyclegan_jax.train.optimizer import learning_rate, torch_adam

STEPS_PER_EPOCH = 7


def _torch_adam_reference(grads, lr, b1, b2, eps):
    """torch.optim.Adam (single-tensor path): bias corrections in Python floats."""
    p, m, v, out = np.zeros_like(grads[0]), 0.0, 0.0, []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        denom = np.sqrt(v) / np.sqrt(1 - b2 ** t) + eps
        p = p - lr / (1 - b1 ** t) * m / denom
        out.append(p.copy())
    return out


def _max_deviation(tx) -> float:
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(1000) * 10.0 ** rng.uniform(-9, 1, 1000) for _ in range(5)]
    ref = _torch_adam_reference([g.astype(np.float64) for g in grads], 2e-4, 0.5, 0.999, 1e-8)
    params = np.zeros(1000, np.float32)
    state = tx.init(params)
    update = jax.jit(tx.update)
    worst = 0.0
    for g, expected in zip(grads, ref):
        u, state = update(g.astype(np.float32), state)
        params = params - np.float32(2e-4) * np.asarray(u)
        worst = max(worst, float(np.abs(params - expected).max()))
    assert int(state.count) == 5
    return worst


def test_matches_torch_adam_in_float64():
    # Float32 weights of size ~lr: a few ulps of the float64 trajectory.
    assert _max_deviation(torch_adam(0.5, 0.999, 1e-8)) < 5e-10


def test_plain_optax_adam_drifts_from_torch():
    """Why torch_adam exists: float32 bias corrections move weights by ~lr * 1e-5."""
    assert _max_deviation(optax.scale_by_adam(0.5, 0.999, 1e-8)) > 2e-9


# The official linear policy (`get_scheduler`), checked epoch by epoch against the table
# read off the official scheduler.
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
