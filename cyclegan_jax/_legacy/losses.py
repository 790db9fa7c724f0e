"""Moved: cyclegan_jax.train.losses. This path keeps older code importing."""

from cyclegan_jax.train.losses import *  # noqa: F401,F403
