"""bfloat16 mixed precision and rematerialisation against the float32 golden step."""

from __future__ import annotations

import jax
import numpy as np
import pytest

import cyclegan_jax
from cyclegan_jax.torch_compat import params_from_state_dict
from tests import helpers


def _step1(golden, **overrides):
    config = helpers.golden_config(**overrides)
    state = cyclegan_jax.create_train_state(config, 0)
    state = state.replace(params={n: params_from_state_dict(helpers.state_dict(golden, f"before/{n}/"))
                                  for n in helpers.NETS})
    state, metrics = cyclegan_jax.train_step(state, helpers.golden_batch(golden, 1))
    return state, {k: float(v) for k, v in metrics.items()}


def test_bfloat16_step1_losses_within_2_percent(golden):
    state, metrics = _step1(golden, dtype="bfloat16", conv_impl="s2d")  # the accelerator form
    for name, value in metrics.items():
        ref = float(golden[f"step1/loss/{name}"])
        assert abs(value - ref) <= 0.02 * abs(ref), (name, value, ref)
    # Params, Adam moments and pool contents stay float32.
    for tree in (state.params, state.opt_state_G.mu, state.pool_fake_A.images):
        assert {x.dtype for x in jax.tree.leaves(tree)} == {np.dtype("float32")}


def test_remat_changes_nothing_but_memory(golden):
    _, metrics = _step1(golden, remat=True, conv_impl="s2d")  # as on accelerators
    for name, value in metrics.items():  # the golden step's own tolerance
        assert value == pytest.approx(float(golden[f"step1/loss/{name}"]), rel=1e-6), name
