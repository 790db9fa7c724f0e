"""The training input by step number: unaligned (official `UnalignedDataset` + DataLoader,
CycleGAN) and aligned (`AlignedDataset`, pix2pix).

Every batch is a pure function of (seed, step): epoch e shuffles the positions
0..length-1 with a generator seeded by (seed, e). Unaligned: the length is max(|A|, |B|),
position i of the epoch uses A[i % |A|] and a B drawn independently (or B[i % |B|] with
`serial_batches`), and each sample's crop and flip come from a generator seeded by
(seed, e, i, side). Aligned: position i is pair i, whose halves share one crop and flip
drawn from the generator of side A.
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

from cyclegan_jax.data.preprocess import aligned_train_transform, split_aligned, train_transform

_SIDE = {"A": 0, "B": 1}


class _Batches:
    """Training batches `{"A": [n, crop, crop, input_nc], "B": [...]}` for any step, from
    `_sample(epoch, position, item)` of the subclass.

    With `process_count` processes each reads `batch_size / process_count` samples of every
    global batch (a divisor: `train.sharding.check_batch_size` checks the mesh).
    """

    def __init__(self, length: int, config: Any, process_index: int, process_count: int,
                 num_threads: int):
        self.config = config
        self.length = length
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
        raise NotImplementedError

    def _sample_rng(self, epoch: int, position: int, side: str) -> np.random.Generator:
        return np.random.default_rng([self.config.seed, 9, epoch, position, _SIDE[side]])

    def record(self) -> dict:
        """What the batches are drawn from, kept with each checkpoint: resuming on other
        data would silently change the run."""
        raise NotImplementedError

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


class UnalignedBatches(_Batches):
    """CycleGAN's training batches: `{"A": [n, crop, crop, input_nc], "B": [n, crop, crop,
    output_nc]}` from two independent sources."""

    def __init__(self, source_A, source_B, config: Any, process_index: int = 0,
                 process_count: int = 1, num_threads: int = 4):
        super().__init__(max(len(source_A), len(source_B)), config, process_index,
                         process_count, num_threads)
        self.source_A, self.source_B = source_A, source_B

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
            out.append(train_transform(source.load(index), c, nc,
                                       self._sample_rng(epoch, position, side),
                                       name=f"{source.name}[{index}]"))
        return out[0], out[1]

    def record(self) -> dict:
        return {"A": {"name": self.source_A.name, "size": len(self.source_A)},
                "B": {"name": self.source_B.name, "size": len(self.source_B)},
                "steps_per_epoch": self.steps_per_epoch, "batch_size": self.batch_size}


class AlignedBatches(_Batches):
    """pix2pix's training batches from an aligned source (each image A | B side by side):
    `{"A": inputs [n, crop, crop, input_nc], "B": targets [n, crop, crop, output_nc]}`,
    swapped for `config.direction` "BtoA" as the official `set_input` swaps them."""

    def __init__(self, source, config: Any, process_index: int = 0, process_count: int = 1,
                 num_threads: int = 4):
        super().__init__(len(source), config, process_index, process_count, num_threads)
        self.source = source

    def _sample(self, epoch: int, position: int, item: int) -> tuple[np.ndarray, np.ndarray]:
        c = self.config
        name = f"{self.source.name}[{item}]"
        left, right = split_aligned(self.source.load(item), name)
        a_to_b = c.direction == "AtoB"
        # The official dataset converts each half to the channels of the side it feeds.
        nc_left, nc_right = (c.input_nc, c.output_nc) if a_to_b else (c.output_nc, c.input_nc)
        left, right = aligned_train_transform(left, right, c, nc_left, nc_right,
                                              self._sample_rng(epoch, position, "A"), name)
        return (left, right) if a_to_b else (right, left)

    def record(self) -> dict:
        return {"AB": {"name": self.source.name, "size": len(self.source)},
                "direction": self.config.direction,
                "steps_per_epoch": self.steps_per_epoch, "batch_size": self.batch_size}
