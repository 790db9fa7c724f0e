"""The README's "Run on a TPU VM / pod" one-host commands, run as written against a bucket
(the GCS emulator as $BUCKET) with the tests' tiny model appended to train.py."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys

import pytest

from cyclegan_jax import files
from tests import helpers
from tests.helpers import ROOT

TINY = ["--config.ngf=8", "--config.ndf=8", "--config.netG=resnet_6blocks",
        "--config.load_size=36", "--config.crop_size=32", "--config.batch_size=2",
        "--config.num_train_steps=2", "--config.conv_impl=xla"]


def readme_python_commands() -> list[str]:
    """The `python` lines of the section's one-host block (continuations joined)."""
    with open(os.path.join(ROOT, "README.md")) as f:
        readme = f.read()
    section = readme.split("## Run on a TPU VM / pod", 1)[1].split("\n## ", 1)[0]
    one_host = section.split("The same on one host", 1)[1]
    block = re.search(r"```bash\n(.*?)```", one_host, re.S).group(1)
    return [line.strip() for line in block.replace("\\\n", " ").splitlines()
            if line.strip().startswith("python ")]


@pytest.mark.usefixtures("fast_compile")
def test_the_one_host_commands_train_and_evaluate_in_a_bucket(gcs, tmp_path):
    commands = readme_python_commands()
    assert [shlex.split(c)[1] for c in commands] == ["train.py", "eval.py"]
    helpers.write_folder_dataset(tmp_path / "horse2zebra")
    helpers.upload(tmp_path / "horse2zebra", f"{gcs}/datasets/horse2zebra")
    for command in commands:
        argv = shlex.split(command.replace("$BUCKET", gcs))
        argv = [sys.executable] + argv[1:] + (TINY if argv[1] == "train.py" else [])
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600,
                              env={**os.environ, **helpers.FAST_COMPILE_ENV})
        assert proc.returncode == 0, (command, proc.stderr[-3000:])
    assert files.resolve(f"{gcs}/h2z/eval/test_2/metrics.json").exists()
    assert files.resolve(f"{gcs}/h2z/eval/test_2/index.html").exists()
