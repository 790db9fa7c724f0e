"""What both models' train steps share: networks applied by name with their running
statistics, and the Adam update."""

from __future__ import annotations

import jax

from cyclegan_jax.train.hparams import HParams
from cyclegan_jax.train.optimizer import adam


class Networks:
    """Applies the run's networks by name, moving batch norms' running statistics call after
    call (in the order of the calls, as torch's train mode does) for the networks that
    have them in `batch_stats`; `batch_stats` afterwards holds the moved ones."""

    def __init__(self, hparams: HParams, params: dict, batch_stats: dict | None):
        self.hparams, self.params = hparams, params
        self.batch_stats = dict(batch_stats or {})

    def __call__(self, name: str, x: jax.Array, **kwargs) -> jax.Array:
        net = getattr(self.hparams, name)
        if name not in self.batch_stats:
            return net.apply({"params": self.params[name]}, x, **kwargs)
        y, updated = net.apply({"params": self.params[name], "batch_stats": self.batch_stats[name]},
                               x, mutable=["batch_stats"], **kwargs)
        self.batch_stats[name] = updated["batch_stats"]
        return y


def adam_step(hparams: HParams, params: dict, grads: dict, opt_state, lr: jax.Array):
    """One Adam update of `params` by `grads` at learning rate `lr` (the official
    `optimizer.step()`); returns (params, opt_state)."""
    updates, opt_state = adam(hparams).update(grads, opt_state, params)
    params = jax.tree.map(lambda p, u: p - lr * u, params, updates)
    return params, opt_state


def pick(params: dict, names: tuple[str, ...]) -> dict:
    """The entries of `params` named `names`."""
    return {n: params[n] for n in names}

