"""Moved: cyclegan_jax.eval.inception. This path keeps older code importing."""

from cyclegan_jax.eval.inception import *  # noqa: F401,F403
