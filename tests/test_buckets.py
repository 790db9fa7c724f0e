"""train.py, eval.py and import_torch.py on a bucket (a real GCS API: the emulator): the same
results, bit for bit, as the same commands on the local disk, and nothing written locally."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import jax
import numpy as np
import pytest

import cyclegan_jax
from cyclegan_jax import files
from cyclegan_jax.eval import runner
from cyclegan_jax.torch_compat import official
from cyclegan_jax.train import loop
from tests import helpers
from tests.helpers import ROOT

pytestmark = pytest.mark.usefixtures("fast_compile")
CONFIG = os.path.join(ROOT, "tests", "tiny_train_config.py")
OFFICIAL = os.path.join(helpers.FIXTURES, "official_checkpoint_ngf8")


def _door(script: str, *args: str, cwd) -> subprocess.CompletedProcess:
    """One of the programs, run as a user runs it (the emulator's variables are inherited)."""
    proc = subprocess.run([sys.executable, os.path.join(ROOT, script), *args], cwd=cwd,
                          capture_output=True, text=True, timeout=600,
                          env={**os.environ, **helpers.FAST_COMPILE_ENV})
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _loss_rows(text: str) -> list[dict]:
    """metrics.jsonl's loss rows without the measured speed (a run that stops early also
    logs its ground-truth scores)."""
    rows = [json.loads(line) for line in text.splitlines()]
    return [{k: v for k, v in r.items() if k != "seconds_per_image"} for r in rows if "D_A" in r]


@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """Six uninterrupted steps on the local disk, evaluated."""
    workdir = tmp_path_factory.mktemp("local") / "run"
    state = loop.train_and_evaluate(helpers.train_config(), str(workdir))
    metrics, _ = runner.evaluate_run(str(workdir))
    return str(workdir), jax.device_get(state), metrics


def test_train_resume_eval_and_load_params_on_a_bucket(gcs, local_run, tmp_path):
    local_dir, local_state, local_metrics = local_run
    workdir = f"{gcs}/run"
    _door("train.py", f"--workdir={workdir}", f"--config={CONFIG}", "--config.num_train_steps=4",
          cwd=tmp_path)
    resumed = _door("train.py", f"--workdir={workdir}", f"--config={CONFIG}", cwd=tmp_path)
    assert "resumed from step 4" in resumed.stderr
    assert helpers.params_equal(cyclegan_jax.load_params(workdir), local_state.params)

    evaluated = _door("eval.py", f"--workdir={workdir}", cwd=tmp_path)
    assert f"results: {workdir}/eval/test_6/index.html" in evaluated.stdout
    metrics = json.loads(files.read_bytes(f"{workdir}/eval/test_6/metrics.json"))
    assert {k: metrics[k] for k in local_metrics} == local_metrics
    for name in ("00000_fake_B.png", "00001_rec_A.png"):
        assert (files.read_bytes(f"{workdir}/eval/test_6/images/{name}")
                == files.read_bytes(f"{local_dir}/eval/test_6/images/{name}"))

    assert os.listdir(tmp_path) == []  # nothing local: no "gs:" folder, no temporary files
    assert (_loss_rows(files.read_bytes(f"{workdir}/metrics.jsonl").decode())
            == _loss_rows(files.read_bytes(f"{local_dir}/metrics.jsonl").decode()))
    assert (files.read_bytes(f"{workdir}/samples/step_00000006.png")
            == files.read_bytes(f"{local_dir}/samples/step_00000006.png"))
    assert json.loads(files.read_bytes(f"{workdir}/config.json"))["steps_per_epoch"] == 3


def test_tensorboard_reads_the_event_files_written_to_a_bucket(gcs, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from cyclegan_jax.train.metrics import MetricWriter

    workdir = f"{gcs}/events"
    for start in (0, 10):  # a run and its resumption: one event file each
        writer = MetricWriter(workdir, flush_seconds=3600)
        writer.write_scalars(start + 2, {"D_A": start + 0.5})
        writer.write_image(start + 2, "samples", np.full((4, 6, 3), 200, np.uint8))
        writer.close()
    events = list(files.resolve(f"{workdir}/tensorboard").iterdir())
    assert len(events) == 2
    for event in events:  # TensorBoard reads buckets through TensorFlow only: a local copy
        (tmp_path / event.name).write_bytes(event.read_bytes())
    accumulator = EventAccumulator(str(tmp_path), size_guidance={"images": 0})
    accumulator.Reload()
    assert [(e.step, e.value) for e in accumulator.Scalars("D_A")] == [(2, 0.5), (12, 10.5)]
    assert [(e.step, e.width, e.height) for e in accumulator.Images("samples")] == [(2, 6, 4), (12, 6, 4)]


def test_a_folder_dataset_in_a_bucket_trains_as_the_same_folder_on_disk(gcs, tmp_path):
    helpers.write_folder_dataset(tmp_path / "data")
    helpers.upload(tmp_path / "data", f"{gcs}/data")
    results = []
    for root, workdir in ((str(tmp_path / "data"), str(tmp_path / "run")),
                          (f"{gcs}/data", f"{gcs}/folder_run")):
        config = helpers.train_config(dataset="folder", dataroot=root, num_train_steps=2)
        results.append(loop.train_and_evaluate(config, workdir))
    assert helpers.params_equal(results[0].params, results[1].params)


def test_official_files_weights_and_image_folders_in_a_bucket(gcs, tmp_path):
    helpers.upload(OFFICIAL, f"{gcs}/official")
    np.savez(tmp_path / "standin.npz", **helpers.fid_standin_state_dict())
    helpers.upload(tmp_path, f"{gcs}/weights")
    for name in ("in", "ref"):
        os.makedirs(tmp_path / "images" / name)
        for i, size in enumerate(((37, 53), (64, 64))):
            from PIL import Image
            pixels = np.random.default_rng(i).integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "images" / name / f"{i}.png")
    helpers.upload(tmp_path / "images", f"{gcs}/images")
    work = tmp_path / "cwd"
    os.makedirs(work)

    _door("import_torch.py", f"--checkpoint_dir={gcs}/official", f"--workdir={gcs}/imported",
          f"--config={CONFIG}", cwd=work)
    imported = cyclegan_jax.load_params(f"{gcs}/imported")
    for net in helpers.NETS:
        expected = official.load_generator(f"{OFFICIAL}/latest_net_{net}.pth") if net[0] == "G" \
            else cyclegan_jax.params_from_state_dict(cyclegan_jax.load_pth(f"{OFFICIAL}/latest_net_{net}.pth"))
        assert helpers.params_equal(imported[net], expected), net

    generator = f"{gcs}/official/latest_net_G_A.pth"
    _door("import_torch.py", f"--generator={generator}", f"--output={gcs}/g.msgpack", cwd=work)
    assert helpers.params_equal(official.load_generator(f"{gcs}/g.msgpack"),
                                official.load_generator(generator))
    for root in (gcs, str(tmp_path)):  # the same command on the bucket and on the disk
        _door("eval.py", f"--generator={root}/official/latest_net_G_A.pth" if root == gcs
              else f"--generator={OFFICIAL}/latest_net_G_A.pth", f"--input_dir={root}/images/in",
              f"--output_dir={root}/out", f"--reference_dir={root}/images/ref",
              f"--fid_weights={root}/weights/standin.npz" if root == gcs
              else f"--fid_weights={tmp_path}/standin.npz", cwd=work)
    remote = json.loads(files.read_bytes(f"{gcs}/out/metrics.json"))
    local = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert {"fid_A2B", "kid_A2B"} <= set(remote) and remote == local
    for name in ("0_fake_B.png", "1_real_A.png"):
        assert files.read_bytes(f"{gcs}/out/images/{name}") == (tmp_path / "out" / "images" /
                                                                name).read_bytes()
    assert os.listdir(work) == []
