"""Checkpoint checks that need no training run (the run-based ones are in test_loop.py)."""

from __future__ import annotations

import time

import jax
import numpy as np

from cyclegan_jax.train.checkpoints import Checkpoints, _mismatch


def test_checkpoint_mismatch_names_missing_extra_and_reshaped_arrays():
    def tree(**shapes):
        return {"params": {n: jax.ShapeDtypeStruct(s, np.float32) for n, s in shapes.items()},
                "step": jax.ShapeDtypeStruct((), np.int32)}

    saved = tree(a=(2,), b=(3,), c=(1,), d=(1,), e=(1,))
    assert _mismatch(saved, saved) == ""
    assert _mismatch(saved, tree(a=(2,), z=(3,))) == (
        "1 arrays of this run are not in the checkpoint (params.z); "
        "the checkpoint has 4 arrays this run does not (params.b, params.c, params.d, ...)")
    assert _mismatch(saved, tree(a=(2,), b=(4,), c=(1,), d=(1,), e=(1,))) == (
        "params.b is float32[3] in the checkpoint, float32[4] in this run")


def _exists_after(path, seconds: float) -> bool:
    """Whether `path` still exists after up to `seconds` (Orbax cleans up in the background)."""
    deadline = time.time() + seconds
    while path.exists() and time.time() < deadline:
        time.sleep(0.01)
    return path.exists()


def test_readers_leave_saves_in_progress_alone_and_the_writer_clears_killed_ones(tmp_path):
    # A reader (eval.py, load_params, a look at the steps) may open the checkpoints while
    # the run is saving: removing the save's temporary folder there made the save fail.
    in_progress = tmp_path / "checkpoints" / "7.orbax-checkpoint-tmp"
    in_progress.mkdir(parents=True)
    reader = Checkpoints(tmp_path / "checkpoints")
    assert reader.steps() == [] and reader.restore_latest(None) is None
    assert _exists_after(in_progress, 1.0)  # a cleanup takes ~10 ms: there was none
    reader.close()
    assert Checkpoints(tmp_path / "elsewhere").steps() == []
    assert not (tmp_path / "elsewhere").exists()  # a reader creates nothing
    writer = Checkpoints(tmp_path / "checkpoints", writer=True)  # the run, when it starts
    assert not _exists_after(in_progress, 10.0)
    writer.close()


def test_a_state_without_image_pools_saves_and_restores(tmp_path):
    # pool_size 0 (and pix2pix, which has no pool) leaves zero-size pool arrays, which
    # Orbax refuses to save: they are left out of the files and restored from the template.
    import cyclegan_jax
    from tests import helpers

    state = cyclegan_jax.create_train_state(helpers.tiny_config(pool_size=0), 1)
    assert state.pool_fake_A.images.size == 0
    checkpoints = Checkpoints(tmp_path, writer=True)
    try:
        checkpoints.save(state, {"step": 0})
        template = cyclegan_jax.create_train_state(helpers.tiny_config(pool_size=0), 2)
        restored, record = checkpoints.restore_latest(template)
    finally:
        checkpoints.close()
    assert record == {"step": 0}
    assert helpers.params_equal(restored.params, state.params)
    assert restored.pool_fake_B.images.shape == (0, 32, 32, 3)
