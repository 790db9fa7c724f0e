"""Every official learning-rate policy against the official schedulers
(`fixtures/lr_policies.npz`: the rate of each epoch, read off `get_scheduler`'s scheduler
stepped as the official train.py steps it)."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cyclegan_jax.train.hparams import HParams
from cyclegan_jax.train.optimizer import learning_rate, plateau_max_reductions
from tests import helpers

CASES = ("linear", "linear_from3", "step", "plateau", "cosine")


@pytest.fixture(scope="module")
def golden():
    return helpers.fixture("lr_policies.npz")


@pytest.mark.parametrize("case", CASES)
def test_each_epochs_rate_equals_the_official_scheduler(case, golden):
    meta = json.loads(str(golden[f"{case}/meta"]))
    hp = HParams(lr=meta["lr"], lr_policy=meta["lr_policy"], n_epochs=meta["n_epochs"],
                 n_epochs_decay=meta["n_epochs_decay"], epoch_count=meta["epoch_count"],
                 lr_decay_iters=meta.get("lr_decay_iters", 50), steps_per_epoch=3)
    expected = golden[f"{case}/lr"]
    if hp.lr_policy == "linear":
        # Past the schedule's last epoch (which train.py never runs) upstream's factor goes
        # negative; ours stays at 0.
        length = hp.n_epochs + hp.n_epochs_decay - hp.epoch_count + 1
        assert (expected[length:] <= 0).all() and expected[-1] < 0
        expected = np.concatenate([expected[:length], np.zeros(len(expected) - length)])
    steps = jnp.arange(len(expected) * 3)
    got = np.asarray(jax.jit(jax.vmap(lambda s: learning_rate(hp, s)))(steps)).reshape(-1, 3)
    for within in range(3):  # constant within each epoch
        np.testing.assert_allclose(got[:, within], expected, rtol=2e-6, atol=1e-12)


def test_plateau_stops_where_a_drop_would_be_below_eps(golden):
    lr = golden["plateau/lr"]
    assert lr[-1] == lr[-7] > 0  # the official rate stopped dropping within the fixture
    assert plateau_max_reductions(2e-4) == int(np.round(np.log(lr[-1] / 2e-4) / np.log(0.2)))


def test_unknown_policy_is_refused():
    with pytest.raises(ValueError, match="lr_policy must be one of"):
        HParams(lr_policy="exponential")
