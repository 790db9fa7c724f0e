"""Official checkpoint folders and pretrained generators -> our runs and params."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

import cyclegan_jax
from cyclegan_jax.torch_compat import official
from cyclegan_jax.train.checkpoints import Checkpoints
from cyclegan_jax.errors import UserError
from cyclegan_jax.train.step import METRIC_NAMES
from tests import helpers
from tests.helpers import ROOT

OFFICIAL = os.path.join(helpers.FIXTURES, "official_checkpoint_ngf8")


def _restore(workdir, config):
    template = cyclegan_jax.create_train_state(config, 0)
    checkpoints = Checkpoints(os.path.join(workdir, "checkpoints"))
    try:
        return checkpoints.restore_latest(template)
    finally:
        checkpoints.close()


def test_imported_checkpoint_reproduces_official_step_one_losses(golden, tmp_path):
    config = helpers.golden_config(epoch_count=3)
    count = official.import_checkpoint(OFFICIAL, str(tmp_path), config)
    state, record = _restore(str(tmp_path), config)
    assert count == sum(v.size for k, v in golden.items() if k.startswith("before/"))
    assert int(state.step) == 0 and record["data"] is None and record["epoch"] == "latest"
    assert state.hparams.epoch_count == 3
    for net in helpers.NETS:
        expected = cyclegan_jax.params_from_state_dict(
            helpers.state_dict(golden, f"before/{net}/"))
        assert helpers.params_equal(state.params[net], expected), net
    assert all(not np.any(np.asarray(x)) for x in jax.tree.leaves(state.opt_state_G)
               if np.asarray(x).dtype == np.float32)  # fresh Adam moments
    _, metrics = cyclegan_jax.train_step(state, helpers.golden_batch(golden, 1))
    for name in METRIC_NAMES:
        expected = float(golden[f"step1/loss/{name}"])
        assert float(metrics[name]) == pytest.approx(expected, rel=1e-6), name


def test_mismatched_config_names_the_fields_to_pass(tmp_path):
    config = helpers.golden_config(ngf=16, netG="resnet_9blocks")
    with pytest.raises(UserError) as e:
        official.import_checkpoint(OFFICIAL, str(tmp_path), config)
    assert "--config.ngf=8 --config.netG=resnet_6blocks" in str(e.value)
    assert not os.path.exists(os.path.join(tmp_path, "checkpoints"))


def test_missing_files_and_existing_checkpoints_are_refused(tmp_path):
    partial = tmp_path / "partial"
    shutil.copytree(OFFICIAL, partial)
    os.remove(partial / "latest_net_D_B.pth")
    with pytest.raises(UserError, match="lacks latest_net_D_B.pth"):
        official.import_checkpoint(str(partial), str(tmp_path / "run"), helpers.golden_config())
    with pytest.raises(UserError, match="lacks 200_net_G_A.pth"):
        official.official_files(OFFICIAL, "200")
    with pytest.raises(UserError, match="does not exist"):
        official.official_files(str(tmp_path / "nowhere"))
    config = helpers.train_config()
    official.import_checkpoint(OFFICIAL, str(tmp_path / "twice"), config)
    with pytest.raises(UserError, match="already has checkpoints"):
        official.import_checkpoint(OFFICIAL, str(tmp_path / "twice"), config)


def test_pretrained_generator_file_to_msgpack_and_translate(tmp_path):
    reference = helpers.fixture("generator_ngf8_6blocks_affine.npz")
    pth = os.path.join(helpers.FIXTURES, "generator_ngf8_6blocks_affine.pth")
    out = tmp_path / "g.msgpack"
    result = subprocess.run([sys.executable, os.path.join(ROOT, "import_torch.py"),
                             f"--generator={pth}", f"--output={out}"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    params = official.load_generator(str(out))
    assert helpers.params_equal(params, official.load_generator(pth))
    images = cyclegan_jax.translate(params, helpers.nhwc(reference["input_nchw"]))
    np.testing.assert_allclose(np.asarray(images), helpers.nhwc(reference["output_nchw"]), atol=5e-6)


def test_generator_loader_refuses_a_discriminator_and_junk(tmp_path):
    with pytest.raises(UserError, match="holds a discriminator"):
        official.load_generator(os.path.join(OFFICIAL, "latest_net_D_A.pth"))
    junk = tmp_path / "junk.msgpack"
    junk.write_bytes(b"\xc1not msgpack")
    with pytest.raises(UserError, match="not a Flax msgpack"):
        official.load_generator(str(junk))
    with pytest.raises(UserError, match="does not exist"):
        official.load_generator(str(tmp_path / "missing.pth"))


def test_imported_batch_norm_checkpoint_keeps_running_statistics_and_steps_as_upstream(tmp_path):
    # The folder the official save_networks("latest") wrote for the batch-norm fixture.
    golden = helpers.fixture("train_two_steps_ngf8_batchnorm.npz")
    config = helpers.golden_config(norm="batch", batch_size=2)
    official.import_checkpoint(os.path.join(helpers.FIXTURES, "official_checkpoint_ngf8_batchnorm"),
                               str(tmp_path), config)
    state, _ = _restore(str(tmp_path), config)
    for net in helpers.NETS:
        expected = cyclegan_jax.params_from_state_dict(helpers.state_dict(golden, f"before/{net}/"))
        assert helpers.params_equal(state.params[net], expected["params"]), net
        assert helpers.params_equal(state.batch_stats[net], expected["batch_stats"]), net
    _, metrics = cyclegan_jax.train_step(state, helpers.golden_batch(golden, 1))
    for name in METRIC_NAMES:
        expected = float(golden[f"step1/loss/{name}"])
        assert float(metrics[name]) == pytest.approx(expected, rel=1e-6), name
    # a config without batch norm names the norm to pass
    with pytest.raises(UserError, match="--config.norm=batch"):
        official.import_checkpoint(os.path.join(helpers.FIXTURES, "official_checkpoint_ngf8_batchnorm"),
                                   str(tmp_path / "other"), helpers.golden_config(batch_size=2))


def test_imported_pix2pix_checkpoint_steps_as_upstream(tmp_path):
    # latest_net_{G,D}.pth as the official Pix2PixModel's save_networks("latest") wrote them.
    from cyclegan_jax.train import pix2pix_step
    from tests.train.test_pix2pix_step import golden_config

    folder = os.path.join(helpers.FIXTURES, "official_checkpoint_pix2pix_unet128_ngf4")
    golden = helpers.fixture("pix2pix_two_steps_unet128_ngf4.npz")
    official.import_checkpoint(folder, str(tmp_path), golden_config())
    state, _ = _restore(str(tmp_path), golden_config())
    for net in ("G", "D"):
        expected = cyclegan_jax.params_from_state_dict(helpers.state_dict(golden, f"before/{net}/"))
        assert helpers.params_equal(state.params[net], expected["params"]), net
        assert helpers.params_equal(state.batch_stats[net], expected["batch_stats"]), net
    _, metrics = pix2pix_step.pix2pix_step(state, helpers.golden_batch(golden, 1))
    for name in pix2pix_step.METRIC_NAMES:
        expected = float(golden[f"step1/loss/{name}"])
        assert float(metrics[name]) == pytest.approx(expected, rel=2e-6), name
    # a CycleGAN config looks for the four CycleGAN files and says where pix2pix's go
    with pytest.raises(UserError, match="lacks latest_net_G_A.pth.*configs/pix2pix.py"):
        official.import_checkpoint(folder, str(tmp_path / "other"), helpers.golden_config())
