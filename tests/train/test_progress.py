"""Speed figures count finished steps: an injected clock that advances only while a step's
outputs are awaited (its compute), never while it is dispatched."""

from __future__ import annotations

import json
import os

import jax
import pytest

from cyclegan_jax.train import loop, progress
from tests import helpers


class _Device:
    """A fake device: each dispatched step computes for 2 s, paid when its outputs are awaited."""

    def __init__(self):
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def wait(self, outputs) -> None:
        self.now += 2.0
        jax.block_until_ready(outputs)


def test_finished_steps_wait_for_outputs_and_time_them():
    device = _Device()
    steps = progress.FinishedSteps(in_flight=1, clock=device.clock, wait=device.wait)
    assert steps.dispatched("step 1") == 0  # one step stays in flight: nothing finished yet
    assert steps.dispatched("step 2") == 1
    assert steps.dispatched("step 3") == 1
    assert steps.take_window() == (2, 4.0)  # two finished steps, 2 s of compute each
    assert steps.finish_all() == 1
    assert steps.take_window() == (1, 2.0)
    assert steps.finish_all() == 0 and steps.take_window() == (0, 0.0)


@pytest.mark.usefixtures("fast_compile")
def test_the_logged_seconds_per_image_are_those_of_finished_steps(tmp_path, monkeypatch):
    device = _Device()
    monkeypatch.setattr(loop, "FinishedSteps", lambda: progress.FinishedSteps(
        clock=device.clock, wait=device.wait))
    config = helpers.train_config(num_train_steps=4, sample_every=100)
    loop.train_and_evaluate(config, str(tmp_path))
    with open(os.path.join(tmp_path, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f if "D_A" in line]
    # 2 s per step of batch 2: 1 s per image in every window; dispatching costs nothing here.
    assert [(r["step"], r["seconds_per_image"]) for r in rows] == [(2, 1.0), (4, 1.0)]
