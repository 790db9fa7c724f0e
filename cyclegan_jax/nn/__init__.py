"""The official CycleGAN networks, their norms and layers, and the per-image canvas."""

from cyclegan_jax.nn.canvas import Canvas
from cyclegan_jax.nn.layers import Conv, ConvLayers, UpsampleConv
from cyclegan_jax.nn.networks import (PatchDiscriminator, ResnetBlock, ResnetGenerator, conv_init,
                                      generator_from_params)
from cyclegan_jax.nn.norms import NORMS, InstanceNorm, instance_norm_relu, moments

__all__ = ["NORMS", "Canvas", "Conv", "ConvLayers", "InstanceNorm", "PatchDiscriminator",
           "ResnetBlock", "ResnetGenerator", "UpsampleConv", "conv_init", "generator_from_params",
           "instance_norm_relu", "moments"]
