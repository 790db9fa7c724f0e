"""Moved: see cyclegan_jax.nn. This path keeps older code importing."""

from cyclegan_jax.nn.networks import (PatchDiscriminator, ResnetBlock, ResnetGenerator,  # noqa: F401
                                      bias_init, conv_init, generator_from_params)
from cyclegan_jax.nn.norms import (NORMS, ONE_PASS_DTYPES, InstanceNorm, instance_norm_relu,  # noqa: F401
                                   moments, norm_relu)
