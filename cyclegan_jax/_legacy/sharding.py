"""Moved: cyclegan_jax.train.sharding. This path keeps older code importing."""

from cyclegan_jax.train.sharding import *  # noqa: F401,F403
