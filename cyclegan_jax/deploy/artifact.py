"""`export_generator`: one generator written as an artifact of a format, atomically."""

from __future__ import annotations

import os
import shutil
import tempfile

from cyclegan_jax import files
from cyclegan_jax.deploy.function import uint8_translator
from cyclegan_jax.deploy.onnx_model import to_onnx
from cyclegan_jax.deploy.stablehlo import to_stablehlo
from cyclegan_jax.deploy.tensorflow_model import to_tflite, write_saved_model
from cyclegan_jax.errors import UserError

FORMATS = ("stablehlo", "onnx", "saved_model", "tflite")  # saved_model writes a folder


def export_generator(variables: dict, fmt: str, output: files.PathLike,
                     eval_mode: bool = False, tflite_size: tuple[int, int] = (256, 256)) -> str:
    """Writes the generator `variables` to `output` as `fmt` (one of `FORMATS`); returns
    the output path. The artifact maps uint8 NHWC images to uint8 NHWC images
    (`deploy.function.uint8_translator`): batch, height and width free (sides multiples of
    4, or 2^depth for a U-Net), except tflite, which takes one `tflite_size` image.
    Nothing is left at `output` if the export fails; an existing `output` is replaced only
    by a complete artifact."""
    if fmt not in FORMATS:
        raise UserError(f"format must be one of {FORMATS}, got {fmt!r}")
    translator = uint8_translator(variables, eval_mode)
    path = str(files.resolve(output))
    if fmt == "saved_model":
        if not files.is_local(path):
            raise UserError(f"--format=saved_model writes a local folder, got {path}")
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=".export-", dir=parent)
        try:
            write_saved_model(translator, os.path.join(scratch, "model"))
            if os.path.exists(path):
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
            os.replace(os.path.join(scratch, "model"), path)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        return path
    if fmt == "tflite":
        with tempfile.TemporaryDirectory() as scratch:
            data = to_tflite(translator, scratch, tflite_size)
    else:
        data = to_stablehlo(translator) if fmt == "stablehlo" else to_onnx(translator)
    files.write_atomic(path, data)
    return path
