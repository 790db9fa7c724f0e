"""Export a generator as an artifact that maps uint8 NHWC images to uint8 NHWC images.

  python export.py --workdir=runs/h2z --direction=AtoB --format=stablehlo --output=h2z.jax
  python export.py --generator=horse2zebra.pth --format=onnx --output=horse2zebra.onnx
  python export.py --pretrained=horse2zebra --format=saved_model --output=h2z_saved_model

Formats: stablehlo (jax.export, serialized; `jax.export.deserialize(data).call(x)`), onnx
(needs jax2onnx: see the README), saved_model and tflite (need TensorFlow). Nothing is
left at --output when an export fails.
"""

from absl import app, flags, logging

from cyclegan_jax import cli

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("workdir", None, "A run directory (train.py or import_torch.py).")
    flags.DEFINE_enum("direction", "AtoB", ["AtoB", "BtoA"], "With --workdir: which "
                      "generator (CycleGAN: G_A or G_B; pix2pix: the direction it was trained).")
    flags.DEFINE_string("generator", None, "Instead of --workdir: one generator file (an "
                        "official .pth, or .msgpack from import_torch.py).")
    flags.DEFINE_string("pretrained", None, "Instead of --workdir: an official pretrained "
                        "CycleGAN generator by name (e.g. horse2zebra), downloaded once.")
    flags.DEFINE_enum("format", "stablehlo", ["stablehlo", "onnx", "saved_model", "tflite"],
                      "Artifact format.")
    flags.DEFINE_string("output", None, "Where the artifact goes (a folder for saved_model).",
                        required=True)
    flags.DEFINE_string("tflite_size", "256x256", "--format=tflite: the one image size (HxW) "
                        "the model takes (TFLite cannot take free sizes from jax2tf).")
    flags.DEFINE_bool("eval", False, "Batch norm by its running statistics (the official "
                      "test.py --eval); default: the batch's own statistics.")


def export() -> None:
    from cyclegan_jax import deploy, pretrained
    from cyclegan_jax.eval.runner import run_generators
    from cyclegan_jax.torch_compat import load_generator

    sources = [s for s in (FLAGS.workdir, FLAGS.generator, FLAGS.pretrained) if s]
    if len(sources) != 1:
        raise app.UsageError("pass exactly one of --workdir, --generator, --pretrained")
    if FLAGS.workdir:
        variables = run_generators(FLAGS.workdir, FLAGS.direction)[0]
    elif FLAGS.generator:
        variables = load_generator(FLAGS.generator)
    else:
        variables = pretrained.load(FLAGS.pretrained)
    try:
        size = tuple(int(v) for v in FLAGS.tflite_size.lower().split("x"))
        assert len(size) == 2
    except (ValueError, AssertionError):
        raise app.UsageError(f"--tflite_size must be HxW, e.g. 256x256; got {FLAGS.tflite_size!r}")
    path = deploy.export_generator(variables, FLAGS.format, FLAGS.output, FLAGS.eval, size)
    logging.info("wrote %s (%s): uint8 NHWC images in, uint8 NHWC images out", path, FLAGS.format)
    print(path)


if __name__ == "__main__":
    cli.run(define_flags, export)
