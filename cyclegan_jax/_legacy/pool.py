"""Moved: cyclegan_jax.train.pool. This path keeps older code importing."""

from cyclegan_jax.train.pool import *  # noqa: F401,F403
