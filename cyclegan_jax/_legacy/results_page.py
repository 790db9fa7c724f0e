"""Moved: cyclegan_jax.eval.results_page. This path keeps older code importing."""

from cyclegan_jax.eval.results_page import *  # noqa: F401,F403
