"""A generator as a TensorFlow SavedModel or TFLite file, through `jax2tf` (TensorFlow is an
optional install, as for preparing TFDS datasets; it never enters the training stack)."""

from __future__ import annotations

import importlib.util
import os

from cyclegan_jax.deploy.function import Uint8Translator
from cyclegan_jax.errors import UserError

INSTALL = ("pip install tensorflow-cpu, best in its own virtual environment: with TensorFlow "
           "installed, etils.epath reads gs:// paths through tf.io.gfile instead of gcsfs")


def _tensorflow():
    if importlib.util.find_spec("tensorflow") is None:
        raise UserError(f"--format=saved_model and tflite need TensorFlow: {INSTALL}")
    import tensorflow as tf

    return tf


def _module(translator: Uint8Translator, tf, size: tuple[int, int] | None):
    """A tf.Module whose `serve` signature maps `images` (uint8 [N, H, W, C]) to
    `translated`; the weights are inside the converted function. `size`: one fixed
    [1, H, W, C] input instead of free batch, height and width."""
    from jax.experimental import jax2tf

    if size is None:
        converted = jax2tf.convert(
            translator.fn, polymorphic_shapes=[f"({translator.shape_spec()})"],
            polymorphic_constraints=translator.constraints(), with_gradient=False)
        signature = [None, None, None, translator.input_nc]
    else:
        converted = jax2tf.convert(translator.fn, with_gradient=False)
        signature = [1, *size, translator.input_nc]
    module = tf.Module()
    module.serve = tf.function(
        lambda images: {"translated": converted(images)}, autograph=False,
        input_signature=[tf.TensorSpec(signature, tf.uint8, name="images")])
    return module


def write_saved_model(translator: Uint8Translator, directory: str,
                      size: tuple[int, int] | None = None) -> None:
    """Writes a SavedModel with one signature, `serving_default`: images -> translated
    (batch, height and width free, or one `size` image)."""
    tf = _tensorflow()
    module = _module(translator, tf, size)
    tf.saved_model.save(module, directory, signatures={"serving_default": module.serve})


def to_tflite(translator: Uint8Translator, scratch_dir: str, size: tuple[int, int]) -> bytes:
    """A TFLite flatbuffer for one uint8 image of `size` (H, W): the TFLite converter
    cannot take jax2tf's free sizes (they lower to dynamic gathers it does not know).
    The SavedModel it converts is written to `scratch_dir` on the way."""
    translator.check_size(size)
    tf = _tensorflow()
    saved = os.path.join(scratch_dir, "saved_model")
    write_saved_model(translator, saved, size)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS,
                                           tf.lite.OpsSet.SELECT_TF_OPS]
    try:
        return converter.convert()
    except Exception as e:  # noqa: BLE001  (the converter raises its own many types)
        raise UserError(f"TensorFlow Lite could not convert the generator: {e}") from e
