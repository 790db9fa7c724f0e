"""Moved: cyclegan_jax.train.checkpoints and cyclegan_jax.config. This path keeps older code importing."""

from cyclegan_jax.config import load_config, save_config  # noqa: F401
from cyclegan_jax.train.checkpoints import Checkpoints, all_finite, load_params, restore_params  # noqa: F401
