"""Moved: cyclegan_jax.train.metrics. This path keeps older code importing."""

from cyclegan_jax.train.metrics import MetricWriter  # noqa: F401
