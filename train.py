"""Train CycleGAN: `python train.py --workdir=DIR [--config=configs/demo.py] [--config.X=...]`.

Re-running the same command resumes from the newest checkpoint in DIR.
"""

import codecs
import logging as std_logging
import os
import sys
from typing import Callable

from absl import app, flags, logging
from ml_collections import config_flags

from cyclegan_jax.errors import UserError

_HERE = os.path.dirname(os.path.abspath(__file__))  # on sys.path: configs can import `configs`

FLAGS = flags.FLAGS
# Mistakes in --config.X=... overrides surface as these (at definition time for the
# default config file, at parsing time for one given with --config).
CONFIG_ERRORS = (AttributeError, KeyError, TypeError, ValueError)


def define_flags() -> None:
    flags.DEFINE_string("workdir", None, "Directory for checkpoints, logs and samples.",
                        required=True)
    config_flags.DEFINE_config_file(
        "config", os.path.join(_HERE, "configs", "default.py"), "Training configuration file.",
        lock_config=True)
    flags.DEFINE_bool("multihost", False, "Call jax.distributed.initialize() first "
                      "(one process per host, e.g. a TPU pod).")


def config_error(e: Exception) -> None:
    """Prints a config-override mistake as one line and exits with status 2."""
    message = codecs.decode(str(e), "unicode_escape")
    if message[:1] == message[-1:] and message[:1] in "'\"":
        message = message[1:-1]  # KeyError text wrapped by AttributeError
    sys.stderr.write(f"FATAL config override error: {message.replace(chr(10), ': ')}\n")
    sys.exit(2)


class QuietLibraries(std_logging.Filter):
    """Keeps Orbax's per-save INFO chatter out of the training log (warnings still show)."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno >= std_logging.WARNING or "/orbax/" not in record.pathname


def parse_flags(argv):
    """absl's flag parsing, with config-override mistakes shown as one clear line."""
    try:
        return FLAGS(argv)
    except flags.Error as e:
        sys.stderr.write(f"FATAL Flags parsing error: {e}\nPass --helpfull to see help on flags.\n")
    except CONFIG_ERRORS as e:
        config_error(e)
    sys.exit(2)


def run_cli(define: Callable[[], None], body: Callable[[], None]) -> None:
    """Runs a command-line door: defines its flags, parses them, calls `body`.

    Config-override mistakes become one line and status 2; extra positional
    arguments are a usage error; `UserError`s are logged as one message, status 1.
    """
    def main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        logging.get_absl_handler().addFilter(QuietLibraries())
        try:
            body()
        except UserError as e:
            logging.error("%s", e)
            sys.exit(1)

    try:
        define()
    except CONFIG_ERRORS as e:
        config_error(e)
    app.run(main, flags_parser=parse_flags)


def train() -> None:
    import jax

    if FLAGS.multihost:
        jax.distributed.initialize()
    from cyclegan_jax import training

    logging.info("JAX process %d of %d, local devices: %s", jax.process_index(),
                 jax.process_count(), jax.local_devices())
    training.train_and_evaluate(FLAGS.config, FLAGS.workdir)


if __name__ == "__main__":
    run_cli(define_flags, train)
