"""One generator as a pure function of uint8 images, the thing every export format holds."""

from __future__ import annotations

import dataclasses
from typing import Callable

import jax

from cyclegan_jax.errors import UserError
from cyclegan_jax.eval.inference import apply_network
from cyclegan_jax.images import float_to_uint8_traced, uint8_to_float
from cyclegan_jax.nn.layers import ConvLayers
from cyclegan_jax.nn.networks import UnetGenerator, generator_from_params


@dataclasses.dataclass(frozen=True)
class Uint8Translator:
    """`fn(x)`: uint8 `[N, H, W, input_nc]` -> uint8 `[N, H, W, output_nc]`, equal to
    `float_to_uint8(translate(params, uint8_to_float(x)))` up to one level (convolution
    rounding) for H and W multiples of `multiple` and at least `min_side`."""

    fn: Callable[[jax.Array], jax.Array]
    input_nc: int
    output_nc: int
    multiple: int  # 4 for a ResNet, 2^num_downs for a U-Net
    min_side: int

    def shape_spec(self) -> str:
        """`b, M*h, M*w, C`: batch and sides symbolic, sides multiples of `multiple`."""
        return f"b, {self.multiple}*h, {self.multiple}*w, {self.input_nc}"

    def constraints(self) -> list[str]:
        """The sizes the network takes, as constraints on `shape_spec`'s symbols."""
        lowest = self.min_side // self.multiple
        return [f"h >= {lowest}", f"w >= {lowest}"]

    def check_size(self, size: tuple[int, int]) -> None:
        """`UserError` unless an H x W image is one the network takes."""
        if any(side % self.multiple or side < self.min_side for side in size):
            raise UserError(f"this generator takes sides that are multiples of {self.multiple} "
                            f"and at least {self.min_side}; got {size[0]}x{size[1]}")

    def symbolic_shape(self) -> tuple:
        """`shape_spec` with its `constraints`, for `jax.export`."""
        return jax.export.symbolic_shape(self.shape_spec(), constraints=self.constraints())


def uint8_translator(variables: dict, eval_mode: bool = False) -> Uint8Translator:
    """The generator `variables` (params, or `{"params", "batch_stats"}`) as a uint8 function.

    It uses XLA's own convolutions (`conv_impl="xla"`), which need no index tables built
    from concrete shapes, so height, width and batch can stay symbolic. `eval_mode` as in
    `translate` (batch norm's running statistics).
    """
    net = generator_from_params(variables, conv=ConvLayers("xla"))

    def fn(x: jax.Array) -> jax.Array:
        return float_to_uint8_traced(apply_network(net, variables, uint8_to_float(x), eval_mode))

    if isinstance(net, UnetGenerator):
        multiple = 2 ** net.num_downs
        return Uint8Translator(fn, net.input_nc, net.output_nc, multiple, multiple)
    # A ResNet's quarter-size maps need 2 pixels for the blocks' reflect padding.
    return Uint8Translator(fn, net.input_nc, net.output_nc, 4, 8)
