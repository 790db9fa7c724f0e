"""The official CycleGAN and pix2pix networks, their norms, inits and layers, and the
per-image canvas."""

from cyclegan_jax.nn.canvas import Canvas
from cyclegan_jax.nn.init import INIT_TYPES, kernel_init
from cyclegan_jax.nn.layers import Conv, ConvLayers, DoublingConv, UpsampleConv
from cyclegan_jax.nn.networks import (PatchDiscriminator, PixelDiscriminator, ResnetBlock,
                                      ResnetGenerator, UnetGenerator, conv_init,
                                      discriminator_from_params, generator_from_params,
                                      split_variables)
from cyclegan_jax.nn.norms import NORMS, BatchNorm, InstanceNorm, instance_norm_relu, moments

__all__ = ["INIT_TYPES", "NORMS", "BatchNorm", "Canvas", "Conv", "ConvLayers", "DoublingConv",
           "InstanceNorm", "PatchDiscriminator", "PixelDiscriminator", "ResnetBlock",
           "ResnetGenerator", "UnetGenerator", "UpsampleConv", "conv_init",
           "discriminator_from_params", "generator_from_params", "instance_norm_relu",
           "kernel_init", "moments", "split_variables"]
