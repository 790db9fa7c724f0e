"""Moved: cyclegan_jax.torch_compat.official. This path keeps older code importing."""

from cyclegan_jax.torch_compat.official import *  # noqa: F401,F403
