"""Moved: cyclegan_jax.eval.runner. This path keeps older code importing."""

from cyclegan_jax.eval.runner import *  # noqa: F401,F403
