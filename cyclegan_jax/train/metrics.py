"""Where training numbers go: a JSON-lines file and a TensorBoard event file, local or in a bucket.

`metrics.jsonl` has one object per logged step (`{"step": ..., "D_A": ...}`), easy to read
with pandas or jq. The TensorBoard file holds the same scalars and the sample grids as
TFRecord-framed `Event` protos (tensorboardX's protos and summaries; no TensorFlow), and
is written through `files.AppendFile`, so it reaches a `gs://` workdir as well. In a
bucket, where every flush rewrites a file, flushes wait `flush_seconds` (and happen at
`flush`/`close`). Only process 0 writes; other processes get a writer that does nothing.
"""

from __future__ import annotations

import json
import socket
import struct
import time
from typing import Callable

import numpy as np
from tensorboardX import summary as tb_summary
from tensorboardX.proto import event_pb2
from tensorboardX.record_writer import masked_crc32c

from cyclegan_jax import files


def tfrecord(data: bytes) -> bytes:
    """`data` framed as one TFRecord: length, its masked CRC32C, data, its masked CRC32C."""
    header = struct.pack("<Q", len(data))
    return (header + struct.pack("<I", masked_crc32c(header)) + data
            + struct.pack("<I", masked_crc32c(data)))


class MetricWriter:
    """Scalars and images for the run in `workdir` (`metrics.jsonl`, `tensorboard/`)."""

    def __init__(self, workdir: files.PathLike, enabled: bool = True, flush_seconds: float = 60.0,
                 clock: Callable[[], float] = time.monotonic):
        self.enabled, self._flush_seconds, self._clock = enabled, flush_seconds, clock
        if not enabled:
            return
        root = files.resolve(workdir)
        self._local = files.is_local(root)
        self._jsonl = files.AppendFile(root / "metrics.jsonl")
        # Microseconds: a resumed run's file is new and sorts after the run's earlier ones.
        name = f"events.out.tfevents.{time.time():.6f}.{socket.gethostname()}.cyclegan_jax"
        self._events = files.AppendFile(root / "tensorboard" / name)
        self._event(file_version="brain.Event:2")
        self._flushed = clock()

    def _event(self, **fields) -> None:
        event = event_pb2.Event(wall_time=time.time(), **fields)
        self._events.append(tfrecord(event.SerializeToString()))

    def _maybe_flush(self) -> None:
        if self._local or self._clock() - self._flushed >= self._flush_seconds:
            self.flush()

    def write_scalars(self, step: int, scalars: dict[str, float]) -> None:
        if not self.enabled:
            return
        row = {"step": step, **{k: float(v) for k, v in scalars.items()}}
        self._jsonl.append((json.dumps(row) + "\n").encode())
        for name, value in scalars.items():
            self._event(step=step, summary=tb_summary.scalar(name, float(value)))
        self._maybe_flush()

    def write_image(self, step: int, name: str, image: np.ndarray) -> None:
        """A uint8 HWC image."""
        if self.enabled:
            self._event(step=step, summary=tb_summary.image(name, image, dataformats="HWC"))
            self._maybe_flush()

    def flush(self) -> None:
        if self.enabled:
            self._jsonl.flush()
            self._events.flush()
            self._flushed = self._clock()

    def close(self) -> None:
        self.flush()
