"""The file layer on the local disk and in a bucket (the GCS emulator)."""

from __future__ import annotations

import os
import uuid

import pytest
from etils import epath

from cyclegan_jax import files
from cyclegan_jax.errors import UserError


@pytest.fixture(params=["local", "bucket"])
def root(request, tmp_path):
    if request.param == "local":
        return str(tmp_path)
    return f"{request.getfixturevalue('gcs')}/files/{uuid.uuid4().hex[:8]}"


def test_write_atomic_creates_the_folder_and_replaces_whole_files(root):
    path = f"{root}/a/b/x.json"
    files.write_atomic(path, "first")
    files.write_atomic(path, b"second")
    assert files.read_bytes(path) == b"second"
    assert [p.name for p in files.resolve(f"{root}/a/b").iterdir()] == ["x.json"]  # no .tmp left


def test_append_file_appends_and_a_new_writer_continues_the_file(root):
    path = f"{root}/metrics.jsonl"
    first = files.AppendFile(path)
    first.append(b"1\n")
    first.append(b"2\n")
    first.flush()
    first.append(b"3\n")  # not flushed yet
    assert files.read_bytes(path) == b"1\n2\n"
    first.close()
    second = files.AppendFile(path)  # a resumed run
    second.append(b"4\n")
    second.close()
    assert files.read_bytes(path) == b"1\n2\n3\n4\n"


def test_missing_file_and_unwritable_folder_name_the_path(root, tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        files.read_bytes(f"{root}/nothing.pth", "weights file")
    run = files.check_writable_dir(f"{root}/run")
    if files.is_local(root):
        assert run.is_dir()
    assert (list(run.iterdir()) if run.exists() else []) == []  # the probe is gone
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match=f"cannot write to workdir {blocker}"):
        files.check_writable_dir(blocker / "run")


def test_a_missing_bucket_is_named_with_the_command_that_creates_it(gcs):
    with pytest.raises(UserError, match=r"bucket of workdir gs://no-such-bucket/run does not "
                                        r"exist.*gcloud storage buckets create gs://no-such-bucket"):
        files.check_writable_dir("gs://no-such-bucket/run")
    assert not epath.Path("gs://no-such-bucket").exists()  # nothing created it


def test_paths_resolve_locally_and_keep_urls():
    assert files.resolve("~/x") == epath.Path(os.path.expanduser("~/x"))
    assert str(files.resolve("gs://b/run")) == "gs://b/run"
    assert files.bucket_of("gs://b/run/x") == "gs://b" and files.bucket_of("/tmp/x") is None
