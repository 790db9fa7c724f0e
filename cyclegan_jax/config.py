"""A run's config: `config.json` in its workdir, and the upgrade of configs of older versions.

Field names are the official options (see `configs/default.py`). Fields added since runs
were first written are filled in by `upgrade` with the value that keeps such a run's
behaviour, so a workdir written by any earlier version still resumes, evaluates and loads.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

import ml_collections

from cyclegan_jax import files
from cyclegan_jax.errors import UserError

# Field -> its value for a config written before the field existed: the behaviour of that
# version (every conv form computes the same values, so "auto", the fastest, for conv_impl).
ADDED_FIELDS = {
    "remat": False,
    "conv_impl": "auto",
    "compilation_cache_dir": "",  # no persistent compilation cache
    "async_checkpoints": False,
    "init_type": "normal",
    "init_gain": 0.02,
    "lr_policy": "linear",
    "lr_decay_iters": 50,
    "model": "cycle_gan",
    "lambda_L1": 100.0,
    "direction": "AtoB",
}


def upgrade(config: ml_collections.ConfigDict | Mapping[str, Any]) -> ml_collections.ConfigDict:
    """A new, unlocked ConfigDict: `config` (a ConfigDict or a config.json's dict) with every
    field of `ADDED_FIELDS` it lacks."""
    fields = config.to_dict() if isinstance(config, ml_collections.ConfigDict) else dict(config)
    return ml_collections.ConfigDict({**ADDED_FIELDS, **fields})


def save_config(workdir: files.PathLike, config: ml_collections.ConfigDict) -> None:
    """Writes `config` as `workdir/config.json`, atomically (a kill never leaves half a file)."""
    files.write_atomic(files.resolve(workdir) / "config.json", config.to_json(indent=2))


def has_config(workdir: files.PathLike) -> bool:
    """Whether `workdir` holds a run's config.json."""
    return (files.resolve(workdir) / "config.json").exists()


def load_config(workdir: files.PathLike) -> ml_collections.ConfigDict:
    """The config a run saved in `workdir/config.json`, upgraded to this version's fields."""
    if not has_config(workdir):
        raise UserError(f"{files.resolve(workdir)} has no config.json: it is not a cyclegan_jax "
                        "workdir (train.py or import_torch.py writes one)")
    return upgrade(json.loads(files.read_bytes(files.resolve(workdir) / "config.json")))
