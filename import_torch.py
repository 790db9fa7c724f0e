"""Import official PyTorch CycleGAN and pix2pix files (torch not needed).

An official checkpoint folder -> a workdir that train.py resumes from (fine-tuning) and
eval.py reads:
  python import_torch.py --checkpoint_dir=checkpoints/horse2zebra --workdir=runs/h2z \
      --config=configs/default.py --config.epoch_count=201
One pretrained generator -> Flax params for `translate` (eval.py also reads .pth directly):
  python import_torch.py --generator=horse2zebra.pth --output=horse2zebra.msgpack
"""

import os

from absl import app, flags, logging
from ml_collections import config_flags

from cyclegan_jax import cli

_HERE = os.path.dirname(os.path.abspath(__file__))

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("checkpoint_dir", None, "Official checkpoint folder "
                        "(<epoch>_net_{G_A,G_B,D_A,D_B}.pth; pix2pix: <epoch>_net_{G,D}.pth "
                        "with --config=configs/pix2pix.py).")
    flags.DEFINE_string("epoch", "latest", "Epoch label of the files in --checkpoint_dir.")
    flags.DEFINE_string("workdir", None, "New run directory to write the imported checkpoint to.")
    flags.DEFINE_string("generator", None, "A single official generator .pth (e.g. horse2zebra.pth).")
    flags.DEFINE_string("output", None, "Where --generator's params go (a .msgpack file).")
    config_flags.DEFINE_config_file(
        "config", os.path.join(_HERE, "configs", "default.py"),
        "The training config the imported run continues with (model fields must match).",
        lock_config=True)


def import_files() -> None:
    from cyclegan_jax import torch_compat

    if FLAGS.generator:
        if not FLAGS.output:
            raise app.UsageError("--generator needs --output=FILE.msgpack")
        params = torch_compat.load_generator(FLAGS.generator)
        torch_compat.save_generator(params, FLAGS.output)
        logging.info("wrote %s (generator params of %s)", FLAGS.output, FLAGS.generator)
    elif FLAGS.checkpoint_dir:
        if not FLAGS.workdir:
            raise app.UsageError("--checkpoint_dir needs --workdir=NEW_RUN_DIR")
        count = torch_compat.import_checkpoint(FLAGS.checkpoint_dir, FLAGS.workdir,
                                                  FLAGS.config, FLAGS.epoch)
        logging.info("imported %d parameters from %s into %s (step 0, epoch_count %d); "
                     "continue with: python train.py --workdir=%s and the same --config",
                     count, FLAGS.checkpoint_dir, FLAGS.workdir, FLAGS.config.epoch_count,
                     FLAGS.workdir)
    else:
        raise app.UsageError("pass --checkpoint_dir (with --workdir) or --generator "
                             "(with --output)")


if __name__ == "__main__":
    cli.run(define_flags, import_files)
