"""Run configs: the upgrade of older configs, and a run written before the package split."""

from __future__ import annotations

import json
import logging
import os
import shutil

import jax
import numpy as np
import pytest

import cyclegan_jax
from configs import default
from cyclegan_jax import config
from cyclegan_jax.errors import UserError
from cyclegan_jax.train import loop
from tests import helpers

# train.py's 2-step run of tests/tiny_train_config.py (ngf 4, ndf 4, pool 2) by the code
# before the package was split, its config.json stripped of the fields added since.
OLD_RUN = os.path.join(helpers.FIXTURES, "run_before_redesign")


def test_upgrade_adds_the_missing_fields_and_keeps_the_rest():
    upgraded = config.upgrade({"ngf": 4, "seed": 3})
    assert upgraded.to_dict() == {"ngf": 4, "seed": 3, **config.ADDED_FIELDS}
    current = default.get_config()
    assert set(config.ADDED_FIELDS) <= set(current.to_dict())  # fields the library reads
    assert config.upgrade(current).to_dict() == current.to_dict()  # complete: unchanged
    upgraded.batch_size = 2  # a private, unlocked copy


def test_missing_config_json_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        config.load_config(str(tmp_path))


@pytest.mark.usefixtures("fast_compile")
def test_a_run_written_before_the_split_loads_evaluates_and_resumes(tmp_path, caplog):
    workdir = str(tmp_path / "run")
    shutil.copytree(OLD_RUN, workdir)
    with open(os.path.join(workdir, "config.json")) as f:
        assert not set(config.ADDED_FIELDS) & set(json.load(f))  # the old format
    params = cyclegan_jax.load_params(workdir)
    assert params["G_A"]["conv_in"]["kernel"].shape == (7, 7, 3, 4)
    resume = helpers.train_config(ngf=4, ndf=4, pool_size=2, conv_impl="auto", num_train_steps=3,
                                  checkpoint_every=3, sample_every=1000, keep_checkpoints=1)
    with caplog.at_level(logging.INFO):
        state = loop.train_and_evaluate(resume, workdir)
    assert "resumed from step 2" in caplog.text
    assert "changed config" not in caplog.text  # the added fields hold what the run used
    assert int(state.step) == 3
    assert not helpers.params_equal(state.params, params)
    assert all(np.isfinite(np.asarray(x)).all()
               for x in jax.tree.leaves(cyclegan_jax.load_params(workdir)))
