"""Moved: cyclegan_jax.eval.inference and cyclegan_jax.images. This path keeps older code importing."""

from cyclegan_jax.eval.inference import (BUCKET_SIDES, bucket_side, pad_to, translate,  # noqa: F401
                                         translate_canvas)
from cyclegan_jax.images import float_to_uint8, uint8_to_float  # noqa: F401
