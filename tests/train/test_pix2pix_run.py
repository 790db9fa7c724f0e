"""pix2pix through train.py's program and eval.py: outputs, exact resume, the official
real_A / fake_B / real_B evaluation, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest
from PIL import Image

import cyclegan_jax
from cyclegan_jax.data.sources import AlignedHalves, open_aligned
from cyclegan_jax.errors import UserError
from cyclegan_jax.eval.metrics import psnr_uint8
from cyclegan_jax.images import rgb_uint8
from cyclegan_jax.train import loop
from cyclegan_jax.train.checkpoints import Checkpoints
from cyclegan_jax.train.pix2pix_step import METRIC_NAMES
from tests import helpers

pytestmark = pytest.mark.usefixtures("fast_compile")


def pix2pix_config(**overrides):
    """Six steps of pix2pix (batch norm, dropout on, as upstream) on tiny synthetic pairs."""
    return helpers.train_config(**{
        "model": "pix2pix", "norm": "batch", "no_dropout": False, "gan_mode": "vanilla",
        "pool_size": 0, "lambda_identity": 0.0, **overrides})


@pytest.fixture(scope="module")
def straight_run(tmp_path_factory):
    workdir = str(tmp_path_factory.mktemp("pix2pix"))
    state = loop.train_and_evaluate(pix2pix_config(), workdir)
    return workdir, jax.device_get(state)


def test_run_writes_pix2pix_logs_samples_and_checkpoints(straight_run):
    workdir, state = straight_run
    assert int(state.step) == 6 and set(state.params) == {"G", "D"}
    assert Checkpoints(os.path.join(workdir, "checkpoints")).steps() == [3, 6]
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    losses = [r for r in rows if "G_GAN" in r]
    assert [r["step"] for r in losses] == [2, 4, 6]
    assert all(np.isfinite(r[k]) for r in losses for k in METRIC_NAMES)
    gt = [r for r in rows if "gt_mae_A2B" in r]
    assert [r["step"] for r in gt] == [0, 6] and all(0 < r["gt_mae_A2B"] < 1 for r in gt)
    grid = np.asarray(Image.open(os.path.join(workdir, "samples", "step_00000006.png")))
    assert grid.shape == (2 * 32, 3 * 32, 3)  # per pair: input | output | target


def test_resume_is_bit_exact_running_statistics_and_dropout_included(straight_run, tmp_path):
    _, straight = straight_run
    workdir = str(tmp_path)
    loop.train_and_evaluate(pix2pix_config(num_train_steps=4), workdir)
    resumed = loop.train_and_evaluate(pix2pix_config(), workdir)
    assert int(resumed.step) == 6
    assert helpers.params_equal(resumed.params, straight.params)
    assert helpers.params_equal(resumed.batch_stats, straight.batch_stats)
    assert helpers.params_equal((resumed.opt_state_G, resumed.opt_state_D),
                                (straight.opt_state_G, straight.opt_state_D))


def test_eval_writes_the_official_triplets_and_scores_against_the_targets(straight_run,
                                                                           tmp_path):
    workdir, state = straight_run
    weights = tmp_path / "standin.npz"
    np.savez(weights, **helpers.fid_standin_state_dict())
    out = tmp_path / "eval"
    result = subprocess.run(
        [sys.executable, os.path.join(helpers.ROOT, "eval.py"), f"--workdir={workdir}",
         f"--output_dir={out}", f"--fid_weights={weights}"],
        capture_output=True, text=True, cwd=helpers.ROOT, timeout=600,
        env={**os.environ, **helpers.FAST_COMPILE_ENV})
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((out / "metrics.json").read_text())
    assert {"l1_A2B", "psnr_A2B", "fid_A2B", "kid_A2B"} <= set(metrics)
    names = sorted(os.listdir(out / "images"))
    assert names == [f"0000{i}_{k}.png" for i in range(2) for k in ("fake_B", "real_A", "real_B")]
    # the scores are those of the written images and of `translate` on the test pairs
    images = {n: np.asarray(Image.open(out / "images" / n)) for n in names}
    psnr = np.mean([psnr_uint8(images[f"0000{i}_fake_B.png"], images[f"0000{i}_real_B.png"])
                    for i in range(2)])
    assert metrics["psnr_A2B"] == pytest.approx(psnr)
    variables = state.network_variables()["G"]
    config = pix2pix_config()
    test = AlignedHalves(open_aligned(config, "test"), "AtoB")
    l1 = []
    for i in range(2):
        x = test.load(i)[None].astype(np.float32) / 127.5 - 1
        fake = np.asarray(cyclegan_jax.translate(variables, x))
        np.testing.assert_array_equal(rgb_uint8(fake[0]), images[f"0000{i}_fake_B.png"])
        l1.append(np.abs(fake - (test.ground_truth(i) / 127.5 - 1)).mean() / 2)
    assert metrics["l1_A2B"] == pytest.approx(np.mean(l1), rel=1e-5)


@pytest.mark.parametrize("overrides,match", [
    ({"model": "pix3pix"}, "model must be one of"),
    ({"dataset": "tfds"}, "TFDS has no paired pix2pix dataset"),
    ({"netG": "unet_128", "crop_size": 96, "load_size": 100}, "multiples of 128"),
    ({"direction": "AtoC"}, "direction must be"),
])
def test_bad_pix2pix_options_are_refused_before_anything_compiles(tmp_path, overrides, match):
    with pytest.raises(UserError, match=match):
        loop.train_and_evaluate(pix2pix_config(**overrides), str(tmp_path))
    assert not (tmp_path / "checkpoints").exists()
