"""Real separate train.py processes joined by jax.distributed on CPU (gloo, one device each):
bit-identical to one process with two devices through resumes and a preemption, and a dead
or misconfigured process ends the run with a clear error, not a hang. Serial: the other
pytest-xdist worker waits while these run (tests/conftest.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

import cyclegan_jax
from cyclegan_jax.train.checkpoints import Checkpoints
from tests import helpers
from tests.helpers import ROOT

pytestmark = pytest.mark.serial
CONFIG = os.path.join(ROOT, "tests", "tiny_train_config.py")
# Long enough that the learning rate stays constant (the tiny config decays it after 2 epochs).
LONG = ["--config.n_epochs=100", "--config.num_train_steps=100000", "--config.sample_every=100000",
        "--config.checkpoint_every=100000"]


def _env(devices: int = 1) -> dict:
    return {**os.environ, **helpers.FAST_COMPILE_ENV, "JAX_PLATFORMS": "cpu",
            "XLA_FLAGS": f"--xla_force_host_platform_device_count={devices}"}


_STARTED: list[subprocess.Popen] = []


@pytest.fixture(autouse=True)
def _kill_leftovers():
    """A failed test leaves no training process behind."""
    yield
    while _STARTED:
        proc = _STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


class _Pair:
    """Two train.py processes of one run; their logs go to files (no pipe can fill up)."""

    def __init__(self, workdir, logs, *overrides: str, args=(None, None)):
        port = helpers.free_port()
        self.logs = [logs / f"process_{i}.log" for i in range(2)]
        self.procs = []
        for i in range(2):
            cmd = [sys.executable, os.path.join(ROOT, "train.py"), f"--workdir={args[i] or workdir}",
                   f"--config={CONFIG}", f"--coordinator_address=127.0.0.1:{port}",
                   "--num_processes=2", f"--process_id={i}", "--heartbeat_timeout_seconds=10",
                   "--shutdown_timeout_seconds=30", *overrides]
            with open(self.logs[i], "w") as log:
                self.procs.append(subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                                   cwd=ROOT, env=_env()))
        _STARTED.extend(self.procs)

    def log(self, i: int) -> str:
        return self.logs[i].read_text()

    def wait(self, timeout: float = 300) -> list[int]:
        deadline = time.time() + timeout
        codes = [p.wait(timeout=max(deadline - time.time(), 1)) for p in self.procs]
        return codes

    def wait_for(self, text: str, timeout: float = 300) -> None:
        deadline = time.time() + timeout
        while text not in self.log(0):
            assert time.time() < deadline and all(p.poll() is None for p in self.procs), \
                self.log(0)[-3000:] + self.log(1)[-3000:]
            time.sleep(0.2)


def _one_process_two_devices(workdir, *overrides: str) -> dict:
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), f"--workdir={workdir}",
                           f"--config={CONFIG}", *overrides], capture_output=True, text=True,
                          cwd=ROOT, env=_env(devices=2), timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cyclegan_jax.load_params(str(workdir))


def test_two_processes_train_and_resume_bit_identical_to_one_process_with_two_devices(tmp_path):
    workdir = tmp_path / "run"
    for steps in (2, 4, 6):  # three launches of the pair: a race on shared files would show
        pair = _Pair(workdir, tmp_path, f"--config.num_train_steps={steps}")
        assert pair.wait() == [0, 0], pair.log(0)[-3000:] + pair.log(1)[-3000:]
        if steps > 2:
            assert f"resumed from step {steps - 2}" in pair.log(0)
            assert f"resumed from step {steps - 2}" in pair.log(1)
    reference = _one_process_two_devices(tmp_path / "reference")
    assert helpers.params_equal(cyclegan_jax.load_params(str(workdir)), reference)
    # Only process 0 wrote the run's own files, and no probe or temporary file is left.
    assert sorted(os.listdir(workdir)) == ["checkpoints", "config.json", "metrics.jsonl",
                                           "samples", "tensorboard"]
    assert len(os.listdir(workdir / "tensorboard")) == 3  # one per launch of process 0


def test_sigterm_to_one_process_saves_one_step_on_all_and_resumes_exactly(tmp_path):
    workdir = tmp_path / "run"
    pair = _Pair(workdir, tmp_path, *LONG)
    pair.wait_for("iters: 4,")
    pair.procs[1].send_signal(signal.SIGTERM)
    assert pair.wait(timeout=120) == [0, 0], pair.log(0)[-3000:] + pair.log(1)[-3000:]
    (step,) = Checkpoints(workdir / "checkpoints").steps()  # the preemption save, only
    for i in range(2):
        assert f"preemption notice: every process saves at step {step}" in pair.log(i)
    resumed = _Pair(workdir, tmp_path, *LONG[:1], f"--config.num_train_steps={step + 2}")
    assert resumed.wait() == [0, 0], resumed.log(0)[-3000:]
    reference = _one_process_two_devices(tmp_path / "reference", *LONG[:1],
                                         f"--config.num_train_steps={step + 2}")
    assert helpers.params_equal(cyclegan_jax.load_params(str(workdir)), reference)


def test_a_process_that_dies_ends_the_other_with_an_error_in_bounded_time(tmp_path):
    pair = _Pair(tmp_path / "run", tmp_path, *LONG)
    pair.wait_for("iters: 4,")
    pair.procs[1].send_signal(signal.SIGKILL)
    start = time.time()
    code = pair.procs[0].wait(timeout=120)  # the 10 s heartbeat timeout, then an exit
    assert code != 0 and time.time() - start < 120
    assert "another task died" in pair.log(0), pair.log(0)[-3000:]


def test_processes_given_different_workdirs_or_process_counts_are_refused(tmp_path):
    pair = _Pair(None, tmp_path, args=(str(tmp_path / "run"), "gs://bucket/run"))
    assert pair.wait(timeout=120) == [1, 1]
    for i in range(2):
        assert "every process needs the same --workdir: process 0 has" in pair.log(i)
        assert "Traceback" not in pair.log(i)
    assert not os.path.exists(tmp_path / "run")  # refused before anything was written

    port = helpers.free_port()
    procs = [subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "train.py"), f"--workdir={tmp_path / 'other'}",
         f"--config={CONFIG}", f"--coordinator_address=127.0.0.1:{port}", f"--num_processes={n}",
         f"--process_id={i}", "--heartbeat_timeout_seconds=10", "--shutdown_timeout_seconds=10"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=_env())
        for i, n in enumerate((2, 3))]
    _STARTED.extend(procs)
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 1, err[-3000:]
        assert "--num_processes was [2, 3] (process 0, 1, ...), but 2 processes joined" in err
