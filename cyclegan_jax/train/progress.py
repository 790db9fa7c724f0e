"""Counting training steps when they finish, not when they are dispatched.

JAX dispatches a step and returns before the device has computed it, so a clock read
after `train_step` returns measures dispatch. `FinishedSteps` keeps `in_flight` steps
queued (enough to overlap the host's work with the device's), waits for older steps'
outputs and reads the clock when they are ready: the progress bar, its images/s and ETA,
and the logged seconds per image count finished work.
"""

from __future__ import annotations

import collections
import time
from typing import Any, Callable

import jax


class FinishedSteps:
    """Finished steps and the time they took, by window (see the module docstring)."""

    def __init__(self, in_flight: int = 1, clock: Callable[[], float] = time.perf_counter,
                 wait: Callable[[Any], Any] = jax.block_until_ready):
        self._in_flight, self._clock, self._wait = in_flight, clock, wait
        self._queue: collections.deque = collections.deque()
        self._window_start = clock()
        self._window_steps = 0

    def dispatched(self, outputs: Any) -> int:
        """Records a dispatched step by its outputs; returns how many steps finished since."""
        self._queue.append(outputs)
        return self._finish(len(self._queue) - self._in_flight)

    def finish_all(self) -> int:
        """Waits for every dispatched step; returns how many finished."""
        return self._finish(len(self._queue))

    def _finish(self, count: int) -> int:
        for _ in range(max(count, 0)):
            self._wait(self._queue.popleft())
            self._window_steps += 1
        return max(count, 0)

    def take_window(self) -> tuple[int, float]:
        """(steps finished, seconds) since the last window ended, and a new window starts."""
        now = self._clock()
        window = (self._window_steps, now - self._window_start)
        self._window_start, self._window_steps = now, 0
        return window
