"""Moved: cyclegan_jax.train.optimizer. This path keeps older code importing."""

from cyclegan_jax.train.optimizer import torch_adam  # noqa: F401
