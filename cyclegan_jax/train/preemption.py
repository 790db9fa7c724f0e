"""When to stop early and save: SIGTERM, the notice of a TPU preemption or a job scheduler.

One process catches SIGTERM itself. Processes joined by `jax.distributed` leave SIGTERM to
JAX's preemption service instead: it tells every process, and they agree on one step at
which all of them save (`multihost_utils.reached_preemption_sync_point`). A Python
handler would take the signal from that service, and the processes would not agree.
"""

from __future__ import annotations

import logging
import signal
import types

import jax
from jax.experimental import multihost_utils


class StopRequest:
    """A context manager; `requested(step)` says whether to save and stop after `step`.

    Call `requested` after every step, on every process.
    """

    def __init__(self):
        self._flag = False
        self._previous = None
        self._synced = jax.distributed.is_initialized()

    def _handler(self, signum: int, frame: types.FrameType | None) -> None:  # noqa: ARG002
        logging.warning("SIGTERM received: saving a checkpoint and stopping")
        self._flag = True

    def __enter__(self) -> StopRequest:
        if not self._synced:
            try:
                self._previous = signal.signal(signal.SIGTERM, self._handler)
            except ValueError:  # not in the main thread: no handler, nothing to restore
                pass
        return self

    def __exit__(self, *exc) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)

    def requested(self, step: int) -> bool:
        if self._synced and multihost_utils.reached_preemption_sync_point(step):
            logging.warning("preemption notice: every process saves at step %d and stops", step)
            return True
        return self._flag
