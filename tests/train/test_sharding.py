"""Data parallelism: 8 CPU devices equal one (in a subprocess), batch checks, prefetching."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from cyclegan_jax.train import sharding
from tests import helpers

LR = 2e-4


@pytest.mark.parametrize("model,crop", [("cycle_gan", "64"), ("pix2pix", "32")])
def test_eight_devices_match_one_device(model, crop):
    # XLA's optimisations off (both sides alike): the two compiles take 35 instead of 54 s.
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", CROP=crop,
               MODEL=model, **helpers.FAST_COMPILE_ENV)
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "multidevice_check.py")
    proc = subprocess.run([sys.executable, script], env=env, capture_output=True, text=True,
                          timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["devices"] == 8 and result["step"] == 2
    assert result["params_partition_specs"] == ["P()"]  # replicated ...
    assert result["n_devices_holding_params"] == 8  # ... on every device
    # pix2pix: batch norm over the global batch, one image per device
    assert result["max_loss_rel_diff"] < 1e-5
    # Adam moves each weight by about +-lr per step, so reduction-order noise in
    # near-zero gradients can move a weight by up to 2 lr per step; most agree to 1e-6.
    assert result["max_param_abs_diff"] <= 4 * LR
    assert result["frac_params_within_1e-6"] >= 0.8


def test_batch_not_divisible_by_devices():
    from types import SimpleNamespace

    mesh = SimpleNamespace(devices=np.zeros(8))
    sharding.check_batch_size(16, mesh)
    with pytest.raises(ValueError, match="batch_size 12 is not divisible by the 8 devices"):
        sharding.check_batch_size(12, mesh)


def test_prefetch_to_mesh_keeps_order_runs_ahead_and_closes_source():
    mesh = sharding.data_mesh()
    produced, closed = [], []

    def source():
        try:
            for i in range(5):
                produced.append(i)
                yield {"A": np.full((1, 2, 2, 3), i, np.float32)}
        finally:
            closed.append(True)

    batches = sharding.prefetch_to_mesh(source(), mesh, size=2)
    first = next(batches)
    assert produced == [0, 1, 2]  # two batches already on their way to the devices
    assert isinstance(first["A"], jax.Array) and first["A"].sharding.spec == sharding.P("data")
    assert [float(b["A"][0, 0, 0, 0]) for b in batches] == [1.0, 2.0, 3.0, 4.0]
    assert float(first["A"][0, 0, 0, 0]) == 0.0 and closed == [True]

    early = sharding.prefetch_to_mesh(source(), mesh)
    next(early)
    early.close()  # the training loop stops early (SIGTERM, num_train_steps)
    assert closed == [True, True]
