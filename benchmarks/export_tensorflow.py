"""Checks the TensorFlow exports (SavedModel, TFLite) against `translate`, in an environment
with TensorFlow (which the test environment must not have: it switches etils.epath's gs://
backend). Prints one row per check and exits non-zero if any artifact differs from
`float_to_uint8(translate(...))` by more than one uint8 level.

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install -r requirements.txt tensorflow-cpu
    /tmp/tfvenv/bin/python benchmarks/export_tensorflow.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # noqa: E402

import cyclegan_jax  # noqa: E402
from cyclegan_jax import deploy  # noqa: E402
from tests import helpers  # noqa: E402


def _reference(variables: dict, x: np.ndarray) -> np.ndarray:
    return cyclegan_jax.float_to_uint8(cyclegan_jax.translate(variables,
                                                              cyclegan_jax.uint8_to_float(x)))


def _tflite(path: str, x: np.ndarray) -> np.ndarray:
    interpreter = tf.lite.Interpreter(model_path=path)
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], x)
    interpreter.invoke()
    return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])


def main() -> int:
    rng = np.random.default_rng(0)  # seeded: test images
    generators = {
        "resnet_6blocks ngf8": cyclegan_jax.create_train_state(helpers.tiny_config(), 0).params["G_A"],
        "unet_128 ngf4 batch norm": cyclegan_jax.create_train_state(helpers.tiny_config(
            netG="unet_128", ngf=4, norm="batch", crop_size=128, load_size=128), 0)
        .network_variables()["G_A"],
    }
    failures = 0
    print(f"tensorflow {tf.__version__}")
    print(f"{'generator':<26} {'format':<12} {'input':<14} {'max |diff|':>10} {'seconds':>8}")
    with tempfile.TemporaryDirectory() as out:
        for label, variables in generators.items():
            # a U-Net takes multiples of 2^7 = 128; a ResNet multiples of 4
            size = (256, 128) if "unet" in label else (40, 48)
            for fmt in ("saved_model", "tflite"):
                start = time.perf_counter()
                path = deploy.export_generator(variables, fmt, os.path.join(out, f"{len(label)}{fmt}"),
                                               tflite_size=size)
                seconds = time.perf_counter() - start
                shapes = [(1, *size, 3)] if fmt == "tflite" else [(1, *size, 3), (2, *size[::-1], 3)]
                for shape in shapes:
                    x = rng.integers(0, 256, shape, dtype=np.uint8)
                    if fmt == "tflite":
                        y = _tflite(path, x)
                    else:
                        y = tf.saved_model.load(path).signatures["serving_default"](
                            images=tf.constant(x))["translated"].numpy()
                    diff = int(np.abs(y.astype(int) - _reference(variables, x)).max())
                    failures += diff > 1 or y.dtype != np.uint8
                    print(f"{label:<26} {fmt:<12} {'x'.join(map(str, shape)):<14} {diff:>10} "
                          f"{seconds:>8.1f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
