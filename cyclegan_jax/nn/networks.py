"""The official CycleGAN and pix2pix networks as Flax Linen modules (NHWC, stateless).

`ResnetGenerator`, `UnetGenerator`, `PatchDiscriminator` and `PixelDiscriminator` are the
official `ResnetGenerator`, `UnetGenerator`, `NLayerDiscriminator` and
`PixelDiscriminator` (official `models/networks.py`), layer for layer: their padding, the
norm option (`nn.norms`: the convs before a norm have a bias only for instance norms, as
the official `use_bias`), the init option (`nn.init`). Parameter names are chosen so
that each layer's official state_dict index can be derived from them
(`torch_compat.state_dict`). Batch norm's running statistics are the "batch_stats"
collection; every network takes `use_running_average` (torch's eval mode). How the
convolutions are computed is not the networks' business: they receive a `ConvLayers`
(`nn.layers`).
"""

from __future__ import annotations

import functools
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cyclegan_jax.nn.canvas import Canvas
from cyclegan_jax.nn.layers import ConvLayers
from cyclegan_jax.nn.init import kernel_init, norm_scale_init
from cyclegan_jax.nn.norms import conv_bias, norm_layer, norm_relu
from cyclegan_jax.ops.padding import pad2d


def conv_init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
    """N(0, 0.02), the official default init (`nn.init.kernel_init("normal", 0.02)`)."""
    return kernel_init("normal", 0.02)(key, shape, dtype)


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
    init_type: str = "normal"
    init_gain: float = 0.02

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, canvas: Canvas | None = None,
                 use_running_average: bool = False) -> jax.Array:
        conv = functools.partial(self.conv, self.dim, 3, pad_mode="reflect", normed=True,
                                 use_bias=conv_bias(self.norm),
                                 kernel_init=kernel_init(self.init_type, self.init_gain),
                                 bias_init=bias_init, dtype=self.dtype)
        y = conv(padding=0 if self.carry_border else 1, name="conv_0")(x, canvas)
        y = norm_relu(y, self.norm, canvas, self.dtype, "norm_0", use_running_average,
                      norm_scale_init(self.init_gain))
        if self.use_dropout:
            y = nn.Dropout(0.5, deterministic=not train)(y)
        y = conv(padding=1, name="conv_1")(y, canvas)
        y = norm_layer(self.norm, "norm_1", self.dtype, norm_scale_init(self.init_gain))(
            y, canvas, use_running_average)
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
    init_type: str = "normal"
    init_gain: float = 0.02

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, canvas: Canvas | None = None,
                 use_running_average: bool = False) -> jax.Array:
        if x.shape[-1] != self.input_nc:
            raise ValueError(
                f"generator expects {self.input_nc} input channels (NHWC), got shape {x.shape}")
        conv = functools.partial(self.conv, kernel_init=kernel_init(self.init_type, self.init_gain),
                                 bias_init=bias_init, dtype=self.dtype)
        use_bias = conv_bias(self.norm)
        norm_act = functools.partial(norm_relu, norm=self.norm, dtype=self.dtype,
                                     use_running_average=use_running_average,
                                     scale_init=norm_scale_init(self.init_gain))
        # The canvas at full, half and quarter resolution (None: whole arrays).
        level = [None if canvas is None else canvas.downsampled(2 ** k) for k in range(3)]

        y = x.astype(self.dtype)
        # ReflectionPad2d(3), Conv2d(input_nc, ngf, 7), norm, ReLU
        y = conv(self.ngf, 7, padding=3, pad_mode="reflect", normed=True, use_bias=use_bias,
                 name="conv_in")(y, level[0])
        y = norm_act(y, canvas=level[0], name="norm_in")
        # Downsampling, twice: Conv2d(k3, stride 2, zero padding 1), norm, ReLU
        for i in range(2):
            y = conv(self.ngf * 2 ** (i + 1), 3, strides=2, padding=1, normed=True,
                     use_bias=use_bias, name=f"down_{i}")(y)
            y = norm_act(y, canvas=level[i + 1], name=f"down_norm_{i}")
        # n_blocks ResnetBlocks. Where convs pad by a copy, the residual stream carries its
        # reflect border from block to block (pad(x + y) = pad(x) + pad(y)): each block's
        # first conv reads it in place instead of writing a padded copy. Same values.
        carry_border = canvas is None and self.conv.pads_by_copy
        if carry_border:
            y = pad2d(y, ((1, 1), (1, 1)), "reflect")
        block = nn.remat(ResnetBlock, static_argnums=(2, 4)) if self.remat else ResnetBlock
        for i in range(self.n_blocks):
            y = block(self.ngf * 4, self.norm, self.use_dropout, self.dtype, self.conv,
                      carry_border, self.init_type, self.init_gain, name=f"block_{i}")(
                          y, train, level[2], use_running_average)
        if carry_border:
            y = y[:, 1:-1, 1:-1]
        # Upsampling, twice: ConvTranspose2d(k3, stride 2, padding 1, output_padding 1), norm, ReLU
        for i in range(2):
            y = self.conv.transposed(self.ngf * 2 ** (1 - i), normed=True, use_bias=use_bias,
                                     kernel_init=kernel_init(self.init_type, self.init_gain),
                                     bias_init=bias_init, dtype=self.dtype,
                                     name=f"up_{i}")(y, level[2 - i])
            y = norm_act(y, canvas=level[1 - i], name=f"up_norm_{i}")
        # ReflectionPad2d(3), Conv2d(ngf, output_nc, 7), Tanh
        y = conv(self.output_nc, 7, padding=3, pad_mode="reflect", name="conv_out")(y, level[0])
        return jnp.tanh(y.astype(jnp.float32))


class UnetGenerator(nn.Module):
    """The official `UnetGenerator` (netG `unet_128`: num_downs 7, `unet_256`: 8).

    Level d = 0 (outermost) .. num_downs - 1 (innermost) halves the size with
    `down_{d}` (Conv2d k4 stride 2 padding 1) and doubles it back with `up_{d}`
    (ConvTranspose2d k4 stride 2 padding 1); levels 1 .. num_downs - 2 have `down_norm_{d}`,
    levels >= 1 `up_norm_{d}`; level d >= 1 passes on the concatenation of its input and
    its up path, level 0 ends in Tanh. Channels: ngf min(2^d, 8) inside level d; levels
    4 .. num_downs - 2 have Dropout(0.5) after their up path when `use_dropout`.

    The official down path applies `LeakyReLU(0.2, inplace=True)` to a level's input
    before its down conv, in place, so the skip connection that is concatenated after it
    carries the *activated* input; so does this one.

    Input NHWC in [-1, 1] with H and W multiples of 2^num_downs; output in [-1, 1].
    """

    ngf: int = 64
    num_downs: int = 8
    input_nc: int = 3
    output_nc: int = 3
    norm: str = "batch"
    use_dropout: bool = False
    dtype: Any = jnp.float32
    conv: ConvLayers = ConvLayers()
    init_type: str = "normal"
    init_gain: float = 0.02

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, canvas: Canvas | None = None,
                 use_running_average: bool = False) -> jax.Array:
        if canvas is not None:
            raise ValueError("a U-Net sees the whole image: it cannot run images of different "
                             "sizes in one padded batch; translate them one size at a time")
        if x.shape[-1] != self.input_nc:
            raise ValueError(
                f"generator expects {self.input_nc} input channels (NHWC), got shape {x.shape}")
        depth = self.num_downs
        if depth < 5:
            raise ValueError(f"a UnetGenerator needs num_downs >= 5, got {depth}")
        multiple = 2 ** depth
        if x.shape[1] % multiple or x.shape[2] % multiple:
            raise ValueError(f"a UnetGenerator with {depth} downsamplings needs height and width "
                             f"that are multiples of {multiple}, got {x.shape[1]} x {x.shape[2]}")
        init = kernel_init(self.init_type, self.init_gain)
        scale_init = norm_scale_init(self.init_gain)
        use_bias = conv_bias(self.norm)
        inner = [self.ngf * min(2 ** d, 8) for d in range(depth)]
        outer = [self.output_nc] + inner[:-1]  # what level d's up path gives back

        def norm(y, name):
            return norm_layer(self.norm, name, self.dtype, scale_init)(y, None, use_running_average)

        skips = []
        y = x.astype(self.dtype)
        for d in range(depth):
            if d > 0:
                y = nn.leaky_relu(y, 0.2)
                skips.append(y)
            y = self.conv(inner[d], 4, strides=2, padding=1, kernel_init=init,
                          bias_init=bias_init, dtype=self.dtype, normed=0 < d < depth - 1,
                          use_bias=use_bias, name=f"down_{d}")(y)
            if 0 < d < depth - 1:
                y = norm(y, f"down_norm_{d}")
        for d in reversed(range(1, depth)):
            y = self.conv.doubling(outer[d], kernel_init=init, bias_init=bias_init,
                                   dtype=self.dtype, normed=True, use_bias=use_bias,
                                   name=f"up_{d}")(nn.relu(y))
            y = norm(y, f"up_norm_{d}")
            if self.use_dropout and 4 <= d < depth - 1:
                y = nn.Dropout(0.5, deterministic=not train)(y)
            y = jnp.concatenate([skips[d - 1], y], axis=-1)
        # The outermost up conv always has its bias, then Tanh.
        y = self.conv.doubling(self.output_nc, kernel_init=init, bias_init=bias_init,
                               dtype=self.dtype, name="up_0")(nn.relu(y))
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
    init_type: str = "normal"
    init_gain: float = 0.02

    @nn.compact
    def __call__(self, x: jax.Array, use_running_average: bool = False) -> jax.Array:
        if self.n_layers < 0:
            raise ValueError(f"n_layers must be >= 0, got {self.n_layers}")
        conv = functools.partial(self.conv, kernel_size=4, padding=1,
                                 kernel_init=kernel_init(self.init_type, self.init_gain),
                                 bias_init=bias_init, dtype=self.dtype)
        y = x.astype(self.dtype)
        # Conv2d(input_nc, ndf, 4, stride 2, padding 1), LeakyReLU(0.2): no norm on the first
        y = nn.leaky_relu(conv(self.ndf, strides=2, name="conv_0")(y), 0.2)
        # Convs to ndf * min(2^n, 8) channels for n = 1 .. n_layers (stride 2, the last
        # stride 1; with n_layers 0 one stride-1 conv to ndf), norm, LeakyReLU(0.2)
        for n in range(1, max(self.n_layers, 1) + 1):
            y = conv(self.ndf * min(2 ** min(n, self.n_layers), 8),
                     strides=2 if n < self.n_layers else 1, normed=True,
                     use_bias=conv_bias(self.norm), name=f"conv_{n}")(y)
            y = norm_layer(self.norm, f"norm_{n}", self.dtype, norm_scale_init(self.init_gain))(
                y, None, use_running_average)
            y = nn.leaky_relu(y, 0.2)
        # Conv2d(ndf * min(2^n_layers, 8), 1, 4, padding 1): one score per patch
        return conv(1, name="conv_out")(y).astype(jnp.float32)


class PixelDiscriminator(nn.Module):
    """The official `PixelDiscriminator` (netD `pixel`, a 1x1 PatchGAN): Conv1x1 to ndf,
    LeakyReLU(0.2), Conv1x1 to 2 ndf, norm, LeakyReLU(0.2), Conv1x1 to 1. Returns raw
    per-pixel scores `[N, H, W, 1]` (float32). As upstream, the last conv has a bias only
    where the norm is an instance norm."""

    ndf: int = 64
    input_nc: int = 3
    norm: str = "instance"
    dtype: Any = jnp.float32
    conv: ConvLayers = ConvLayers()
    init_type: str = "normal"
    init_gain: float = 0.02

    @nn.compact
    def __call__(self, x: jax.Array, use_running_average: bool = False) -> jax.Array:
        use_bias = conv_bias(self.norm)
        conv = functools.partial(self.conv, kernel_size=1,
                                 kernel_init=kernel_init(self.init_type, self.init_gain),
                                 bias_init=bias_init, dtype=self.dtype)
        y = nn.leaky_relu(conv(self.ndf, name="conv_0")(x.astype(self.dtype)), 0.2)
        y = conv(2 * self.ndf, normed=True, use_bias=use_bias, name="conv_1")(y)
        y = norm_layer(self.norm, "norm_1", self.dtype, norm_scale_init(self.init_gain))(
            y, None, use_running_average)
        y = nn.leaky_relu(y, 0.2)
        return conv(1, use_bias=use_bias, name="conv_out")(y).astype(jnp.float32)


def split_variables(variables: dict) -> tuple[dict, dict]:
    """(params, batch_stats) of one network: `variables` is its params, or
    `{"params": ..., "batch_stats": ...}` (networks with batch norm)."""
    if isinstance(variables, dict) and "params" in variables:
        return variables["params"], variables.get("batch_stats", {})
    return variables, {}


def _norm_of(params: dict, batch_stats: dict, norm_name: str, conv_name: str) -> str:
    """The norm option a network's params were built with, read off its first norm layer
    `norm_name` and the conv before it, `conv_name`: that conv has a bias only before an
    instance norm; batch norm and an affine instance norm have a scale."""
    has_scale = bool(params.get(norm_name))
    if "bias" in params[conv_name]:
        return "instance_affine" if has_scale else "instance"
    return "batch" if has_scale or batch_stats else "none"


def generator_from_params(variables: dict, dtype: Any = jnp.float32,
                          conv: ConvLayers = ConvLayers()) -> ResnetGenerator | UnetGenerator:
    """The generator (`ResnetGenerator` or `UnetGenerator`) whose variables `variables` are,
    read off their shapes and names (`split_variables` says what they may be). Dropout
    leaves no trace in params: it is off."""
    params, batch_stats = split_variables(variables)
    if not isinstance(params, dict):
        raise ValueError("generator params must be a dict, e.g. params['G_A']")
    if "down_0" in params and "up_0" in params and "conv_in" not in params:
        depth = sum(1 for k in params if k.startswith("down_") and not k.startswith("down_norm"))
        kernel_in, kernel_out = params["down_0"]["kernel"], params["up_0"]["kernel"]
        return UnetGenerator(
            ngf=kernel_in.shape[-1], num_downs=depth, input_nc=kernel_in.shape[2],
            output_nc=kernel_out.shape[2],
            norm=_norm_of(params, batch_stats, "down_norm_1", "down_1"), dtype=dtype,
            conv=conv)
    try:
        kernel_in = params["conv_in"]["kernel"]
        kernel_out = params["conv_out"]["kernel"]
    except (KeyError, TypeError) as e:
        raise ValueError(
            "params do not look like generator params (a ResnetGenerator has 'conv_in' and "
            "'conv_out', a UnetGenerator 'down_0' and 'up_0'); pass one generator's params, "
            "e.g. params['G_A']") from e
    n_blocks = sum(1 for k in params if k.startswith("block_"))
    return ResnetGenerator(
        ngf=kernel_in.shape[-1], n_blocks=n_blocks, input_nc=kernel_in.shape[2],
        output_nc=kernel_out.shape[-1],
        norm=_norm_of(params, batch_stats, "norm_in", "conv_in"), dtype=dtype, conv=conv)


def discriminator_from_params(variables: dict, dtype: Any = jnp.float32,
                              conv: ConvLayers = ConvLayers()
                              ) -> PatchDiscriminator | PixelDiscriminator:
    """The discriminator (`PatchDiscriminator` or `PixelDiscriminator`) whose variables
    `variables` are, read off their shapes and names."""
    params, batch_stats = split_variables(variables)
    try:
        kernel_0 = params["conv_0"]["kernel"]
        params["conv_out"]["kernel"]
    except (KeyError, TypeError) as e:
        raise ValueError(
            "params do not look like discriminator params (need 'conv_0' and 'conv_out'); "
            "pass one discriminator's params, e.g. params['D_A']") from e
    ndf, input_nc = kernel_0.shape[-1], kernel_0.shape[2]
    norm = _norm_of(params, batch_stats, "norm_1", "conv_1")
    if kernel_0.shape[0] == 1:
        return PixelDiscriminator(ndf=ndf, input_nc=input_nc, norm=norm, dtype=dtype, conv=conv)
    convs = sum(1 for k in params if k.startswith("conv_") and k != "conv_out")
    # n_layers 0 and 1 both have conv_0 and conv_1: 0 keeps ndf channels at stride 1.
    n_layers = convs - 1
    if n_layers == 1 and params["conv_1"]["kernel"].shape[-1] == ndf:
        n_layers = 0
    return PatchDiscriminator(ndf=ndf, n_layers=n_layers, input_nc=input_nc, norm=norm,
                              dtype=dtype, conv=conv)
