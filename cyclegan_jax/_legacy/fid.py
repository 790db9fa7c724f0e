"""Moved: cyclegan_jax.eval.fid. This path keeps older code importing."""

from cyclegan_jax.eval.fid import *  # noqa: F401,F403
