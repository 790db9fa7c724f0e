"""Moved: cyclegan_jax.eval.metrics. This path keeps older code importing."""

from cyclegan_jax.eval.metrics import abs_error_sum, ground_truth_mae  # noqa: F401
