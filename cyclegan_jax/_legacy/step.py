"""Moved: cyclegan_jax.train.step. This path keeps older code importing."""

from cyclegan_jax.train.step import (METRIC_NAMES, discriminator_loss, generator_loss,  # noqa: F401
                                     train_step)
