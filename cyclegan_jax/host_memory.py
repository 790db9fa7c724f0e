"""Keeps the host memory XLA:CPU frees after a step for the next step.

XLA:CPU runs each executable in one large temporary buffer, taken with malloc and freed
at the end of the run. glibc serves blocks that large by mmap and returns them by
munmap, so every step would fault every page of it in again (a large share of the CPU
step's time). Served from one heap that is not trimmed, the pages stay mapped.

Only where JAX runs on the CPU: one malloc arena makes XLA's many compiler threads queue
for its lock, which slowed the GPU compile several-fold (docs/performance.md).
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import importlib.util
import os
import pkgutil
import sys

# mallopt parameters (glibc malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_MAX, _M_ARENA_MAX = -1, -4, -8
# Freed memory at the top of the heap kept for reuse, at most (mallopt takes an int).
_KEEP_BYTES = 2 ** 31 - 1

OPT_OUT_ENV = "CYCLEGAN_JAX_KEEP_HOST_MEMORY"


def jax_runs_on_cpu_only(environ: dict | None = None) -> bool:
    """Whether JAX will find no accelerator, judged without importing JAX: the
    JAX_PLATFORMS variable if set (True when it names only "cpu"), else whether no
    accelerator plugin is installed (a `jax_plugins` entry point or module, such as
    the CUDA plugin of `jax[cuda13]`, or `libtpu`)."""
    environ = os.environ if environ is None else environ
    platforms = [p.strip() for p in environ.get("JAX_PLATFORMS", "").split(",") if p.strip()]
    if platforms:
        return all(p == "cpu" for p in platforms)
    if importlib.metadata.entry_points(group="jax_plugins") or importlib.util.find_spec("libtpu"):
        return False
    namespace = importlib.util.find_spec("jax_plugins")
    return namespace is None or not any(
        pkgutil.iter_modules(namespace.submodule_search_locations or []))


def keep_freed_host_memory() -> bool:
    """Makes glibc malloc serve every block from its main heap and keep what is freed.

    mallopt M_ARENA_MAX 1 (threads share the main arena, whose heap can grow past
    64 MiB), M_MMAP_MAX 0 (no block by mmap) and M_TRIM_THRESHOLD 2 GiB (freed memory
    stays mapped). It applies to threads that allocate for the first time after the
    call, so programs call it before their first JAX computation (train.py, eval.py,
    the benchmarks). Returns True if it was applied; False off Linux/glibc, where JAX
    may run on an accelerator (`jax_runs_on_cpu_only`), or when the environment sets
    CYCLEGAN_JAX_KEEP_HOST_MEMORY=0.
    """
    if (os.environ.get(OPT_OUT_ENV, "1") == "0" or not sys.platform.startswith("linux")
            or not jax_runs_on_cpu_only()):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all(mallopt(param, value) == 1 for param, value in (
        (_M_ARENA_MAX, 1), (_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _KEEP_BYTES)))
