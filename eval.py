"""Evaluate a trained or imported CycleGAN or pix2pix: translated PNGs, an index.html
gallery, metrics.

  python eval.py --workdir=runs/demo                       # test splits, both directions
  python eval.py --workdir=runs/facades                    # pix2pix: DATAROOT/test pairs
  python eval.py --workdir=runs/h2z --fid_weights=pt_inception-2015-12-05-6726825d.pth
  python eval.py --generator=horse2zebra.pth --input_dir=photos --output_dir=out
  python eval.py --pretrained=horse2zebra --input_dir=photos --output_dir=out
  python eval.py --workdir=runs/h2z --input_dir=photos --output_dir=out --direction=BtoA

Results go to WORKDIR/eval/<split>_<step>/ (or --output_dir); metrics.json, written
last, holds cycle_l1_*, gt_mae_* (synthetic data) and fid_* / kid_* (with weights); for
pix2pix real_A / fake_B / real_B images and l1_*, psnr_*, fid_* against the targets.
"""

from absl import app, flags
from ml_collections import config_flags

from configs import default
from cyclegan_jax import cli, files, host_memory

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("workdir", None, "A run directory (train.py or import_torch.py): its "
                        "newest checkpoint is evaluated.")
    flags.DEFINE_string("generator", None, "Instead of --workdir: one generator file (an official "
                        ".pth such as horse2zebra.pth, or a .msgpack); needs --input_dir.")
    flags.DEFINE_string("pretrained", None, "Instead of --workdir: an official pretrained "
                        "CycleGAN generator by name (e.g. horse2zebra), downloaded once into "
                        "~/.cache/cyclegan_jax/pretrained; with --input_dir.")
    flags.DEFINE_string("input_dir", None, "Translate the images in this folder (recursively) "
                        "instead of the dataset's test split; one direction.")
    flags.DEFINE_string("output_dir", None, "Where results go (default WORKDIR/eval/<split>_<step>).")
    flags.DEFINE_enum("direction", "AtoB", ["AtoB", "BtoA"], "With --input_dir and --workdir: "
                      "which generator to apply (G_A for AtoB).")
    flags.DEFINE_string("reference_dir", None, "With --input_dir: real images of the target "
                        "domain, for FID/KID.")
    flags.DEFINE_enum("split", "test", ["test", "val", "train"], "Dataset split to "
                      "evaluate (val: pix2pix's aligned DATAROOT/val).")
    flags.DEFINE_enum("preprocess", "native", ["native", "official"], "native: every image at "
                      "its own size; official: bicubic resize to --image_size squares (test.py).")
    flags.DEFINE_integer("image_size", 256, "Square size for --preprocess=official.")
    flags.DEFINE_integer("batch_size", 8, "Images per translation batch.")
    flags.DEFINE_integer("max_images", 0, "At most this many images per direction (0: all).")
    flags.DEFINE_integer("tile", 0, "Translate images with a side above this in tiles of "
                         "this size (ResNet generators; the same result as whole, memory of "
                         "one tile; e.g. 512). 0: whole images.")
    flags.DEFINE_bool("eval", False, "As the official test.py --eval: batch norms use their "
                      "running statistics. Without it they use each image's own statistics, "
                      "as the official test.py does by default.")
    flags.DEFINE_string("fid_weights", "", "pytorch-fid's pt_inception-2015-12-05-6726825d.pth "
                        "(or an .npz of its state_dict): enables FID and KID.")
    flags.DEFINE_string("compilation_cache_dir", default.get_config().compilation_cache_dir,
                        "Keep XLA's compiled programs here (as train.py does), so that a "
                        "repeated evaluation loads them; '' turns this off.")
    config_flags.DEFINE_config_file("config", None, "Optional config whose dataset fields "
                                    "replace the run's (e.g. a moved --config.dataroot).")


def print_table(metrics: dict) -> None:
    """The metrics as an aligned two-column table on stdout."""
    width = max(len(k) for k in metrics)
    print(f"{'metric':<{width}}  value")
    for key, value in metrics.items():
        print(f"{key:<{width}}  {value:.6f}")


def evaluate() -> None:
    from cyclegan_jax import pretrained
    from cyclegan_jax.compilation_cache import use_compilation_cache
    from cyclegan_jax.eval import runner
    from cyclegan_jax.torch_compat import load_generator

    use_compilation_cache(FLAGS.compilation_cache_dir)

    options = runner.EvalOptions(FLAGS.preprocess, FLAGS.image_size, FLAGS.batch_size,
                                   FLAGS.max_images, FLAGS.fid_weights, FLAGS.eval, FLAGS.tile)
    if FLAGS.input_dir:
        if not FLAGS.output_dir:
            raise app.UsageError("--input_dir needs --output_dir")
        if FLAGS.generator:
            forward, backward = load_generator(FLAGS.generator), None
        elif FLAGS.pretrained:
            forward, backward = pretrained.load(FLAGS.pretrained), None
        elif FLAGS.workdir:
            forward, backward = runner.run_generators(FLAGS.workdir, FLAGS.direction)
        else:
            raise app.UsageError("--input_dir needs --workdir, --generator or --pretrained")
        metrics = runner.translate_folder(forward, FLAGS.input_dir, FLAGS.output_dir, options,
                                            backward, FLAGS.direction, FLAGS.reference_dir)
        output_dir = FLAGS.output_dir
    elif FLAGS.workdir:
        metrics, output_dir = runner.evaluate_run(FLAGS.workdir, FLAGS.split, options,
                                                    FLAGS.config, FLAGS.output_dir)
    else:
        raise app.UsageError("pass --workdir (test splits) or --input_dir with --workdir "
                             "or --generator")
    if metrics:
        print_table(metrics)
    print(f"results: {files.resolve(output_dir) / 'index.html'}")


if __name__ == "__main__":
    host_memory.keep_freed_host_memory()  # before JAX starts its CPU client's threads
    cli.run(define_flags, evaluate)
