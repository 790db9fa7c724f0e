"""The official CycleGAN networks as Flax Linen modules (NHWC, stateless).

`ResnetGenerator` and `PatchDiscriminator` reproduce the official PyTorch
`ResnetGenerator` and `NLayerDiscriminator` (reference §1–§3): reflection padding
for the 7x7 and residual convs, zero padding for the strided and PatchGAN convs,
transposed convs with PyTorch's `padding=1, output_padding=1` semantics, instance
norm with eps 1e-5 and biased variance, weights ~ N(0, 0.02) and zero biases.

Parameter names are chosen so that the official state_dict index of every layer
can be derived from them (see `torch_import.py`). The convolutions come from
`conv.py`, which computes them in the form the backend runs fastest.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from cyclegan_jax.conv import Conv, UpsampleConv, conv_form, pad2d

NORMS = ("instance", "instance_affine")


def conv_init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
    """N(0, 0.02), the official `init_weights`: the numbers of `nn.initializers.normal(0.02)`,
    drawn as one flat vector and reshaped.

    With `jax_threefry_partitionable` (the default) the draw does not depend on the shape,
    but XLA:CPU compiles a 1-D draw several times faster than a 4-D one: the 46 kernels of
    the ngf-8 model in 8-10 s instead of 30 s on a 2-core VM, most of `create_train_state`.
    """
    return (jax.random.normal(key, (math.prod(shape),), dtype) * jnp.asarray(0.02, dtype)
            ).reshape(shape)


bias_init = nn.initializers.zeros


def reflect_pad(x: jax.Array, pad: int, valid: jax.Array) -> jax.Array:
    """`torch.nn.ReflectionPad2d(pad)` of each image of a canvas at its own edges.

    `valid` ([N, 2] int) holds each image's height and width at the top left of the
    larger canvas `x` (NHWC); each image is reflected at its own bottom and right
    edges instead of the canvas's, so the padded content equals that of the image
    alone. (Whole arrays are padded inside the conv: `Conv(pad_mode="reflect")`.)
    """
    def source_index(size: int, v: jax.Array) -> jax.Array:  # [N, size + 2 pad]
        s = jnp.arange(size + 2 * pad)[None, :] - pad
        s = jnp.where(s < 0, -s, jnp.where(s < v[:, None], s, 2 * (v[:, None] - 1) - s))
        return jnp.clip(s, 0, size - 1)

    rows = source_index(x.shape[1], valid[:, 0])[:, :, None, None]
    cols = source_index(x.shape[2], valid[:, 1])[:, None, :, None]
    return jnp.take_along_axis(jnp.take_along_axis(x, rows, axis=1), cols, axis=2)


def reflect_conv(x: jax.Array, pad: int, valid: jax.Array | None, **conv_kw: Any) -> jax.Array:
    """`Conv(**conv_kw)` after `ReflectionPad2d(pad)`: the padding is read inside the conv
    (no padded copy) unless `valid` asks for each image's own edges (see `reflect_pad`)."""
    if valid is None:
        return Conv(padding=((pad, pad), (pad, pad)), pad_mode="reflect", **conv_kw)(x)
    return Conv(**conv_kw)(reflect_pad(x, pad, valid))


def valid_mask(valid: jax.Array, height: int, width: int) -> jax.Array:
    """[N, H, W, 1] booleans: inside each image's top-left `valid` region of the canvas."""
    inside_h = jnp.arange(height)[None, :] < valid[:, 0:1]
    inside_w = jnp.arange(width)[None, :] < valid[:, 1:2]
    return (inside_h[:, :, None] & inside_w[:, None, :])[..., None]


# Activation dtypes whose instance-norm statistics are taken in one pass (see `moments`).
ONE_PASS_DTYPES = (jnp.bfloat16, jnp.float16)


def moments(xf: jax.Array, one_pass: bool) -> tuple[jax.Array, jax.Array]:
    """Per sample and channel mean and biased variance of float `xf` (NHWC) over H and W.

    Two passes (the mean, then the mean squared deviation) as PyTorch; or one pass:
    the sums of d and d^2 for d = x minus its sample's first pixel (a shift that keeps
    the float32 sums well conditioned; the statistics do not depend on it, so it takes
    no gradient). One pass reads the activation once instead of twice and its gradient
    needs one pass of reductions instead of two, where the norms' reductions are a large
    share of a memory-bound accelerator step; its float32 rounding (up to ~2e-6 of the
    variance in a check with mean/std ~1.7) is far below bfloat16's (~4e-3).
    """
    if not one_pass:
        mean = jnp.mean(xf, axis=(1, 2), keepdims=True)
        return mean, jnp.mean(jnp.square(xf - mean), axis=(1, 2), keepdims=True)
    shift = jax.lax.stop_gradient(xf[:, :1, :1, :])
    d = xf - shift
    m = jnp.mean(d, axis=(1, 2), keepdims=True)
    var = jnp.maximum(jnp.mean(jnp.square(d), axis=(1, 2), keepdims=True) - jnp.square(m), 0.0)
    return m + shift, var


class InstanceNorm(nn.Module):
    """Instance norm as `torch.nn.InstanceNorm2d(track_running_stats=False)`.

    Statistics are per sample and channel over H and W, with the biased variance and
    eps 1e-5, always computed in float32: in two passes for float32 activations, in
    one for bfloat16 and float16 ones (`moments`); with `valid` (see `reflect_pad`),
    over each image's region of a canvas only. With `affine=True` a learned
    per-channel `scale` (init 1) and `bias` (init 0) follow, as in forks that use
    `InstanceNorm2d(affine=True)`.
    """

    affine: bool = False
    epsilon: float = 1e-5
    dtype: Any = jnp.float32  # output dtype

    @nn.compact
    def __call__(self, x: jax.Array, valid: jax.Array | None = None) -> jax.Array:
        xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
        if valid is None:
            mean, var = moments(xf, x.dtype in ONE_PASS_DTYPES)
        else:  # statistics over each image's valid region of the canvas only
            mask = valid_mask(valid, x.shape[1], x.shape[2]).astype(xf.dtype)
            count = (valid[:, 0] * valid[:, 1]).astype(xf.dtype)[:, None, None, None]
            mean = jnp.sum(xf * mask, axis=(1, 2), keepdims=True) / count
            var = jnp.sum(jnp.square((xf - mean) * mask), axis=(1, 2), keepdims=True) / count
        y = (xf - mean) * jax.lax.rsqrt(var + self.epsilon)
        if self.affine:
            features = x.shape[-1]
            y = y * self.param("scale", nn.initializers.ones, (features,), jnp.float32)
            y = y + self.param("bias", nn.initializers.zeros, (features,), jnp.float32)
        return y.astype(self.dtype)


@functools.partial(jax.custom_vjp, nondiff_argnums=(1,))
def instance_norm_relu(x: jax.Array, epsilon: float = 1e-5) -> jax.Array:
    """`relu(InstanceNorm()(x))` for whole arrays (no affine, no `valid`), in x's dtype.

    Same values; its gradient takes the ReLU's mask from `x > mean` (the same mask, but
    for values within ~1e-38 of the mean) in each of the norm gradient's two passes, a
    reduction and an elementwise pass. Under plain autodiff XLA writes the masked
    gradient once and reads it in both passes: in the H100 compile of the bf16 step at
    256^2, batch 32 (`benchmarks/gpu_hlo.py`), 26.6 GB of such kernels per step, and the
    step's traffic falls from 251.4 to 242.3 GB without them. The mask is a float factor,
    max(sign(x - mean), 0), not a select: with `jnp.where(x > mean, ...)` XLA:GPU wrote
    the boolean mask of the norms after the space-to-depth and sub-pixel convs to memory
    and read it in both passes (8.4 GB per step in that compile; 240.3 GB with it, 231.9
    without).
    """
    return _norm_relu_fwd(x, epsilon)[0]


def _norm_relu_fwd(x: jax.Array, epsilon: float) -> tuple[jax.Array, tuple]:
    xf = x.astype(jnp.promote_types(x.dtype, jnp.float32))
    mean, var = moments(xf, x.dtype in ONE_PASS_DTYPES)
    r = jax.lax.rsqrt(var + epsilon)
    return nn.relu(((xf - mean) * r).astype(x.dtype)), (x, mean, r)


def _norm_relu_bwd(epsilon: float, res: tuple, g: jax.Array) -> tuple[jax.Array]:
    del epsilon  # in r already
    x, mean, r = res
    xf = x.astype(mean.dtype)
    xhat = (xf - mean) * r
    gm = g.astype(mean.dtype) * jnp.maximum(jnp.sign(xf - mean), 0.0)
    a = jnp.mean(gm, axis=(1, 2), keepdims=True)
    b = jnp.mean(gm * xhat, axis=(1, 2), keepdims=True)
    return ((r * (gm - a - xhat * b)).astype(x.dtype),)


instance_norm_relu.defvjp(_norm_relu_fwd, _norm_relu_bwd)


def norm_relu(y: jax.Array, affine: bool, valid: jax.Array | None, dtype: Any,
              name: str) -> jax.Array:
    """ReLU of the `InstanceNorm` named `name` (in the calling module), by
    `instance_norm_relu` where that applies: no affine and whole arrays."""
    if affine or valid is not None:
        return nn.relu(InstanceNorm(affine, dtype=dtype, name=name)(y, valid))
    return instance_norm_relu(y)


def _check_norm(norm: str) -> None:
    if norm not in NORMS:
        raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


class ResnetBlock(nn.Module):
    """x + [reflect-pad, conv3x3, IN, ReLU, (dropout), reflect-pad, conv3x3, IN](x).

    With `padded`, x arrives with its 1-pixel reflect border already around it (see
    `ResnetGenerator`), and the output leaves with its own.
    """

    dim: int
    norm: str = "instance"
    use_dropout: bool = False
    dtype: Any = jnp.float32
    conv_impl: str = "auto"
    padded: bool = False

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False,
                 valid: jax.Array | None = None) -> jax.Array:
        affine = self.norm == "instance_affine"
        conv_kw = dict(features=self.dim, kernel_size=(3, 3), kernel_init=conv_init,
                       bias_init=bias_init, dtype=self.dtype, impl=self.conv_impl, normed=True)
        if self.padded:
            y = Conv(name="conv_0", **conv_kw)(x)
        else:
            y = reflect_conv(x, 1, valid, name="conv_0", **conv_kw)
        y = norm_relu(y, affine, valid, self.dtype, "norm_0")
        if self.use_dropout:
            y = nn.Dropout(0.5, deterministic=not train)(y)
        y = reflect_conv(y, 1, valid, name="conv_1", **conv_kw)
        y = InstanceNorm(affine, dtype=self.dtype, name="norm_1")(y, valid)
        return x + (pad2d(y, ((1, 1), (1, 1)), "reflect") if self.padded else y)


class ResnetGenerator(nn.Module):
    """The official ResNet generator (`resnet_9blocks` / `resnet_6blocks`).

    c7s1-ngf, two stride-2 downsampling convs, `n_blocks` residual blocks, two
    stride-2 transposed convs, c7s1-output_nc and tanh. Input NHWC in [-1, 1] with
    H and W multiples of 4; output NHWC in [-1, 1] of the same H and W.
    `train=True` enables dropout (needs a 'dropout' rng) when `use_dropout` is set.
    `valid` ([N, 2] int, multiples of 4) runs each image of a larger canvas as if it
    were alone: its height and width at the top left, the rest ignored (reflection at
    the image's own edges, norm statistics over the image only).
    """

    ngf: int = 64
    n_blocks: int = 9
    input_nc: int = 3
    output_nc: int = 3
    norm: str = "instance"
    use_dropout: bool = False
    dtype: Any = jnp.float32
    remat: bool = False  # recompute residual blocks in the backward pass to save memory
    conv_impl: str = "auto"  # see conv.py: "auto" picks the fastest form for the backend

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False,
                 valid: jax.Array | None = None) -> jax.Array:
        _check_norm(self.norm)
        if x.shape[-1] != self.input_nc:
            raise ValueError(
                f"generator expects {self.input_nc} input channels (NHWC), got shape {x.shape}")
        affine = self.norm == "instance_affine"
        conv_kw = dict(kernel_init=conv_init, bias_init=bias_init, dtype=self.dtype,
                       impl=self.conv_impl)

        # The valid region at full, half and quarter resolution (None: the whole array).
        level = [None if valid is None else valid // 2 ** k for k in range(3)]

        y = x.astype(self.dtype)
        y = reflect_conv(y, 3, level[0], features=self.ngf, kernel_size=(7, 7), name="conv_in",
                         normed=True, **conv_kw)
        y = norm_relu(y, affine, level[0], self.dtype, "norm_in")
        # A stride-2 conv's last valid output reads only valid rows: no masking needed.
        for i in range(2):
            y = Conv(self.ngf * 2 ** (i + 1), (3, 3), strides=(2, 2), padding=((1, 1), (1, 1)),
                     normed=True, name=f"down_{i}", **conv_kw)(y)
            y = norm_relu(y, affine, level[i + 1], self.dtype, f"down_norm_{i}")
        block = nn.remat(ResnetBlock, static_argnums=(2,)) if self.remat else ResnetBlock
        # With XLA's convs the residual stream carries its reflect border from block to
        # block: each block's first conv reads it in place, and the residual add writes
        # the next border (pad(x + y) = pad(x) + pad(y)) instead of every block's first
        # conv writing a padded copy. Same values; in the H100 compile of the bf16 step
        # at 256^2, batch 32 (`benchmarks/gpu_hlo.py`) the step's traffic falls from
        # 231.9 to 228.1 GB. (The CPU forms read their padding in place already.)
        padded = valid is None and conv_form(self.conv_impl) != "matmul"
        if padded:
            y = pad2d(y, ((1, 1), (1, 1)), "reflect")
        for i in range(self.n_blocks):
            y = block(self.ngf * 4, self.norm, self.use_dropout, self.dtype, self.conv_impl,
                      padded, name=f"block_{i}")(y, train, level[2])
        if padded:
            y = y[:, 1:-1, 1:-1]
        for i in range(2):
            if valid is not None:  # the transposed conv reads one row past the edge: zero it
                y = y * valid_mask(level[2 - i], y.shape[1], y.shape[2]).astype(y.dtype)
            y = UpsampleConv(self.ngf * 2 ** (1 - i), normed=True, name=f"up_{i}", **conv_kw)(y)
            y = norm_relu(y, affine, level[1 - i], self.dtype, f"up_norm_{i}")
        y = reflect_conv(y, 3, level[0], features=self.output_nc, kernel_size=(7, 7),
                         name="conv_out", **conv_kw)
        return jnp.tanh(y.astype(jnp.float32))


class PatchDiscriminator(nn.Module):
    """The official PatchGAN discriminator (`NLayerDiscriminator`, netD 'basic' at n_layers 3).

    k4 convs with zero padding 1 and LeakyReLU(0.2); no norm on the first layer, no
    sigmoid at the end. Returns raw patch scores `[N, h, w, 1]` (float32), e.g. 30x30
    for 256x256 inputs at n_layers 3.
    """

    ndf: int = 64
    n_layers: int = 3
    input_nc: int = 3
    norm: str = "instance"
    dtype: Any = jnp.float32
    conv_impl: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        _check_norm(self.norm)
        affine = self.norm == "instance_affine"
        conv_kw = dict(kernel_size=(4, 4), padding=((1, 1), (1, 1)), kernel_init=conv_init,
                       bias_init=bias_init, dtype=self.dtype, impl=self.conv_impl)
        y = x.astype(self.dtype)
        y = nn.leaky_relu(Conv(self.ndf, strides=(2, 2), name="conv_0", **conv_kw)(y), 0.2)
        for n in range(1, self.n_layers + 1):
            stride = 2 if n < self.n_layers else 1
            y = Conv(self.ndf * min(2 ** n, 8), strides=(stride, stride), normed=True,
                     name=f"conv_{n}", **conv_kw)(y)
            y = InstanceNorm(affine, dtype=self.dtype, name=f"norm_{n}")(y)
            y = nn.leaky_relu(y, 0.2)
        y = Conv(1, strides=(1, 1), name="conv_out", **conv_kw)(y)
        return y.astype(jnp.float32)


def generator_from_params(params: dict, dtype: Any = jnp.float32) -> ResnetGenerator:
    """Rebuilds the `ResnetGenerator` whose parameters `params` are (shapes and names only)."""
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
        norm="instance_affine" if "norm_in" in params else "instance", dtype=dtype)
