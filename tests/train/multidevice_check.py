"""Run in a subprocess with 8 host devices: the sharded step equals the 1-device step.

MODEL=pix2pix checks pix2pix's step (batch norm: the statistics of the global batch).
Prints one JSON line with the largest differences; `test_sharding.py` asserts on it.
"""

import json
import os
import sys

assert "--xla_force_host_platform_device_count=8" in os.environ.get("XLA_FLAGS", "")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import jax  # noqa: E402
import numpy as np  # noqa: E402

import cyclegan_jax  # noqa: E402
from cyclegan_jax.train import sharding  # noqa: E402
from tests.helpers import tiny_config  # noqa: E402

STEPS = 2


def run(mesh):
    config = tiny_config(batch_size=8, crop_size=int(os.environ.get("CROP", "64")))
    step = cyclegan_jax.train_step
    if os.environ.get("MODEL") == "pix2pix":
        config.update(model="pix2pix", norm="batch", gan_mode="vanilla", pool_size=0,
                      lambda_identity=0.0)
        step = cyclegan_jax.pix2pix_step
    state = cyclegan_jax.create_train_state(config, 0)
    rng = np.random.default_rng(0)
    shape = (8, config.crop_size, config.crop_size, 3)
    batches = [{k: rng.uniform(-1, 1, shape).astype(np.float32) for k in "AB"}
               for _ in range(STEPS)]
    if mesh is None:
        state = jax.device_put(state, jax.devices()[0])
    else:
        state = sharding.replicate(state, mesh)
    losses = []
    for batch in batches:
        if mesh is not None:
            batch = sharding.shard_batch(batch, mesh)
        state, metrics = step(state, batch)
        losses.append({k: float(v) for k, v in metrics.items()})
    return state, losses


def main():
    assert jax.device_count() == 8, jax.devices()
    mesh = sharding.data_mesh()
    sharded_state, sharded_losses = run(mesh)
    single_state, single_losses = run(None)
    params_sharding = {str(x.sharding.spec) for x in jax.tree.leaves(sharded_state.params)}
    diffs = jax.tree.leaves(jax.tree.map(
        lambda a, b: np.abs(np.asarray(a) - np.asarray(b)), sharded_state.params,
        single_state.params))
    flat = np.concatenate([d.ravel() for d in diffs])
    loss_rel = max(abs(s[k] - u[k]) / max(abs(u[k]), 1e-12)
                   for s, u in zip(sharded_losses, single_losses) for k in s)
    print(json.dumps({
        "devices": jax.device_count(),
        "n_devices_holding_params": len(jax.tree.leaves(sharded_state.params)[0].sharding.device_set),
        "params_partition_specs": sorted(params_sharding),
        "max_loss_rel_diff": loss_rel,
        "max_param_abs_diff": float(flat.max()),
        "frac_params_within_1e-6": float(np.mean(flat <= 1e-6)),
        "step": int(sharded_state.step),
    }))


if __name__ == "__main__":
    main()
