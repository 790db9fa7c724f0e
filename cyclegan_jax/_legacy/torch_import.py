"""Moved: cyclegan_jax.torch_compat.state_dict. This path keeps older code importing."""

from cyclegan_jax.torch_compat.state_dict import *  # noqa: F401,F403
