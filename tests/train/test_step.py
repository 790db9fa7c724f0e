"""The train step against two iterations of the official CycleGANModel (golden fixture).

Tolerances follow tests/fixtures/README.md. Step-1 numbers come from identical
weights and inputs, so they are tight; our float32 gradients differ from a float64
evaluation of the same network by about as much as PyTorch's do (~1e-5 at the first
conv), which sets the gradient bound. From step 2 on, Adam's first update (each
weight moves by about +-lr whatever its gradient's size) turns float rounding into
+-lr differences wherever a gradient is at rounding level: in PyTorch every conv bias
in front of an instance norm (mathematically zero gradient; ours is exactly zero, so
those biases stay put: nn.layers._kernel_and_bias) and a few tiny kernel gradients.
Which way such a weight moves depends on the summation order of the convolutions,
so the weights after two steps are compared by how many moved differently by more
than 0.1 lr, not by 1e-6.
Measured here (XLA CPU, matmul-form convolutions): step-1 losses 7e-7 relative,
step-1 gradients 4.8e-6 of the largest element, step-2 gradients 1.1e-2, weights
after two steps <= 2.03 lr absolute, <= 0.35 % of any network's elements off by more
than 0.1 lr, <= 0.41 % by more than 1e-6 (3.76 lr, 0.35 % and 1.46 % while our biases
in front of norms still took their rounding-level gradients).
A wrong loss weight or a missing 0.5 moves step-1 losses by 10-100 %.
"""

from __future__ import annotations

import functools
import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cyclegan_jax
from cyclegan_jax.train import batching
from cyclegan_jax.train.step import METRIC_NAMES
from cyclegan_jax.nn import ConvLayers
from cyclegan_jax.torch_compat import params_from_state_dict
from tests import helpers

LR = 2e-4


@functools.partial(jax.jit, static_argnums=(3,))
def _gradients_and_images(params, a, b, hp):
    """Step-1-style gradients of all four networks (one compilation for every test)."""
    g = {n: params[n] for n in ("G_A", "G_B")}
    d = {n: params[n] for n in ("D_A", "D_B")}
    g_grad, (_, images) = jax.grad(lambda g: cyclegan_jax.generator_loss(g, d, a, b, hp),
                                   has_aux=True)(g)
    d_grad = jax.grad(lambda d: cyclegan_jax.discriminator_loss(
        d, a, b, images["fake_A"], images["fake_B"], hp)[0])(d)
    return {**g_grad, **d_grad}, images


def _grads(golden, golden_run, step):
    batch = helpers.golden_batch(golden, step)
    return _gradients_and_images(golden_run["before"][step - 1], batch["A"], batch["B"],
                                 golden_run["state"].hparams)


def _max_err(ours, ref):
    return max(float(np.max(np.abs(np.asarray(a) - b)))
               for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref)))


def _max_abs(tree):
    return max(float(np.max(np.abs(x))) for x in jax.tree.leaves(tree))


@pytest.mark.parametrize("step,rel_tol", [(1, 1e-6), (2, 1e-5)])
def test_losses_match_official(golden, golden_run, step, rel_tol):
    metrics = golden_run["metrics"][step - 1]
    assert sorted(metrics) == sorted(METRIC_NAMES)
    for name in METRIC_NAMES:
        ref = float(golden[f"step{step}/loss/{name}"])
        assert abs(metrics[name] - ref) <= rel_tol * abs(ref), (name, metrics[name], ref)


@pytest.mark.parametrize("step,rel_tol", [(1, 1e-5), (2, 2e-2)])
def test_gradients_match_official(golden, golden_run, step, rel_tol):
    grads, _ = _grads(golden, golden_run, step)
    for net in helpers.NETS:
        ref = params_from_state_dict(helpers.state_dict(golden, f"step{step}/grad/{net}/"))
        err, largest = _max_err(grads[net], ref), _max_abs(ref)
        assert err <= rel_tol * largest, (net, err, largest)


def test_step1_images_match_official(golden, golden_run):
    _, images = _grads(golden, golden_run, 1)
    for name in ("fake_B", "rec_A", "fake_A", "rec_B", "idt_A", "idt_B"):
        ref = helpers.nhwc(golden[f"step1/visual/{name}_nchw"])
        np.testing.assert_allclose(np.asarray(images[name]), ref, atol=1e-5, err_msg=name)


def test_weights_after_two_steps_match_official(golden, golden_run):
    for net in helpers.NETS:
        ref = params_from_state_dict(helpers.state_dict(golden, f"after/{net}/"))
        ours = golden_run["state"].params[net]
        diffs = np.concatenate([np.abs(np.asarray(a) - b).ravel()
                                for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(ref))])
        # Adam moves a weight by <= lr at step 1 and <= ~1.2 lr at step 2, so two runs
        # that disagree on rounding-level gradients' signs differ by <= ~4.4 lr.
        assert diffs.max() <= 4.5 * LR, (net, diffs.max())
        # Substantially different updates stay rare (measured <= 0.35 %).
        assert np.mean(diffs > 0.1 * LR) <= 0.02, (net, np.mean(diffs > 0.1 * LR))
        # And the weights did move: the update is not a no-op.
        before = params_from_state_dict(helpers.state_dict(golden, f"before/{net}/"))
        assert _max_err(ours, before) > 1.5 * LR


@functools.partial(jax.jit, static_argnums=(3,))
def _step1_losses(params, a, b, hp):
    """Every term's step-1 loss (the pool returns the current fakes while it fills)."""
    g = {n: params[n] for n in ("G_A", "G_B")}
    d = {n: params[n] for n in ("D_A", "D_B")}
    _, (terms, images) = cyclegan_jax.generator_loss(g, d, a, b, hp)
    _, d_terms = cyclegan_jax.discriminator_loss(d, a, b, images["fake_A"], images["fake_B"], hp)
    return {**terms, **d_terms}


def test_each_term_takes_its_official_weight_with_unequal_lambdas():
    # lambda_A 7, lambda_B 13, identity 0.3: a cycle or identity term weighted by the other
    # lambda is off by 46-86 % (the official idt_A takes lambda_B, idt_B lambda_A).
    npz = helpers.fixture("train_two_steps_ngf8_unequal_lambdas.npz")
    weights = json.loads(str(npz["meta"]))["config"]
    config = helpers.golden_config(lambda_A=weights["lambda_A"], lambda_B=weights["lambda_B"],
                                   lambda_identity=weights["lambda_identity"])
    params = {n: params_from_state_dict(helpers.state_dict(npz, f"before/{n}/"))
              for n in helpers.NETS}
    batch = helpers.golden_batch(npz, 1)
    losses = _step1_losses(params, batch["A"], batch["B"], cyclegan_jax.HParams.from_config(config))
    for name in METRIC_NAMES:
        ref = float(npz[f"step1/loss/{name}"])
        assert abs(float(losses[name]) - ref) <= 1e-6 * abs(ref), (name, float(losses[name]), ref)


def test_state_after_steps(golden_run):
    state = golden_run["state"]
    assert int(state.step) == 2
    assert int(state.pool_fake_A.num_images) == 2 and int(state.pool_fake_B.num_images) == 2
    assert int(state.opt_state_G.count) == 2 and int(state.opt_state_D.count) == 2


def test_identity_off_gives_zero_identity_terms():
    config = helpers.tiny_config(lambda_identity=0.0)
    hp = cyclegan_jax.HParams.from_config(config)
    state = cyclegan_jax.create_train_state(config, 0)
    x = jnp.zeros((1, 32, 32, 3))
    loss, (terms, images) = jax.jit(
        lambda p: cyclegan_jax.generator_loss(
            {n: p[n] for n in ("G_A", "G_B")}, {n: p[n] for n in ("D_A", "D_B")}, x, x, hp)
    )(state.params)
    assert float(terms["idt_A"]) == 0.0 and float(terms["idt_B"]) == 0.0
    assert "idt_A" not in images
    assert float(loss) == pytest.approx(sum(float(v) for v in terms.values()), rel=1e-6)


@pytest.mark.parametrize("lambda_identity,per_call", [(0.5, (1, 2, 3)), (0.0, (1, 2))])
def test_generator_images_joined_into_fewer_calls_equal_separate_calls(
        monkeypatch, lambda_identity, per_call):
    # On CPU the generator calls join images up to a pixel budget; any grouping must give
    # every image and loss term of calls on one image each.
    config = helpers.tiny_config(lambda_identity=lambda_identity)
    hp = cyclegan_jax.HParams.from_config(config)
    params = cyclegan_jax.create_train_state(config, 0).params
    rng = np.random.default_rng(5)
    a, b = (jnp.asarray(rng.uniform(-1, 1, (2, 32, 32, 3)).astype(np.float32)) for _ in "AB")
    results = []
    for k in per_call:
        monkeypatch.setattr(batching, "CPU_PIXELS_PER_CALL", k * 2 * 32 * 32)
        assert batching.images_per_call(a.shape, ConvLayers("matmul")) == k
        results.append(jax.jit(lambda p: cyclegan_jax.generator_loss(
            {n: p[n] for n in ("G_A", "G_B")}, {n: p[n] for n in ("D_A", "D_B")}, a, b, hp)
        )(params))
    for other in results[1:]:
        np.testing.assert_allclose(other[0], results[0][0], rtol=1e-5)
        for name, image in results[0][1][1].items():
            np.testing.assert_allclose(other[1][1][name], image, atol=1e-5)
    assert len(results[0][1][1]) == (6 if lambda_identity else 4)


def test_images_per_call_budget_only_for_the_matmul_conv_forms():
    # The pixel budget was measured for the CPU's matrix-product forms; with XLA's convs
    # (a GPU's "auto", or a step compiled for one elsewhere) all three images join.
    big = (4, 256, 256, 3)
    assert batching.images_per_call(big, ConvLayers("matmul")) == 1
    assert batching.images_per_call((1, 64, 64, 3), ConvLayers("matmul")) == 8
    assert (batching.images_per_call(big, ConvLayers("s2d"))
            == batching.images_per_call(big, ConvLayers("xla")) == 3)
    expected = 1 if jax.default_backend() == "cpu" else 3
    assert batching.images_per_call(big, ConvLayers("auto")) == expected


def _run(seed: int, steps: int = 3):
    config = helpers.golden_config()
    state = cyclegan_jax.create_train_state(config, seed)
    rng = np.random.default_rng(123)
    for _ in range(steps):
        batch = {k: rng.uniform(-1, 1, (1, 64, 64, 3)).astype(np.float32) for k in "AB"}
        state, _ = cyclegan_jax.train_step(state, batch)
    return jax.tree.map(np.asarray, state.params)


def test_same_seed_bit_identical_and_different_seed_differs():
    a, b, c = _run(0), _run(0), _run(1)
    assert all(np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))
    # Every trained parameter differs; the conv biases in front of instance norms get no
    # gradient (see nn.layers._kernel_and_bias) and stay at their zero init under any seed.
    flat_a, flat_c = ({jax.tree_util.keystr(k): v for k, v in jax.tree_util.tree_leaves_with_path(t)}
                      for t in (a, c))
    same = [k for k, x in flat_a.items() if x.size > 16 and np.array_equal(x, flat_c[k])]
    assert same and all(k.endswith("['bias']") and not flat_a[k].any() for k in same), same
