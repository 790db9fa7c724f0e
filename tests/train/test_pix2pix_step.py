"""The pix2pix train step against two iterations of the official Pix2PixModel
(`fixtures/pix2pix_two_steps_unet128_ngf4.npz`: unet_128, batch norm, vanilla GAN,
lambda_L1 100, batch size 2, no dropout; `make_pix2pix_step.py` wrote it by running the
official code).

Measured: losses within 1e-6 relative in both steps; after two steps G's weights within
0.31 lr and D's within 0.03 lr of upstream, running statistics within 5e-5 relative.
The discriminator updating first, the generator's GAN loss seeing the updated
discriminator, the conditioning on the input and the third batch-norm update of D each
move these by far more.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest

import cyclegan_jax
from cyclegan_jax.torch_compat import params_from_state_dict
from cyclegan_jax.train import pix2pix_step as p2p
from tests import helpers

LR = 2e-4
NETS = ("G", "D")


def golden_config():
    return helpers.tiny_config(
        model="pix2pix", netG="unet_128", ngf=4, ndf=8, norm="batch", gan_mode="vanilla",
        no_dropout=True, pool_size=0, batch_size=2, crop_size=128, load_size=128,
        conv_impl="auto")


@pytest.fixture(scope="module")
def golden():
    return helpers.fixture("pix2pix_two_steps_unet128_ngf4.npz")


def _variables(golden, prefix):
    return {n: params_from_state_dict(helpers.state_dict(golden, f"{prefix}/{n}/"))
            for n in NETS}


def _initial_state(golden):
    state = cyclegan_jax.create_train_state(golden_config(), 0)
    before = _variables(golden, "before")
    return state.replace(params={n: v["params"] for n, v in before.items()},
                         batch_stats={n: v["batch_stats"] for n, v in before.items()})


@pytest.fixture(scope="module")
def run(golden):
    state = _initial_state(golden)
    states, metrics = [], []
    for step in (1, 2):
        state, m = p2p.pix2pix_step(state, helpers.golden_batch(golden, step))
        states.append(jax.tree.map(np.asarray, (state.params, state.batch_stats)))
        metrics.append({k: float(v) for k, v in m.items()})
    return states, metrics


def test_state_has_one_generator_and_a_conditional_discriminator(golden):
    state = cyclegan_jax.create_train_state(golden_config(), 0)
    assert set(state.params) == set(state.batch_stats) == {"G", "D"}
    assert state.params["D"]["conv_0"]["kernel"].shape[2] == 6  # input and output channels
    assert state.pool_fake_A.pool_size == state.pool_fake_B.pool_size == 0


@pytest.mark.parametrize("step", [1, 2])
def test_losses_match_official(golden, run, step):
    for name in p2p.METRIC_NAMES:
        ref = float(golden[f"step{step}/loss/{name}"])
        got = run[1][step - 1][name]
        assert abs(got - ref) <= 2e-6 * abs(ref), (name, got, ref)


def test_step1_gradients_match_official(golden, run):
    hp = cyclegan_jax.HParams.from_config(golden_config())
    before = _variables(golden, "before")
    params = {n: v["params"] for n, v in before.items()}
    stats = {n: v["batch_stats"] for n, v in before.items()}
    batch = helpers.golden_batch(golden, 1)

    def forward(g):
        y, moved = hp.G.apply({"params": g, "batch_stats": stats["G"]}, batch["A"], train=True,
                              mutable=["batch_stats"])
        return y, {**stats, "G": moved["batch_stats"]}

    fake_B, pull_back, moved = jax.vjp(forward, params["G"], has_aux=True)
    d_grads, (_, moved) = jax.grad(p2p.discriminator_loss, has_aux=True)(
        params["D"], batch["A"], batch["B"], fake_B, hp, moved)
    d_after_step1 = run[0][0][0]["D"]  # the generator's loss sees the updated discriminator
    fake_grad = jax.grad(lambda f: p2p.generator_loss(f, d_after_step1, batch["A"], batch["B"],
                                                      hp, moved)[0])(fake_B)
    (g_grads,) = pull_back(fake_grad)
    for net, ours in {"G": g_grads, "D": d_grads}.items():
        helpers.assert_step1_gradient(golden, net, ours, 2e-5)


def test_weights_and_running_statistics_after_two_steps_match_official(golden, run):
    after = _variables(golden, "after")
    params, stats = run[0][1]
    for net in NETS:
        ours, ref = params[net], after[net]["params"]
        assert jax.tree.structure(ours) == jax.tree.structure(ref)
        diffs = np.concatenate([np.abs(a - b).ravel()
                                for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref))])
        assert diffs.max() <= LR, (net, diffs.max())
        for a, b in zip(jax.tree.leaves(stats[net]), jax.tree.leaves(after[net]["batch_stats"])):
            np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5, err_msg=net)
