"""export.py and `deploy`: artifacts that map uint8 images to uint8 images as `translate`
does, loadable without this project; clear errors and nothing partial at --output."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

import cyclegan_jax
from cyclegan_jax import deploy
from cyclegan_jax.deploy import artifact
from cyclegan_jax.errors import UserError
from cyclegan_jax.torch_compat import official
from tests import helpers
from tests.helpers import ROOT

GENERATOR = os.path.join(helpers.FIXTURES, "generator_ngf8_6blocks.pth")
DISCRIMINATOR_CHECKPOINT = os.path.join(helpers.FIXTURES, "official_checkpoint_ngf8")

# Runs in a fresh interpreter outside the repository: only jax and numpy, nothing of ours.
_LOAD_AND_CALL = """
import sys, numpy as np, jax
try:
    import cyclegan_jax
    sys.exit("cyclegan_jax is importable here")
except ImportError:
    pass
exported = jax.export.deserialize(open(sys.argv[1], "rb").read())
for i, name in enumerate(sys.argv[2:]):
    np.save(name + ".out.npy", np.asarray(exported.call(np.load(name))))
"""


def _reference(variables, x):
    return cyclegan_jax.float_to_uint8(cyclegan_jax.translate(variables,
                                                              cyclegan_jax.uint8_to_float(x)))


def _inputs(tmp_path, shapes):
    rng = np.random.default_rng(0)  # seeded: test images
    paths = []
    for k, shape in enumerate(shapes):
        paths.append(str(tmp_path / f"x{k}.npy"))
        np.save(paths[-1], rng.integers(0, 256, shape, dtype=np.uint8))
    return paths


def _call_elsewhere(artifact_path, inputs, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([sys.executable, "-c", _LOAD_AND_CALL, artifact_path, *inputs],
                            capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return [np.load(p + ".out.npy") for p in inputs]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A CycleGAN run holding the official ngf-8 networks."""
    path = str(tmp_path_factory.mktemp("run"))
    official.import_checkpoint(DISCRIMINATOR_CHECKPOINT, path, helpers.train_config())
    return path


def test_stablehlo_from_a_run_runs_without_this_project_on_any_batch_and_size(run_dir, tmp_path):
    out = tmp_path / "g_b.jax"
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "export.py"), f"--workdir={run_dir}",
         "--direction=BtoA", "--format=stablehlo", f"--output={out}"],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    inputs = _inputs(tmp_path, [(1, 32, 48, 3), (3, 64, 40, 3)])
    outputs = _call_elsewhere(str(out), inputs, tmp_path)
    g_b = cyclegan_jax.load_params(run_dir)["G_B"]
    for path, y in zip(inputs, outputs):
        x = np.load(path)
        assert y.dtype == np.uint8 and y.shape == x.shape
        assert np.abs(y.astype(int) - _reference(g_b, x)).max() <= 1


def test_stablehlo_of_a_batch_normed_unet(tmp_path):
    golden = helpers.fixture("pix2pix_two_steps_unet128_ngf4.npz")
    variables = cyclegan_jax.params_from_state_dict(helpers.state_dict(golden, "before/G/"))
    out = deploy.export_generator(variables, "stablehlo", tmp_path / "unet.jax")
    inputs = _inputs(tmp_path, [(2, 128, 256, 3)])
    (y,) = _call_elsewhere(out, inputs, tmp_path)
    assert np.abs(y.astype(int) - _reference(variables, np.load(inputs[0]))).max() <= 1


@pytest.mark.parametrize("net", ["resnet", "batch-normed unet"])
def test_onnx_matches_translate_in_onnxruntime_with_dynamic_batch_and_size(tmp_path, net):
    import onnxruntime

    if net == "resnet":
        variables, shapes = cyclegan_jax.load_generator(GENERATOR), [(1, 32, 32, 3), (2, 48, 40, 3)]
    else:
        golden = helpers.fixture("pix2pix_two_steps_unet128_ngf4.npz")
        variables = cyclegan_jax.params_from_state_dict(helpers.state_dict(golden, "before/G/"))
        shapes = [(1, 128, 128, 3), (2, 256, 128, 3)]
    out = deploy.export_generator(variables, "onnx", tmp_path / "g.onnx")
    session = onnxruntime.InferenceSession(out)
    assert [i.name for i in session.get_inputs()] == ["images"]
    for x in map(np.load, _inputs(tmp_path, shapes)):
        (y,) = session.run(None, {"images": x})
        assert y.dtype == np.uint8 and y.shape == x.shape
        assert np.abs(y.astype(int) - _reference(variables, x)).max() <= 1


@pytest.mark.parametrize("fmt", ["saved_model", "tflite"])
def test_without_tensorflow_the_message_says_what_to_install(tmp_path, fmt):
    import importlib.util

    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed here; benchmarks/export_tensorflow.py checks it")
    variables = cyclegan_jax.load_generator(GENERATOR)
    with pytest.raises(UserError, match="pip install tensorflow-cpu"):
        deploy.export_generator(variables, fmt, tmp_path / "out")
    assert os.listdir(tmp_path) == []


def test_a_failed_export_leaves_nothing_and_keeps_an_earlier_artifact(tmp_path, monkeypatch):
    variables = cyclegan_jax.load_generator(GENERATOR)
    out = tmp_path / "g.jax"

    def broken(translator):
        raise RuntimeError("lowering failed")

    monkeypatch.setattr(artifact, "to_stablehlo", broken)
    with pytest.raises(RuntimeError):
        deploy.export_generator(variables, "stablehlo", out)
    assert os.listdir(tmp_path) == []
    out.write_bytes(b"an earlier artifact")
    with pytest.raises(RuntimeError):
        deploy.export_generator(variables, "stablehlo", out)
    assert out.read_bytes() == b"an earlier artifact" and os.listdir(tmp_path) == ["g.jax"]


def test_bad_sources_are_clear_errors(tmp_path, run_dir):
    from cyclegan_jax.eval.runner import run_generators

    with pytest.raises(UserError, match="holds a discriminator"):
        cyclegan_jax.load_generator(os.path.join(DISCRIMINATOR_CHECKPOINT, "latest_net_D_A.pth"))
    with pytest.raises(UserError, match="format must be one of"):
        deploy.export_generator(cyclegan_jax.load_generator(GENERATOR), "coreml", tmp_path / "x")
    pix2pix = str(tmp_path / "pix2pix")
    folder = os.path.join(helpers.FIXTURES, "official_checkpoint_pix2pix_unet128_ngf4")
    from tests.train.test_pix2pix_step import golden_config

    official.import_checkpoint(folder, pix2pix, golden_config())
    forward, backward = run_generators(pix2pix, "AtoB")
    assert set(forward) >= {"params", "batch_stats"} and backward is None
    with pytest.raises(UserError, match="no generator for BtoA"):
        run_generators(pix2pix, "BtoA")
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "export.py"), f"--workdir={pix2pix}",
         "--direction=BtoA", f"--output={tmp_path / 'never.jax'}"],
        capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode != 0 and "no generator for BtoA" in result.stderr
    assert not (tmp_path / "never.jax").exists()
