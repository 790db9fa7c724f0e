"""The optimiser and learning rate of the official code: Adam as `torch.optim.Adam` computes
it (an Optax transformation), and the official learning-rate policies (`LR_POLICIES`).

`optax.scale_by_adam` evaluates the bias corrections 1 - b^t in the update's dtype:
in float32, 1 - float32(0.999) is off by 1.3e-5 relative, PyTorch works them out in
float64. The difference is only ~lr * 1e-5 per step, but the CycleGAN generator loss
is sensitive enough that it grows to 1e-6-level weight differences in a third of
the weights after two steps. Here the corrections are computed as
-expm1(t * log1p(-(1 - b))), accurate in float32, and the update is arranged as
torch does: lr / bc1 * m / (sqrt(v) / sqrt(bc2) + eps).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import jax
import jax.numpy as jnp
import optax

if TYPE_CHECKING:
    from cyclegan_jax.train.hparams import HParams


def _one_minus_power(beta: float, count: jax.Array) -> jax.Array:
    """1 - beta**count, accurate in float32 for beta close to 1."""
    return -jnp.expm1(count.astype(jnp.float32) * jnp.log1p(jnp.float32(-(1.0 - beta))))


def torch_adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> optax.GradientTransformation:
    """Adam's direction (to be multiplied by -lr), matching PyTorch's arithmetic.

    The state is `optax.ScaleByAdamState(count, mu, nu)`.
    """

    def init(params):
        zeros = jax.tree.map(jnp.zeros_like, params)
        return optax.ScaleByAdamState(count=jnp.zeros((), jnp.int32), mu=zeros,
                                      nu=jax.tree.map(jnp.zeros_like, params))

    def update(grads, state, params=None):  # noqa: ARG001
        count = state.count + 1
        mu = jax.tree.map(lambda m, g: b1 * m + (1.0 - b1) * g, state.mu, grads)
        nu = jax.tree.map(lambda v, g: b2 * v + (1.0 - b2) * g * g, state.nu, grads)
        bc1 = _one_minus_power(b1, count)
        sqrt_bc2 = jnp.sqrt(_one_minus_power(b2, count))
        updates = jax.tree.map(lambda m, v: (m / (jnp.sqrt(v) / sqrt_bc2 + eps)) / bc1, mu, nu)
        return updates, optax.ScaleByAdamState(count=count, mu=mu, nu=nu)

    return optax.GradientTransformation(init, update)


def adam(hparams: HParams) -> optax.GradientTransformation:
    """The run's Adam direction; the step applies -`learning_rate` to it."""
    return torch_adam(b1=hparams.beta1, b2=hparams.beta2, eps=hparams.adam_eps)


LR_POLICIES = ("linear", "step", "plateau", "cosine")
# torch.optim.lr_scheduler.ReduceLROnPlateau as the official `get_scheduler` builds it.
PLATEAU_FACTOR, PLATEAU_PATIENCE, PLATEAU_EPS = 0.2, 5, 1e-8


def plateau_max_reductions(lr: float) -> int:
    """How many times ReduceLROnPlateau reduces `lr` at all: it skips a reduction that
    would change the rate by no more than its eps (1e-8), in float64 as torch does."""
    count = 0
    while lr - lr * PLATEAU_FACTOR > PLATEAU_EPS:
        lr *= PLATEAU_FACTOR
        count += 1
    return count


def learning_rate(hparams: HParams, step: jax.Array) -> jax.Array:
    """The official learning-rate policy `hparams.lr_policy` (official `models/networks.py`,
    `get_scheduler`) at iteration `step` (0-based): a pure function of the step, inside
    the jitted step, so it resumes exactly.

    The official scheduler steps at the end of every epoch (`update_learning_rate`), so
    the rate of an epoch depends on k = the epochs done so far in this run:
    - "linear": lr (1 - max(0, k + epoch_count - n_epochs) / (n_epochs_decay + 1));
    - "step": lr 0.1^(k // lr_decay_iters) (`StepLR`; lr_decay_iters counts epochs);
    - "plateau": `ReduceLROnPlateau(factor 0.2, patience 5, threshold 0.01)` fed the
      CycleGAN and pix2pix models' metric, which is always 0: the first epoch's 0 is the
      best, every later one is a bad epoch, so the rate drops by 0.2 after epochs 7, 13,
      19, ... (every 6th), until a drop would change it by no more than 1e-8;
    - "cosine": `CosineAnnealingLR(T_max=n_epochs)`, lr (1 + cos(pi k / n_epochs)) / 2,
      which rises again after n_epochs epochs.
    Only "linear" reads epoch_count, as upstream.
    """
    k = jnp.asarray(step) // hparams.steps_per_epoch
    policy = hparams.lr_policy
    if policy == "linear":
        decayed = jnp.maximum(0, k + hparams.epoch_count - hparams.n_epochs)
        factor = 1.0 - decayed.astype(jnp.float32) / (hparams.n_epochs_decay + 1)
        factor = jnp.maximum(factor, 0.0)
    elif policy == "step":
        factor = jnp.float32(0.1) ** (k // hparams.lr_decay_iters).astype(jnp.float32)
    elif policy == "plateau":
        reductions = jnp.clip((k - 1) // (PLATEAU_PATIENCE + 1), 0,
                              plateau_max_reductions(hparams.lr))
        factor = jnp.float32(PLATEAU_FACTOR) ** reductions.astype(jnp.float32)
    elif policy == "cosine":
        factor = 0.5 * (1.0 + jnp.cos(jnp.pi * k.astype(jnp.float32) / hparams.n_epochs))
    else:
        raise ValueError(f"lr_policy must be one of {LR_POLICIES}, got {policy!r}")
    return hparams.lr * factor
