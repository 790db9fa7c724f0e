"""Moved: cyclegan_jax.train.loop. This path keeps older code importing."""

from cyclegan_jax.train.loop import NonFiniteError, total_steps, train_and_evaluate  # noqa: F401
