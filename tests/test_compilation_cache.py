"""The persistent compilation cache that train.py turns on."""

from __future__ import annotations

import os
import subprocess
import sys

from tests import helpers

# Turns the cache on for the directory argv[1] ("" for none), compiles one small program,
# prints the directory in use.
_PROGRAM = """
import sys
import jax
import jax.numpy as jnp
from cyclegan_jax.compilation_cache import use_compilation_cache
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
print(use_compilation_cache(sys.argv[1]))
jax.jit(lambda x: x * 2 + 1)(jnp.ones(3)).block_until_ready()
"""


def _run(path: str, jax_cache_dir: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "JAX_COMPILATION_CACHE_DIR"}
    if jax_cache_dir:
        env["JAX_COMPILATION_CACHE_DIR"] = jax_cache_dir
    out = subprocess.run([sys.executable, "-c", _PROGRAM, path], capture_output=True, text=True,
                         timeout=300, cwd=helpers.ROOT, env={**env, "JAX_PLATFORMS": "cpu"}, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_compiled_programs_land_in_the_cache_unless_jax_has_its_own(tmp_path):
    ours, theirs = tmp_path / "ours" / "xla", tmp_path / "theirs"
    assert _run(str(ours)) == str(ours)
    assert os.listdir(ours)  # the compiled program
    assert _run(str(ours), jax_cache_dir=str(theirs)) == str(theirs)
    assert os.listdir(theirs)
    assert _run("") == "None"
