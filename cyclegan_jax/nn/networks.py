"""The official CycleGAN networks as Flax Linen modules (NHWC, stateless).

`ResnetGenerator` and `PatchDiscriminator` are the official `ResnetGenerator` and
`NLayerDiscriminator` (official `models/networks.py`), layer for layer: reflection
padding for the 7x7 and residual convs, zero padding for the strided and PatchGAN
convs, instance norm, weights ~ N(0, 0.02) and zero biases (`init_weights`). Parameter
names are chosen so that each layer's official state_dict index can be derived from
them (`torch_compat.state_dict`). How the convolutions are computed is not the
networks' business: they receive a `ConvLayers` (`nn.layers`).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cyclegan_jax.nn.canvas import Canvas
from cyclegan_jax.nn.layers import ConvLayers
from cyclegan_jax.nn.norms import InstanceNorm, affine_norm, norm_relu
from cyclegan_jax.ops.padding import pad2d


def conv_init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
    """N(0, 0.02), the official `init_weights`: the numbers of `nn.initializers.normal(0.02)`,
    drawn as one flat vector (the draw does not depend on the shape, and XLA:CPU compiles a
    flat one several times faster)."""
    return (jax.random.normal(key, (math.prod(shape),), dtype) * jnp.asarray(0.02, dtype)
            ).reshape(shape)


bias_init = nn.initializers.zeros


class ResnetBlock(nn.Module):
    """x + [ReflectionPad2d(1), conv3x3, norm, ReLU, (Dropout(0.5)), ReflectionPad2d(1),
    conv3x3, norm](x), as the official `ResnetBlock`.

    With `carry_border`, x arrives with its 1-pixel reflect border around it and the
    output leaves with its own (see `ResnetGenerator`).
    """

    dim: int
    norm: str = "instance"
    use_dropout: bool = False
    dtype: Any = jnp.float32
    conv: ConvLayers = ConvLayers()
    carry_border: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False,
                 canvas: Canvas | None = None) -> jax.Array:
        affine = affine_norm(self.norm)
        conv = functools.partial(self.conv, self.dim, 3, pad_mode="reflect", normed=True,
                                 kernel_init=conv_init, bias_init=bias_init, dtype=self.dtype)
        y = conv(padding=0 if self.carry_border else 1, name="conv_0")(x, canvas)
        y = norm_relu(y, affine, canvas, self.dtype, "norm_0")
        if self.use_dropout:
            y = nn.Dropout(0.5, deterministic=not train)(y)
        y = conv(padding=1, name="conv_1")(y, canvas)
        y = InstanceNorm(affine, dtype=self.dtype, name="norm_1")(y, canvas)
        return x + (pad2d(y, ((1, 1), (1, 1)), "reflect") if self.carry_border else y)


class ResnetGenerator(nn.Module):
    """The official `ResnetGenerator` (netG `resnet_9blocks` / `resnet_6blocks`).

    Input NHWC in [-1, 1] with H and W multiples of 4; output of the same size in [-1, 1].
    `train=True` enables dropout (needs a 'dropout' rng) when `use_dropout` is set.
    `canvas` runs each image of a padded batch as if it were alone (`nn.canvas`).
    """

    ngf: int = 64
    n_blocks: int = 9
    input_nc: int = 3
    output_nc: int = 3
    norm: str = "instance"
    use_dropout: bool = False
    dtype: Any = jnp.float32
    remat: bool = False  # recompute the residual blocks in the backward pass: less memory
    conv: ConvLayers = ConvLayers()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False,
                 canvas: Canvas | None = None) -> jax.Array:
        if x.shape[-1] != self.input_nc:
            raise ValueError(
                f"generator expects {self.input_nc} input channels (NHWC), got shape {x.shape}")
        affine = affine_norm(self.norm)
        conv = functools.partial(self.conv, kernel_init=conv_init, bias_init=bias_init,
                                 dtype=self.dtype)
        # The canvas at full, half and quarter resolution (None: whole arrays).
        level = [None if canvas is None else canvas.downsampled(2 ** k) for k in range(3)]

        y = x.astype(self.dtype)
        # ReflectionPad2d(3), Conv2d(input_nc, ngf, 7), norm, ReLU
        y = conv(self.ngf, 7, padding=3, pad_mode="reflect", normed=True, name="conv_in")(y, level[0])
        y = norm_relu(y, affine, level[0], self.dtype, "norm_in")
        # Downsampling, twice: Conv2d(k3, stride 2, zero padding 1), norm, ReLU
        for i in range(2):
            y = conv(self.ngf * 2 ** (i + 1), 3, strides=2, padding=1, normed=True,
                     name=f"down_{i}")(y)
            y = norm_relu(y, affine, level[i + 1], self.dtype, f"down_norm_{i}")
        # n_blocks ResnetBlocks. Where convs pad by a copy, the residual stream carries its
        # reflect border from block to block (pad(x + y) = pad(x) + pad(y)): each block's
        # first conv reads it in place instead of writing a padded copy. Same values.
        carry_border = canvas is None and self.conv.pads_by_copy
        if carry_border:
            y = pad2d(y, ((1, 1), (1, 1)), "reflect")
        block = nn.remat(ResnetBlock, static_argnums=(2,)) if self.remat else ResnetBlock
        for i in range(self.n_blocks):
            y = block(self.ngf * 4, self.norm, self.use_dropout, self.dtype, self.conv,
                      carry_border, name=f"block_{i}")(y, train, level[2])
        if carry_border:
            y = y[:, 1:-1, 1:-1]
        # Upsampling, twice: ConvTranspose2d(k3, stride 2, padding 1, output_padding 1), norm, ReLU
        for i in range(2):
            y = self.conv.transposed(self.ngf * 2 ** (1 - i), normed=True, kernel_init=conv_init,
                                     bias_init=bias_init, dtype=self.dtype,
                                     name=f"up_{i}")(y, level[2 - i])
            y = norm_relu(y, affine, level[1 - i], self.dtype, f"up_norm_{i}")
        # ReflectionPad2d(3), Conv2d(ngf, output_nc, 7), Tanh
        y = conv(self.output_nc, 7, padding=3, pad_mode="reflect", name="conv_out")(y, level[0])
        return jnp.tanh(y.astype(jnp.float32))


class PatchDiscriminator(nn.Module):
    """The official PatchGAN (`NLayerDiscriminator`; netD `basic` is n_layers 3, 70x70).

    Returns raw patch scores `[N, h, w, 1]` (float32, no sigmoid), e.g. 30x30 for 256x256
    inputs at n_layers 3.
    """

    ndf: int = 64
    n_layers: int = 3
    input_nc: int = 3
    norm: str = "instance"
    dtype: Any = jnp.float32
    conv: ConvLayers = ConvLayers()

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        affine = affine_norm(self.norm)
        conv = functools.partial(self.conv, kernel_size=4, padding=1, kernel_init=conv_init,
                                 bias_init=bias_init, dtype=self.dtype)
        y = x.astype(self.dtype)
        # Conv2d(input_nc, ndf, 4, stride 2, padding 1), LeakyReLU(0.2): no norm on the first
        y = nn.leaky_relu(conv(self.ndf, strides=2, name="conv_0")(y), 0.2)
        # n_layers convs to ndf * min(2^n, 8) channels (stride 2, the last stride 1), norm,
        # LeakyReLU(0.2)
        for n in range(1, self.n_layers + 1):
            y = conv(self.ndf * min(2 ** n, 8), strides=2 if n < self.n_layers else 1,
                     normed=True, name=f"conv_{n}")(y)
            y = nn.leaky_relu(InstanceNorm(affine, dtype=self.dtype, name=f"norm_{n}")(y), 0.2)
        # Conv2d(ndf * min(2^n_layers, 8), 1, 4, padding 1): one score per patch
        return conv(1, name="conv_out")(y).astype(jnp.float32)


def generator_from_params(params: dict, dtype: Any = jnp.float32,
                          conv: ConvLayers = ConvLayers()) -> ResnetGenerator:
    """The `ResnetGenerator` whose parameters `params` are (read off their shapes and names)."""
    try:
        kernel_in = params["conv_in"]["kernel"]
        kernel_out = params["conv_out"]["kernel"]
    except (KeyError, TypeError) as e:
        raise ValueError(
            "params do not look like ResnetGenerator params (need 'conv_in' and 'conv_out'); "
            "pass one generator's params, e.g. params['G_A']") from e
    n_blocks = sum(1 for k in params if k.startswith("block_"))
    return ResnetGenerator(
        ngf=kernel_in.shape[-1], n_blocks=n_blocks, input_nc=kernel_in.shape[2],
        output_nc=kernel_out.shape[-1],
        norm="instance_affine" if "norm_in" in params else "instance", dtype=dtype, conv=conv)
