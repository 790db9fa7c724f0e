"""Moved: cyclegan_jax.train.samples and cyclegan_jax.images. This path keeps older code importing."""

from cyclegan_jax.images import rgb_uint8, save_png  # noqa: F401
from cyclegan_jax.train.samples import sample_grid  # noqa: F401
