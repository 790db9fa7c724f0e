"""Flag plumbing shared by the command-line doors (train.py, eval.py, import_torch.py).

The one library module that touches flags: each door defines its own flags and calls
`run` with a body that reads them and calls the library.
"""

from __future__ import annotations

import codecs
import logging as std_logging
import sys
from typing import Callable

from absl import app, flags, logging

from cyclegan_jax.errors import UserError

# Mistakes in --config.X=... overrides surface as these (at definition time for a default
# config file, at parsing time for one given with --config).
CONFIG_ERRORS = (AttributeError, KeyError, TypeError, ValueError)


def _config_error(e: Exception) -> None:
    """Prints a config-override mistake as one line and exits with status 2."""
    message = codecs.decode(str(e), "unicode_escape")
    if message[:1] == message[-1:] and message[:1] in "'\"":
        message = message[1:-1]  # KeyError text wrapped by AttributeError
    sys.stderr.write(f"FATAL config override error: {message.replace(chr(10), ': ')}\n")
    sys.exit(2)


class _QuietLibraries(std_logging.Filter):
    """Keeps Orbax's per-save INFO chatter out of the log (warnings still show)."""

    def filter(self, record: std_logging.LogRecord) -> bool:
        return record.levelno >= std_logging.WARNING or "/orbax/" not in record.pathname


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with config-override mistakes shown as one clear line."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as e:
        sys.stderr.write(f"FATAL Flags parsing error: {e}\nPass --helpfull to see help on flags.\n")
    except CONFIG_ERRORS as e:
        _config_error(e)
    sys.exit(2)


def run(define: Callable[[], None], body: Callable[[], None]) -> None:
    """Runs a command-line door: defines its flags, parses them, calls `body`.

    Config-override mistakes become one line and status 2; extra positional arguments
    are a usage error; `UserError`s are logged as one message, status 1.
    """
    def main(argv: list[str]) -> None:
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {argv[1:]}")
        logging.get_absl_handler().addFilter(_QuietLibraries())
        try:
            body()
        except UserError as e:
            logging.error("%s", e)
            sys.exit(1)

    try:
        define()
    except CONFIG_ERRORS as e:
        _config_error(e)
    app.run(main, flags_parser=_parse_flags)
