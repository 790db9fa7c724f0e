"""Convolution algorithms; `ops.conv` is the door that picks one per backend and shape."""

from cyclegan_jax.ops.conv import FORMS, IMPLS, check_impl, conv2d, conv_form, upsample2x
from cyclegan_jax.ops.padding import pad2d, reflect_index

__all__ = ["FORMS", "IMPLS", "check_impl", "conv2d", "conv_form", "pad2d", "reflect_index",
           "upsample2x"]
