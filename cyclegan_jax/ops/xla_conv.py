"""XLA's own convolution (cuDNN on GPUs, the TPU's convolution units), after `pad2d`."""

from __future__ import annotations

import jax

from cyclegan_jax.ops.padding import Padding, pad2d


def conv_valid(x: jax.Array, kernel: jax.Array, strides: tuple[int, int]) -> jax.Array:
    """NHWC input, HWIO kernel, no padding."""
    return jax.lax.conv_general_dilated(x, kernel, strides, "VALID",
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))


def xla_conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], padding: Padding,
             pad_mode: str) -> jax.Array:
    """`conv_valid` of `x` padded by `padding` with zeros or reflected."""
    return conv_valid(pad2d(x, padding, pad_mode), kernel, strides)
