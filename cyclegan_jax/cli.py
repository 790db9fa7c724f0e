"""Flag plumbing shared by the command-line doors (train.py, eval.py, import_torch.py).

The one library module that touches flags: each door defines its own flags and calls
`run` with a body that reads them and calls the library; doors that run on several
hosts add `define_distributed_flags` and call `initialize_distributed` first.
"""

from __future__ import annotations

import codecs
import logging as std_logging
import sys
from typing import Callable

import numpy as np
from absl import app, flags, logging

from cyclegan_jax import host_memory
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


def define_distributed_flags() -> None:
    """The flags of a run over several processes (`jax.distributed`)."""
    flags.DEFINE_bool("multihost", False, "Join the other processes of this run with "
                      "jax.distributed.initialize(), which finds them itself on Cloud TPU, "
                      "SLURM and Open MPI (one process per host, e.g. a TPU pod).")
    flags.DEFINE_string("coordinator_address", None, "Instead of detecting them: the "
                        "address (host:port) of process 0, which every process can reach.")
    flags.DEFINE_integer("num_processes", None, "With --coordinator_address: how many "
                         "processes run.")
    flags.DEFINE_integer("process_id", None, "With --coordinator_address: this process's "
                         "index, 0 .. num_processes - 1.")
    flags.DEFINE_integer("heartbeat_timeout_seconds", 100, "A process that stops answering "
                         "this long ends the run: the others exit with an error.")
    flags.DEFINE_integer("shutdown_timeout_seconds", 300, "How long a finished process waits "
                         "for the others at exit.")


def initialize_distributed() -> None:
    """`jax.distributed.initialize` as the distributed flags say; nothing without them.

    On CPUs the processes exchange data with gloo. A `--num_processes` that does not match
    the processes that joined is a `UserError`.
    """
    import jax

    f = flags.FLAGS
    explicit = {"--coordinator_address": f.coordinator_address,
                "--num_processes": f.num_processes, "--process_id": f.process_id}
    given = [name for name, value in explicit.items() if value is not None]
    if not given and not f.multihost:
        return
    if given and len(given) < len(explicit):
        raise UserError(f"{', '.join(given)} needs {', '.join(sorted(set(explicit) - set(given)))} "
                        "too (or pass --multihost alone where the cluster is detected)")
    if host_memory.jax_runs_on_cpu_only():
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(f.coordinator_address, f.num_processes, f.process_id,
                               heartbeat_timeout_seconds=f.heartbeat_timeout_seconds,
                               shutdown_timeout_seconds=f.shutdown_timeout_seconds)
    if f.num_processes is None:
        return
    from jax.experimental import multihost_utils

    counts = [int(n) for n in multihost_utils.process_allgather(np.asarray(f.num_processes))]
    if len(set(counts)) > 1 or counts[0] != jax.process_count():
        raise UserError(f"--num_processes was {counts} (process 0, 1, ...), but "
                        f"{jax.process_count()} processes joined the run: give every process "
                        "the same --num_processes, the number of processes started")
