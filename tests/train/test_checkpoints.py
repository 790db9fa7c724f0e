"""Checkpoint checks that need no training run (the run-based ones are in test_loop.py)."""

from __future__ import annotations

import jax
import numpy as np

from cyclegan_jax.train.checkpoints import _mismatch


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
