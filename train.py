"""Train CycleGAN or pix2pix: `python train.py --workdir=DIR [--config=configs/demo.py]
[--config.X=...]` (pix2pix: `--config=configs/pix2pix.py`).

Re-running the same command resumes from the newest checkpoint in DIR.
"""

import os

from absl import flags, logging
from ml_collections import config_flags

from cyclegan_jax import cli, host_memory

FLAGS = flags.FLAGS


def define_flags() -> None:
    flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and samples: a "
                        "local folder or a bucket (gs://BUCKET/run).", required=True)
    config_flags.DEFINE_config_file(
        "config", os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "default.py"),
        "Training configuration file.", lock_config=True)
    cli.define_distributed_flags()


def train() -> None:
    import jax

    from cyclegan_jax.train.loop import train_and_evaluate

    cli.initialize_distributed()
    logging.info("JAX process %d of %d, local devices: %s", jax.process_index(),
                 jax.process_count(), jax.local_devices())
    train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
    host_memory.keep_freed_host_memory()  # before JAX starts its CPU client's threads
    cli.run(define_flags, train)
