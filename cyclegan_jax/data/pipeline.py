"""The unaligned training input (official `UnalignedDataset` + DataLoader), by step number.

Every batch is a pure function of (seed, step): epoch e shuffles the positions
0..max(|A|, |B|)-1 with a generator seeded by (seed, e); position i of the epoch
uses A[i % |A|] and a B drawn independently (or B[i % |B|] with `serial_batches`);
each sample's crop and flip come from a generator seeded by (seed, e, i, side).
Every batch is full: the last batch of an epoch wraps around to the epoch's start,
so an epoch is ceil(max(|A|, |B|) / batch_size) steps. Resuming at step s therefore
needs nothing but s, and multi-host runs give each process its own slice of every
global batch.
"""

from __future__ import annotations

import concurrent.futures
import math
import queue
import threading
from typing import Any, Iterator

import numpy as np

from cyclegan_jax.data.preprocess import train_transform

_SIDE = {"A": 0, "B": 1}


class UnalignedBatches:
    """Training batches `{"A": [n, crop, crop, input_nc], "B": [...]}` for any step.

    With `process_count` processes each reads `batch_size / process_count` samples of every
    global batch (a divisor: `train.sharding.check_batch_size` checks the mesh).
    """

    def __init__(self, source_A, source_B, config: Any, process_index: int = 0,
                 process_count: int = 1, num_threads: int = 4):
        self.source_A, self.source_B = source_A, source_B
        self.config = config
        self.length = max(len(source_A), len(source_B))
        self.batch_size = config.batch_size
        self.steps_per_epoch = math.ceil(self.length / self.batch_size)
        per_host = self.batch_size // process_count
        self.host_slice = slice(process_index * per_host, (process_index + 1) * per_host)
        self._pool = concurrent.futures.ThreadPoolExecutor(num_threads)
        self._order: tuple[int, np.ndarray] | None = None  # (epoch, its order), the last asked

    def _epoch_order(self, epoch: int) -> np.ndarray:
        # Drawn once per epoch, not per step (a permutation of a large dataset costs ms).
        # One read of self._order: threads asking for other epochs may replace it meanwhile.
        cached = self._order
        if cached is None or cached[0] != epoch:
            cached = (epoch, np.arange(self.length) if self.config.serial_batches else
                      np.random.default_rng([self.config.seed, 7, epoch]).permutation(self.length))
            self._order = cached
        return cached[1]

    def _sample(self, epoch: int, position: int, item: int) -> tuple[np.ndarray, np.ndarray]:
        c = self.config
        index_A = item % len(self.source_A)
        if c.serial_batches:
            index_B = item % len(self.source_B)
        else:
            index_B = int(np.random.default_rng([c.seed, 8, epoch, position]).integers(
                len(self.source_B)))
        out = []
        for side, source, index, nc in (("A", self.source_A, index_A, c.input_nc),
                                        ("B", self.source_B, index_B, c.output_nc)):
            rng = np.random.default_rng([c.seed, 9, epoch, position, _SIDE[side]])
            out.append(train_transform(source.load(index), c, nc, rng,
                                       name=f"{source.name}[{index}]"))
        return out[0], out[1]

    def batch(self, step: int) -> dict[str, np.ndarray]:
        """This process's part of the global batch of training step `step` (0-based)."""
        epoch, within = divmod(step, self.steps_per_epoch)
        order = self._epoch_order(epoch)
        positions = [(within * self.batch_size + k) % self.length
                     for k in range(self.batch_size)][self.host_slice]
        samples = list(self._pool.map(lambda p: self._sample(epoch, p, int(order[p])), positions))
        return {"A": np.stack([a for a, _ in samples]), "B": np.stack([b for _, b in samples])}

    def iterate(self, start_step: int, prefetch: int = 2) -> Iterator[dict[str, np.ndarray]]:
        """Batches of steps start_step, start_step + 1, ..., prepared `prefetch` ahead."""
        q: queue.Queue = queue.Queue(maxsize=prefetch)
        stop = threading.Event()

        def produce():
            step = start_step
            while not stop.is_set():
                try:
                    item = self.batch(step)
                except Exception as e:  # noqa: BLE001  (re-raised in the consumer)
                    item = e
                while not stop.is_set():
                    try:
                        q.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if isinstance(item, Exception):
                    return
                step += 1

        thread = threading.Thread(target=produce, daemon=True)
        thread.start()
        try:
            while True:
                item = q.get()
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            stop.set()
            thread.join(timeout=5)
