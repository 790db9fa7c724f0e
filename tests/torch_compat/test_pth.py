"""Reading .pth files without torch: both formats, official checkpoints, refusing code."""

from __future__ import annotations

import io
import os
import pickle
import zipfile

import numpy as np
import pytest

from cyclegan_jax import translate
from cyclegan_jax.torch_compat import PthError, load_pth, params_from_state_dict
from tests import helpers


@pytest.mark.parametrize("pth,npz", [
    ("generator_ngf8_6blocks.pth", "generator_ngf8_6blocks.npz"),  # zip (torch >= 1.6)
    ("generator_ngf8_6blocks_legacy.pth", "generator_ngf8_6blocks.npz"),  # legacy pickle
    ("generator_ngf8_6blocks_runstats_legacy.pth", "generator_ngf8_6blocks.npz"),
    ("generator_ngf8_6blocks_affine.pth", "generator_ngf8_6blocks_affine.npz"),
])
def test_every_fixture_pth_reproduces_its_generator_output(pth, npz):
    reference = helpers.fixture(npz)
    params = params_from_state_dict(load_pth(os.path.join(helpers.FIXTURES, pth)))
    out = translate(params, helpers.nhwc(reference["input_nchw"]))
    np.testing.assert_allclose(np.asarray(out), helpers.nhwc(reference["output_nchw"]), atol=5e-6)


def test_runstats_file_carries_the_legacy_buffers():
    sd = load_pth(os.path.join(helpers.FIXTURES, "generator_ngf8_6blocks_runstats_legacy.pth"))
    assert any(k.endswith(".running_mean") for k in sd)
    assert sd[next(k for k in sd if k.endswith("num_batches_tracked"))].dtype == np.int64


def test_official_checkpoint_folder_holds_the_golden_weights():
    golden = helpers.fixture("train_two_steps_ngf8.npz")
    for net in helpers.NETS:
        sd = load_pth(os.path.join(helpers.FIXTURES, "official_checkpoint_ngf8", f"latest_net_{net}.pth"))
        ref = helpers.state_dict(golden, f"before/{net}/")
        assert sorted(sd) == sorted(ref)
        assert all(np.array_equal(sd[k], ref[k]) and sd[k].dtype == np.float32 for k in ref)


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_forbidden_global_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"model.1.weight": _Evil()}, protocol=2))
    with pytest.raises(PthError, match=r"refusing to unpickle the global (posix|os|nt)\.system"):
        load_pth(path)


def test_files_that_are_not_checkpoints(tmp_path):
    with pytest.raises(PthError, match="no such file"):
        load_pth(tmp_path / "missing.pth")
    (tmp_path / "text.pth").write_text("hello")
    with pytest.raises(PthError, match="not a PyTorch checkpoint"):
        load_pth(tmp_path / "text.pth")
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("archive/other.txt", "x")
    (tmp_path / "zip.pth").write_bytes(buf.getvalue())
    with pytest.raises(PthError, match="without data.pkl"):
        load_pth(tmp_path / "zip.pth")
    with zipfile.ZipFile(tmp_path / "list.pth", "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(PthError, match="holds a list, not a state_dict"):
        load_pth(tmp_path / "list.pth")
