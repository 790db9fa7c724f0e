"""eval.py and the evaluation program: PNGs, gallery, metrics, folders, bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cyclegan_jax import translate
from cyclegan_jax.config import load_config
from cyclegan_jax.eval import runner
from cyclegan_jax.torch_compat import official
from cyclegan_jax.train.checkpoints import restore_params
from cyclegan_jax.data.preprocess import normalize
from cyclegan_jax.data.sources import FolderSource, open_split
from cyclegan_jax.errors import UserError
from cyclegan_jax.eval.metrics import ground_truth_mae
from cyclegan_jax.images import float_to_uint8
from tests import helpers
from tests.helpers import ROOT

OFFICIAL = os.path.join(helpers.FIXTURES, "official_checkpoint_ngf8")
GENERATOR = os.path.join(helpers.FIXTURES, "generator_ngf8_6blocks.pth")


@pytest.fixture(scope="module")
def fid_weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("fid") / "standin.npz"
    np.savez(path, **helpers.fid_standin_state_dict())
    return str(path)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A run on the synthetic data (2 test images per domain) holding the official weights."""
    path = str(tmp_path_factory.mktemp("run"))
    official.import_checkpoint(OFFICIAL, path, helpers.train_config())
    return path


def _eval(*args):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "eval.py"), *args],
                            capture_output=True, text=True, cwd=ROOT, timeout=600)
    return result


def test_eval_cli_on_a_run_writes_images_gallery_and_metrics(workdir, fid_weights):
    result = _eval(f"--workdir={workdir}", f"--fid_weights={fid_weights}")
    assert result.returncode == 0, result.stderr[-3000:]
    out = os.path.join(workdir, "eval", "test_0")
    with open(os.path.join(out, "metrics.json")) as f:
        metrics = json.load(f)
    keys = {"cycle_l1_A", "cycle_l1_B", "gt_mae_A2B", "gt_mae_B2A", "fid_A2B", "kid_A2B",
            "fid_B2A", "kid_B2A"}
    assert keys <= set(metrics) and all(np.isfinite(metrics[k]) for k in keys)
    assert all(0 < metrics[k] < 1 for k in keys if k.startswith(("cycle", "gt")))
    assert metrics["fid_A2B"] > 0
    for key in keys:  # the printed table
        assert key in result.stdout
    names = sorted(os.listdir(os.path.join(out, "images")))
    assert names == sorted(f"{i:05d}_{label}.png" for i in range(2) for label in
                           ("real_A", "fake_B", "rec_A", "real_B", "fake_A", "rec_B"))
    assert Image.open(os.path.join(out, "images", "00000_fake_B.png")).size == (40, 40)  # native
    with open(os.path.join(out, "index.html")) as f:
        page = f.read()
    assert page.count("<tr><td>0000") == 4 and "images/00001_rec_B.png" in page


def test_official_preprocessing_resizes_and_without_weights_fid_is_skipped(workdir, tmp_path):
    options = runner.EvalOptions(preprocess="official", image_size=32, max_images=1)
    metrics, out = runner.evaluate_run(workdir, options=options, output_dir=str(tmp_path))
    assert set(metrics) == {"cycle_l1_A", "cycle_l1_B", "gt_mae_A2B", "gt_mae_B2A"}
    assert Image.open(os.path.join(out, "images", "00000_rec_A.png")).size == (32, 32)
    assert len(os.listdir(os.path.join(out, "images"))) == 6


def test_eval_ground_truth_mae_is_the_one_training_logs(workdir, tmp_path):
    options = runner.EvalOptions(preprocess="official", image_size=32)
    metrics, _ = runner.evaluate_run(workdir, options=options, output_dir=str(tmp_path))
    params, _ = restore_params(workdir)
    config = load_config(workdir)
    for x, y, net in (("A", "B", "G_A"), ("B", "A", "G_B")):
        logged = ground_truth_mae(params[net], open_split(config, f"test{x}"), 32, 3, 3)
        assert 0 < logged < 1
        np.testing.assert_allclose(metrics[f"gt_mae_{x}2{y}"], logged, rtol=1e-5)


def _write_folder(folder, sizes):
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(0)
    for name, (h, w) in sizes.items():
        os.makedirs(os.path.dirname(os.path.join(folder, name)), exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            os.path.join(folder, name))


def test_folder_of_mixed_sizes_with_a_pretrained_pth(tmp_path, fid_weights, caplog):
    sizes = {"a.png": (37, 53), "b.png": (64, 64), "sub/c.jpg": (70, 20)}
    _write_folder(tmp_path / "in", sizes)
    (tmp_path / "in" / "notes.txt").write_text("not an image")
    _write_folder(tmp_path / "ref", {"r0.png": (64, 64), "r1.png": (50, 50)})
    out = str(tmp_path / "out")
    params = official.load_generator(GENERATOR)
    metrics = runner.translate_folder(
        params, str(tmp_path / "in"), out, runner.EvalOptions(batch_size=2, fid_weights=fid_weights),
        reference_dir=str(tmp_path / "ref"))
    assert set(metrics) == {"fid_A2B", "kid_A2B"}
    assert "notes.txt" in caplog.text
    assert sorted(os.listdir(os.path.join(out, "images"))) == [
        "a_fake_B.png", "a_real_A.png", "b_fake_B.png", "b_real_A.png", "sub__c_fake_B.png",
        "sub__c_real_A.png"]
    for name in ("a", "b", "sub__c"):  # each image translated as if alone, at its own size
        path = os.path.join(tmp_path, "in", name.replace("__", "/") + (".jpg" if "c" in name else ".png"))
        real = np.asarray(Image.open(path).convert("RGB"))
        alone = float_to_uint8(translate(params, normalize(real)[None]))[0]
        fake = np.asarray(Image.open(os.path.join(out, "images", f"{name}_fake_B.png")))
        assert fake.shape == real.shape
        assert np.abs(fake.astype(int) - alone).max() <= 1 and np.mean(fake != alone) < 1e-3


def test_interrupted_evaluation_leaves_no_complete_looking_results(tmp_path, monkeypatch):
    _write_folder(tmp_path / "in", {"a.png": (32, 32), "b.png": (32, 32)})
    out = tmp_path / "out"
    os.makedirs(out)
    (out / "metrics.json").write_text("{}")  # from an earlier, complete evaluation
    (out / "index.html").write_text("old")
    original = FolderSource.load

    def failing(self, index):
        if index == 1:
            raise UserError("cannot decode image b.png")
        return original(self, index)

    monkeypatch.setattr(FolderSource, "load", failing)
    with pytest.raises(UserError, match="b.png"):
        runner.translate_folder(official.load_generator(GENERATOR), str(tmp_path / "in"),
                                  str(out))
    assert not (out / "metrics.json").exists() and not (out / "index.html").exists()


def test_bad_inputs_are_clear_messages(tmp_path, workdir):
    os.makedirs(tmp_path / "empty")
    result = _eval(f"--generator={GENERATOR}", f"--input_dir={tmp_path / 'empty'}",
                   f"--output_dir={tmp_path / 'out'}")
    assert result.returncode == 1 and "holds no images" in result.stderr
    assert "Traceback" not in result.stderr
    result = _eval(f"--workdir={tmp_path / 'nothing'}")
    assert result.returncode == 1 and "no config.json" in result.stderr
    with pytest.raises(UserError, match="does not exist.*pt_inception"):
        runner.evaluate_run(workdir, options=runner.EvalOptions(fid_weights=str(tmp_path / "x.pth")),
                              output_dir=str(tmp_path / "o"))
    with pytest.raises(UserError, match="holds a discriminator"):
        official.load_generator(os.path.join(OFFICIAL, "latest_net_D_A.pth"))
    with pytest.raises(UserError, match="preprocess must be"):
        runner.EvalOptions(preprocess="resize")
    not_a_checkpoint = tmp_path / "fake.pth"
    not_a_checkpoint.write_text("hello")
    with pytest.raises(UserError, match="fake.pth"):
        official.load_generator(str(not_a_checkpoint))


def test_eval_cli_keeps_its_compiled_programs_in_the_cache_dir(tmp_path):
    _write_folder(tmp_path / "in", {"a.png": (32, 32)})
    cache = tmp_path / "xla"
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "eval.py"), f"--generator={GENERATOR}",
         f"--input_dir={tmp_path / 'in'}", f"--output_dir={tmp_path / 'out'}",
         f"--compilation_cache_dir={cache}"], capture_output=True, text=True, cwd=ROOT,
        timeout=600, env={**env, "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"})
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.path.exists(tmp_path / "out" / "images" / "a_fake_B.png")
    assert any(name.startswith("jit_") for name in os.listdir(cache))  # the translation program
