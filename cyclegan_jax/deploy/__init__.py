"""Generators as artifacts that run without this project: uint8 NHWC images in, uint8 NHWC
images out, pre- and post-processing inside (`function.uint8_translator`), as a
serialized `jax.export` (StableHLO), an ONNX model, or a TensorFlow SavedModel / TFLite
file (`artifact.export_generator`)."""

from cyclegan_jax.deploy.artifact import FORMATS, export_generator
from cyclegan_jax.deploy.function import uint8_translator

__all__ = ["FORMATS", "export_generator", "uint8_translator"]
