"""Moved: cyclegan_jax.torch_compat.pth. This path keeps older code importing."""

from cyclegan_jax.torch_compat.pth import *  # noqa: F401,F403
