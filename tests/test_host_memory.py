"""keep_freed_host_memory keeps the memory XLA:CPU frees for the next run, and importing
cyclegan_jax alone changes nothing (subprocesses: malloc's settings are per process and
must precede JAX's threads)."""

from __future__ import annotations

import os
import subprocess
import sys

from cyclegan_jax import host_memory

# Imports cyclegan_jax as the programs do, calls keep_freed_host_memory if argv[1] says so,
# runs a jitted sort of 64 MiB (XLA:CPU takes a temporary buffer of that size with malloc)
# twice and prints the page faults of the second run.
SCRIPT = """
import resource, sys
from cyclegan_jax import host_memory
if sys.argv[1] == "call":
    host_memory.keep_freed_host_memory()
import jax, jax.numpy as jnp
f = jax.jit(lambda x: jnp.sum(jnp.sort(x) * x))
x = jnp.cos(jnp.arange(16 * 2 ** 20, dtype=jnp.float32))
f(x).block_until_ready()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
f(x).block_until_ready()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def second_run_page_faults(keep: str, call: bool = True) -> int:
    env = dict(os.environ, **{host_memory.OPT_OUT_ENV: keep})
    proc = subprocess.run([sys.executable, "-c", SCRIPT, "call" if call else "import only"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return int(proc.stdout.split()[-1])


def test_freed_host_memory_stays_mapped_unless_turned_off_and_import_alone_changes_nothing():
    if not sys.platform.startswith("linux"):
        assert not host_memory.keep_freed_host_memory()
        return
    kept, returned = second_run_page_faults("1"), second_run_page_faults("0")
    # Returned to the OS, the 64 MiB buffer is faulted in again: 16 k pages of 4 KiB.
    assert returned >= 16_000, returned
    assert kept < returned / 2, (kept, returned)
    assert second_run_page_faults("1", call=False) >= 16_000  # no import-time side effect


def test_jax_platforms_decides_whether_jax_runs_on_cpu_only():
    assert host_memory.jax_runs_on_cpu_only({"JAX_PLATFORMS": "cpu"})
    assert not host_memory.jax_runs_on_cpu_only({"JAX_PLATFORMS": "cuda"})
    assert not host_memory.jax_runs_on_cpu_only({"JAX_PLATFORMS": "cpu,tpu"})


# Loads host_memory.py alone (not the package, so JAX never sees the fake plugin) and
# prints whether it finds JAX on the CPU only and whether it set malloc up.
PLUGIN_SCRIPT = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("host_memory", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(module.jax_runs_on_cpu_only(), module.keep_freed_host_memory())
"""


def test_installed_accelerator_plugin_leaves_malloc_alone(tmp_path):
    # One malloc arena slowed XLA's multithreaded GPU compile ~4x (205 vs 53 s, H100).
    plugin = tmp_path / "jax_plugins" / "fake_accelerator"
    plugin.mkdir(parents=True)
    (plugin / "__init__.py").write_text("")
    env = {k: v for k, v in os.environ.items() if k not in ("JAX_PLATFORMS", host_memory.OPT_OUT_ENV)}

    def run(extra_path: str) -> str:
        path = os.pathsep.join(filter(None, [extra_path, env.get("PYTHONPATH", "")]))
        proc = subprocess.run([sys.executable, "-c", PLUGIN_SCRIPT, host_memory.__file__],
                              env=dict(env, PYTHONPATH=path), capture_output=True, text=True,
                              timeout=120)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout.split()

    on_linux = str(sys.platform.startswith("linux"))
    assert run("") == ["True", on_linux]
    assert run(str(tmp_path)) == ["False", "False"]
