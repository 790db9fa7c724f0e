"""The conv layers the networks are built with, and `ConvLayers`, the factory they receive.

`Conv`, `UpsampleConv` and `DoublingConv` hold the parameters of `nn.Conv` and
`nn.ConvTranspose(transpose_kernel=True)` (kernel and, unless `use_bias=False`, bias: the
same names, shapes and init), so checkpoints and the PyTorch importer do not depend on how the convolution is
computed; that is `ops.conv`'s choice, by the run's `conv_impl`. A network receives a
`ConvLayers` (as flax's imagenet ResNet receives `conv`), a frozen dataclass that
compares and hashes by value: it rides in the static `HParams`, and two equal ones share
a compiled train step.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from cyclegan_jax.nn.canvas import Canvas
from cyclegan_jax.ops import conv as conv_ops
from cyclegan_jax.ops.padding import Padding


def _kernel_and_bias(module: nn.Module, kernel_shape: tuple[int, ...]
                     ) -> tuple[jax.Array, jax.Array | None]:
    """`module`'s float32 params "kernel" (`kernel_shape`) and "bias" ([features]; None
    without `module.use_bias`), cast to its compute dtype.

    With `module.normed` (an instance norm follows) the bias takes no gradient: the norm
    subtracts each channel's mean, so the bias changes no output and its gradient is zero
    in exact arithmetic. Computing it costs a reduction over the conv's output, and Adam
    would turn its rounding noise into steps of about +-lr, as in PyTorch, to no effect.
    """
    kernel = module.param("kernel", module.kernel_init, kernel_shape, jnp.float32)
    if not module.use_bias:
        return kernel.astype(module.dtype), None
    bias = module.param("bias", module.bias_init, (module.features,), jnp.float32)
    if module.normed:
        bias = jax.lax.stop_gradient(bias)
    return kernel.astype(module.dtype), bias.astype(module.dtype)


class Conv(nn.Module):
    """A conv with explicit zero or reflect padding (params as `nn.Conv`: kernel, bias)."""

    features: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: Padding = ((0, 0), (0, 0))
    pad_mode: str = "zero"  # or "reflect" (torch.nn.ReflectionPad2d)
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros
    dtype: Any = jnp.float32
    impl: str = "auto"  # ops.conv.IMPLS
    normed: bool = False  # an instance norm follows: the bias takes no gradient
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, canvas: Canvas | None = None) -> jax.Array:
        kernel, bias = _kernel_and_bias(
            self, tuple(self.kernel_size) + (x.shape[-1], self.features))
        x, padding = x.astype(self.dtype), self.padding
        if canvas is not None and self.pad_mode == "reflect":  # each image at its own edges
            x, padding = canvas.reflect_pad(x, padding), ((0, 0), (0, 0))
        return conv_ops.conv2d(x, kernel, tuple(self.strides), padding, self.impl,
                               self.pad_mode, bias)


class UpsampleConv(nn.Module):
    """The generator's `ConvTranspose2d(k=3, stride=2, padding=1, output_padding=1)`; params
    as `nn.ConvTranspose(features, (3, 3), transpose_kernel=True)`: kernel [3, 3, features,
    in] and bias."""

    features: int
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros
    dtype: Any = jnp.float32
    impl: str = "auto"
    normed: bool = False  # an instance norm follows: the bias takes no gradient
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, canvas: Canvas | None = None) -> jax.Array:
        kernel, bias = _kernel_and_bias(self, (3, 3, self.features, x.shape[-1]))
        if canvas is not None:  # it reads one row and column past each image: zeros there
            x = x * canvas.mask(x.shape[1], x.shape[2]).astype(x.dtype)
        return conv_ops.upsample2x(x.astype(self.dtype), kernel, self.impl, bias)


class DoublingConv(nn.Module):
    """The U-Net's `ConvTranspose2d(k=4, stride=2, padding=1)`: twice the size; params as
    `UpsampleConv` (kernel [4, 4, features, in], the torch weight `.transpose(2, 3, 1, 0)`)."""

    features: int
    kernel_init: Callable = nn.initializers.lecun_normal()
    bias_init: Callable = nn.initializers.zeros
    dtype: Any = jnp.float32
    normed: bool = False  # an instance norm follows: the bias takes no gradient
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel, bias = _kernel_and_bias(self, (4, 4, self.features, x.shape[-1]))
        y = conv_ops.double4x4(x.astype(self.dtype), kernel)
        return y if bias is None else y + bias


def _pair(value: int | Sequence[int]) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


@dataclasses.dataclass(frozen=True)
class ConvLayers:
    """Builds the conv layers of a network in the form `impl` (`ops.conv.IMPLS`) stands for.

    `conv(features, 7, padding=3, pad_mode="reflect", name=...)` is `Conv` with square
    sizes given as ints; `conv.transposed(features, name=...)` is `UpsampleConv`.
    """

    impl: str = "auto"

    def __post_init__(self):
        conv_ops.check_impl(self.impl)

    def __call__(self, features: int, kernel_size: int | Sequence[int], *,
                 strides: int | Sequence[int] = 1, padding: int | Padding = 0,
                 **kwargs: Any) -> Conv:
        pad = ((padding, padding),) * 2 if isinstance(padding, int) else padding
        return Conv(features, _pair(kernel_size), strides=_pair(strides), padding=pad,
                    impl=self.impl, **kwargs)

    def transposed(self, features: int, **kwargs: Any) -> UpsampleConv:
        return UpsampleConv(features, impl=self.impl, **kwargs)

    def doubling(self, features: int, **kwargs: Any) -> DoublingConv:
        """The U-Net's k4 stride-2 transposed conv (XLA's form on every backend)."""
        return DoublingConv(features, **kwargs)

    @property
    def form(self) -> str:
        """The form (`ops.conv.FORMS`) the layers compute in on this backend."""
        return conv_ops.conv_form(self.impl)

    @property
    def pads_by_copy(self) -> bool:
        """Whether a padded conv writes a padded copy of its input first (XLA's convs), rather
        than reading its padding in place (the CPU's matrix-product forms)."""
        return self.form != "matmul"
