"""Where training numbers go: a JSON-lines file and TensorBoard event files.

`metrics.jsonl` has one object per logged step (`{"step": ..., "D_A": ...}`), easy to
read with pandas or jq. TensorBoard files are written with tensorboardX, which needs
no TensorFlow. Only process 0 writes; other processes get a writer that does nothing.
"""

from __future__ import annotations

import json
import os

import numpy as np


class MetricWriter:
    """Scalars and images for the run in `workdir` (`metrics.jsonl`, `tensorboard/`)."""

    def __init__(self, workdir: str, enabled: bool = True):
        self.enabled = enabled
        self._jsonl = self._tb = None
        if enabled:
            from tensorboardX import SummaryWriter

            self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a", encoding="utf-8")
            self._tb = SummaryWriter(os.path.join(workdir, "tensorboard"))

    def write_scalars(self, step: int, scalars: dict[str, float]) -> None:
        if not self.enabled:
            return
        self._jsonl.write(json.dumps({"step": step, **{k: float(v) for k, v in scalars.items()}}) + "\n")
        self._jsonl.flush()
        for name, value in scalars.items():
            self._tb.add_scalar(name, float(value), step)

    def write_image(self, step: int, name: str, image: np.ndarray) -> None:
        if self.enabled:
            self._tb.add_image(name, image, step, dataformats="HWC")

    def flush(self) -> None:
        if self.enabled:
            self._jsonl.flush()
            self._tb.flush()

    def close(self) -> None:
        if self.enabled:
            self._jsonl.close()
            self._tb.close()
