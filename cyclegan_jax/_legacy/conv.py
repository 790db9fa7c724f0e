"""Moved: see cyclegan_jax.ops and cyclegan_jax.nn.layers. This path keeps older code importing."""

from cyclegan_jax.nn.layers import Conv, UpsampleConv  # noqa: F401
from cyclegan_jax.ops.conv import IMPLS, conv2d, conv_form, upsample2x  # noqa: F401
from cyclegan_jax.ops.padding import PAD_MODES, Padding, pad2d  # noqa: F401
from cyclegan_jax.ops.space_to_depth import s2d_conv  # noqa: F401
from cyclegan_jax.ops.winograd import winograd_conv3x3  # noqa: F401
