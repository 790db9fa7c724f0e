"""train.py as users run it: flags, config errors, SIGKILL and SIGTERM mid-run."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

import cyclegan_jax
from cyclegan_jax.train import loop
from cyclegan_jax.train.checkpoints import Checkpoints
from tests import helpers
from tests.helpers import ROOT

pytestmark = pytest.mark.usefixtures("fast_compile")
CONFIG = os.path.join(ROOT, "tests", "tiny_train_config.py")
LONG = ["--config.n_epochs=10", "--config.n_epochs_decay=10", "--config.checkpoint_every=5",
        "--config.log_every=5", "--config.sample_every=1000"]


def _train(workdir, *overrides, wait=True, **kw):
    cmd = [sys.executable, os.path.join(ROOT, "train.py"), f"--workdir={workdir}",
           f"--config={CONFIG}", *overrides]
    env = {**os.environ, **helpers.FAST_COMPILE_ENV}
    if wait:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=ROOT, env=env,
                               **kw)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            cwd=ROOT, env=env, **kw)


def _wait_for_checkpoint(workdir, proc, after=-1, timeout=300):
    """Waits until a checkpoint newer than step `after` is complete."""
    directory = os.path.join(workdir, "checkpoints")
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.isdir(directory) and any(d.isdigit() and int(d) > after
                                            for d in os.listdir(directory)):
            return
        assert proc.poll() is None, proc.stderr.read()[-3000:]
        time.sleep(0.02)
    pytest.fail("no checkpoint appeared")


def test_config_typo_is_a_clear_error(tmp_path):
    proc = _train(tmp_path, "--config.batchsize=2")
    assert proc.returncode == 2
    assert 'Did you mean "batch_size"' in proc.stderr and "Traceback" not in proc.stderr
    # With the default config file the override is checked while flags are defined.
    default = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), f"--workdir={tmp_path}",
                              "--config.batchsize=2"], capture_output=True, text=True, timeout=120)
    assert default.returncode == 2
    assert 'Did you mean "batch_size"' in default.stderr and "Traceback" not in default.stderr


def test_user_error_is_a_message_not_a_traceback(tmp_path):
    proc = _train(tmp_path / "run", "--config.dataset=folder", f"--config.dataroot={tmp_path}/none")
    assert proc.returncode == 1
    assert "does not exist" in proc.stderr and "Traceback" not in proc.stderr


def test_sigkill_mid_run_then_resume_matches_uninterrupted_run(tmp_path):
    steps = ["--config.num_train_steps=20", *LONG]
    proc = _train(tmp_path / "killed", *steps, wait=False)
    _wait_for_checkpoint(str(tmp_path / "killed"), proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    saved = Checkpoints(str(tmp_path / "killed" / "checkpoints")).steps()
    assert saved and saved[-1] < 20, saved  # killed before the end
    done = _train(tmp_path / "killed", *steps)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from step" in done.stderr
    config = helpers.train_config(n_epochs=10, n_epochs_decay=10, num_train_steps=20,
                                  checkpoint_every=5, log_every=5, sample_every=1000)
    straight = loop.train_and_evaluate(config, str(tmp_path / "straight"))
    assert helpers.params_equal(cyclegan_jax.load_params(str(tmp_path / "killed")),
                                straight.params)


def test_kill_9_during_asynchronous_saves_keeps_a_checkpoint_and_resumes_exactly(tmp_path):
    # Saves every step, in the background (the default): killed at moments that fall into
    # saves, the run always keeps a readable checkpoint, and its resumption is exact (so the
    # saves never read buffers that the next step had already reused).
    steps = ["--config.num_train_steps=14", "--config.checkpoint_every=1",
             "--config.keep_checkpoints=2", *LONG[:2], "--config.log_every=7"]
    workdir = tmp_path / "killed"
    newest = -1
    for delay in (0.0, 0.05, 0.2):
        proc = _train(workdir, *steps, wait=False)
        _wait_for_checkpoint(str(workdir), proc, after=newest)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        saved = Checkpoints(str(workdir / "checkpoints")).steps()
        assert saved and saved[-1] < 14, saved
        newest = saved[-1]
        params = cyclegan_jax.load_params(str(workdir))  # the newest readable one restores
        assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))
    done = _train(workdir, *steps)
    assert done.returncode == 0, done.stderr[-3000:]
    config = helpers.train_config(n_epochs=10, n_epochs_decay=10, num_train_steps=14,
                                  checkpoint_every=1, keep_checkpoints=2, log_every=7)
    straight = loop.train_and_evaluate(config, str(tmp_path / "straight"))
    assert helpers.params_equal(cyclegan_jax.load_params(str(workdir)), straight.params)


def test_sigterm_saves_a_checkpoint_and_exits(tmp_path):
    proc = _train(tmp_path, "--config.num_train_steps=100000", *LONG, wait=False)
    _wait_for_checkpoint(str(tmp_path), proc)
    first = Checkpoints(str(tmp_path / "checkpoints")).steps()[0]
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-3000:]
    assert "SIGTERM received" in err
    last = Checkpoints(str(tmp_path / "checkpoints")).steps()[-1]
    assert first < last < 100000
    params = cyclegan_jax.load_params(str(tmp_path))
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))


def test_train_py_resumes_from_an_imported_official_checkpoint(tmp_path):
    workdir = tmp_path / "run"
    imported = subprocess.run(
        [sys.executable, os.path.join(ROOT, "import_torch.py"), f"--workdir={workdir}",
         f"--checkpoint_dir={os.path.join(helpers.FIXTURES, 'official_checkpoint_ngf8')}",
         f"--config={CONFIG}"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert imported.returncode == 0, imported.stderr[-3000:]
    official = cyclegan_jax.load_params(str(workdir))
    done = _train(workdir, "--config.num_train_steps=2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "resumed from step 0" in done.stderr
    assert Checkpoints(str(workdir / "checkpoints")).steps() == [0, 2]
    # Trained on from the official weights: each first-layer weight moved by about 2 lr.
    before = np.asarray(official["G_A"]["conv_in"]["kernel"])
    after = np.asarray(cyclegan_jax.load_params(str(workdir))["G_A"]["conv_in"]["kernel"])
    assert 0 < np.abs(after - before).max() < 3 * helpers.train_config().lr
