"""Importing cyclegan_jax keeps the memory XLA:CPU frees for the next run (subprocesses:
malloc's settings are per process and must precede JAX's threads)."""

from __future__ import annotations

import os
import subprocess
import sys

from cyclegan_jax import host_memory

# Runs a jitted sort of 64 MiB (XLA:CPU takes a temporary buffer of that size with
# malloc) twice and prints the page faults of the second run.
SCRIPT = """
import resource
import cyclegan_jax
import jax, jax.numpy as jnp
f = jax.jit(lambda x: jnp.sum(jnp.sort(x) * x))
x = jnp.cos(jnp.arange(16 * 2 ** 20, dtype=jnp.float32))
f(x).block_until_ready()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
f(x).block_until_ready()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def second_run_page_faults(keep: str) -> int:
    env = dict(os.environ, **{host_memory.OPT_OUT_ENV: keep})
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return int(proc.stdout.split()[-1])


def test_import_keeps_freed_host_memory_mapped_unless_turned_off():
    if not sys.platform.startswith("linux"):
        assert not host_memory.keep_freed_host_memory()
        return
    kept, returned = second_run_page_faults("1"), second_run_page_faults("0")
    # Returned to the OS, the 64 MiB buffer is faulted in again: 16 k pages of 4 KiB.
    assert returned >= 16_000, returned
    assert kept < returned / 2, (kept, returned)
