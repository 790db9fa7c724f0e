"""A generator as an ONNX model (through jax2onnx, an optional install)."""

from __future__ import annotations

import jax
import jax.numpy as jnp

from cyclegan_jax.deploy.function import Uint8Translator
from cyclegan_jax.errors import UserError

INSTALL = ("pip install onnx onnx-ir onnxruntime && pip install --no-deps jax2onnx "
           "(--no-deps: jax2onnx 0.17.1 pins orbax-checkpoint<0.11.37 and would downgrade "
           "the training stack; what it needs for this export is onnx and onnx-ir)")


def to_onnx(translator: Uint8Translator) -> bytes:
    """The serialized ONNX model of `translator.fn`: input `images` uint8 [N, H, W, C] with
    batch, height and width dynamic, output `translated` of the same size."""
    try:
        import jax2onnx
    except ImportError as e:
        raise UserError(f"--format=onnx needs jax2onnx: {INSTALL}") from e
    if translator.multiple == 4:
        # A ResNet: plain symbols (jax2onnx 0.17.1 cannot trace back `4*h` through its layers).
        lowest = translator.min_side
        shape = jax.export.symbolic_shape(f"N, H, W, {translator.input_nc}",
                                          constraints=[f"H >= {lowest}", f"W >= {lowest}"])
    else:  # a U-Net checks that its sides are multiples of 2^depth: they are written so
        shape = translator.symbolic_shape()
    spec = jax.ShapeDtypeStruct(shape, jnp.uint8)
    model = jax2onnx.to_onnx(translator.fn, [spec], model_name="cyclegan_jax_generator",
                             input_names=["images"], output_names=["translated"])
    return model.SerializeToString()
