"""The optimiser and learning rate of the official code: Adam as `torch.optim.Adam` computes
it (an Optax transformation), and the official `linear` learning-rate policy.

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


def learning_rate(hparams: HParams, step: jax.Array) -> jax.Array:
    """The official `linear` policy (official `models/networks.py`, `get_scheduler`) at
    iteration `step` (0-based).

    The official scheduler steps at the end of every epoch, so the epoch's factor is
    1 - max(0, epochs_done + epoch_count - n_epochs) / (n_epochs_decay + 1).
    """
    epochs_done = jnp.asarray(step) // hparams.steps_per_epoch
    decayed = jnp.maximum(0, epochs_done + hparams.epoch_count - hparams.n_epochs)
    factor = 1.0 - decayed.astype(jnp.float32) / (hparams.n_epochs_decay + 1)
    return hparams.lr * jnp.maximum(factor, 0.0)
