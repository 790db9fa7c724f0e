"""train_and_evaluate end to end: outputs, exact resume, datasets, bad input."""

from __future__ import annotations

import json
import logging
import os

import jax
import numpy as np
import pytest
from PIL import Image

import cyclegan_jax
from cyclegan_jax.train import loop
from cyclegan_jax.train.checkpoints import Checkpoints
from cyclegan_jax.errors import UserError
from cyclegan_jax.train.step import METRIC_NAMES
from tests import helpers

pytestmark = pytest.mark.usefixtures("fast_compile")


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    """Six uninterrupted steps; shared by the tests that compare against it."""
    workdir = str(tmp_path_factory.mktemp("straight"))
    state = loop.train_and_evaluate(helpers.train_config(), workdir)
    return workdir, jax.device_get(state)


def test_run_writes_checkpoints_logs_samples_and_config(straight_run):
    workdir, state = straight_run
    assert int(state.step) == 6
    assert Checkpoints(os.path.join(workdir, "checkpoints")).steps() == [3, 6]  # keep 2
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    loss_rows = [r for r in rows if "D_A" in r]
    assert [r["step"] for r in loss_rows] == [2, 4, 6]
    assert all(set(METRIC_NAMES) <= set(r) and all(np.isfinite(r[k]) for k in METRIC_NAMES)
               for r in loss_rows)
    gt = [r for r in rows if "gt_mae_A2B" in r]
    assert [r["step"] for r in gt] == [0, 6] and all(0 < r["gt_mae_A2B"] < 1 for r in gt)
    samples = sorted(os.listdir(os.path.join(workdir, "samples")))
    assert samples == ["step_00000004.png", "step_00000006.png"]
    grid = np.asarray(Image.open(os.path.join(workdir, "samples", samples[-1])))
    assert grid.shape == (2 * 2 * 32, 3 * 32, 3)  # 2 A rows + 2 B rows, 3 columns
    assert any(f.startswith("events.out.tfevents") for f in
               os.listdir(os.path.join(workdir, "tensorboard")))
    with open(os.path.join(workdir, "config.json")) as f:
        saved = json.load(f)
    assert saved["steps_per_epoch"] == 3 and saved["batch_size"] == 2


def test_load_params_returns_final_params(straight_run):
    workdir, state = straight_run
    assert helpers.params_equal(cyclegan_jax.load_params(workdir), state.params)


def test_resume_is_bit_exact(straight_run, tmp_path):
    _, straight = straight_run
    workdir = str(tmp_path)
    first = loop.train_and_evaluate(helpers.train_config(num_train_steps=4), workdir)
    assert int(first.step) == 4
    assert Checkpoints(os.path.join(workdir, "checkpoints")).steps() == [3, 4]
    resumed = loop.train_and_evaluate(helpers.train_config(), workdir)
    assert int(resumed.step) == 6
    assert helpers.params_equal(resumed.params, straight.params)
    assert helpers.params_equal((resumed.opt_state_G, resumed.opt_state_D),
                                (straight.opt_state_G, straight.opt_state_D))
    assert helpers.params_equal((resumed.pool_fake_A, resumed.pool_fake_B),
                                (straight.pool_fake_A, straight.pool_fake_B))
    assert np.array_equal(np.asarray(resumed.rng), np.asarray(straight.rng))


def test_corrupt_latest_checkpoint_falls_back_with_warning(straight_run, tmp_path, caplog):
    import shutil

    workdir = str(tmp_path / "run")
    shutil.copytree(straight_run[0], workdir)
    latest = os.path.join(workdir, "checkpoints", "6", "state")
    for root, _, files in os.walk(latest):
        for name in files:
            with open(os.path.join(root, name), "wb") as f:
                f.write(b"garbage")
    # A save killed midway leaves only a temporary folder, which is never read.
    os.makedirs(os.path.join(workdir, "checkpoints", "9.orbax-checkpoint-tmp-123", "state"))
    with caplog.at_level(logging.WARNING):
        params = cyclegan_jax.load_params(workdir)
    assert "checkpoint at step 6" in caplog.text and "cannot be read" in caplog.text
    assert not helpers.params_equal(params, straight_run[1].params)  # step 3's, not step 6's


def test_all_checkpoints_unreadable_is_an_error_not_a_fresh_start(straight_run, tmp_path):
    import shutil

    workdir = str(tmp_path / "run")
    shutil.copytree(straight_run[0], workdir)
    with pytest.raises(UserError, match="none of the checkpoints") as error:  # another size
        loop.train_and_evaluate(helpers.train_config(ngf=4), workdir)
    assert ("newest, step 6: ValueError: params.G_A.block_0.conv_0.bias is float32[32] in the "
            "checkpoint, float32[16] in this run") in str(error.value)
    assert Checkpoints(os.path.join(workdir, "checkpoints")).steps() == [3, 6]


def test_tfds_mock_apple2orange(tmp_path):
    import tensorflow_datasets as tfds

    config = helpers.train_config(dataset="tfds", tfds_name="apple2orange", num_train_steps=2)
    with tfds.testing.mock_data(num_examples=5, policy=tfds.testing.MockPolicy.USE_CODE):
        state = loop.train_and_evaluate(config, str(tmp_path))
    assert int(state.step) == 2
    with open(tmp_path / "config.json") as f:
        assert json.load(f)["steps_per_epoch"] == 3  # ceil(5 / 2)
    assert os.listdir(tmp_path / "samples")


def test_folder_dataset_skips_corrupt_file_and_reads_any_mode(tmp_path, caplog):
    helpers.write_folder_dataset(tmp_path / "data")
    config = helpers.train_config(dataset="folder", dataroot=str(tmp_path / "data"),
                                  num_train_steps=2)
    with caplog.at_level(logging.WARNING):
        state = loop.train_and_evaluate(config, str(tmp_path / "run"))
    assert int(state.step) == 2
    assert "broken.jpg" in caplog.text and "skipped 1 unreadable" in caplog.text
    with open(tmp_path / "run" / "config.json") as f:
        assert json.load(f)["steps_per_epoch"] == 3  # max(4 readable A, 5 B) = 5 -> ceil(5/2)


def test_grayscale_domains(tmp_path):
    helpers.write_folder_dataset(tmp_path / "data")
    config = helpers.train_config(dataset="folder", dataroot=str(tmp_path / "data"),
                                  num_train_steps=1, input_nc=1, output_nc=1, sample_every=1)
    state = loop.train_and_evaluate(config, str(tmp_path / "run"))
    assert state.params["G_A"]["conv_in"]["kernel"].shape[2] == 1
    grid = Image.open(tmp_path / "run" / "samples" / "step_00000001.png")
    assert grid.mode == "RGB"


@pytest.mark.parametrize("make,match", [
    (lambda root: None, "does not exist"),
    (lambda root: [os.makedirs(root / s) for s in ("trainA", "trainB", "testA", "testB")],
     "holds no images"),
])
def test_missing_or_empty_dataset_folders(tmp_path, make, match):
    make(tmp_path / "data")
    config = helpers.train_config(dataset="folder", dataroot=str(tmp_path / "data"))
    with pytest.raises(UserError, match=match):
        loop.train_and_evaluate(config, str(tmp_path / "run"))


def test_image_smaller_than_crop_names_the_file(tmp_path):
    helpers.write_folder_dataset(tmp_path / "data")
    config = helpers.train_config(dataset="folder", dataroot=str(tmp_path / "data"),
                                  preprocess="crop", crop_size=48, load_size=48)
    with pytest.raises(UserError, match=r"trainA\[0\] is 50x40 .* smaller than crop_size=48"):
        loop.train_and_evaluate(config, str(tmp_path / "run"))


def test_unwritable_workdir(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="cannot write to workdir"):
        loop.train_and_evaluate(helpers.train_config(), str(blocker / "run"))


def test_non_finite_losses_stop_and_keep_last_good_checkpoint(tmp_path):
    workdir = str(tmp_path)
    loop.train_and_evaluate(helpers.train_config(num_train_steps=3), workdir)
    with pytest.raises(loop.NonFiniteError, match="NaN/inf"):
        loop.train_and_evaluate(helpers.train_config(lr=1e38), workdir)
    checkpoints = Checkpoints(os.path.join(workdir, "checkpoints"))
    assert checkpoints.steps() == [3]
    params = cyclegan_jax.load_params(workdir)
    assert all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(params))


def test_changed_dataset_refuses_to_resume(tmp_path):
    workdir = str(tmp_path)
    loop.train_and_evaluate(helpers.train_config(num_train_steps=3), workdir)
    with pytest.raises(UserError, match="resuming would silently change the run"):
        loop.train_and_evaluate(helpers.train_config(synthetic_train_size=8), workdir)
