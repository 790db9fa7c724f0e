"""Session-wide test setup: malloc as the programs set it, a persistent compilation cache,
shared compiled runs, a GCS emulator, and the lock that serial tests hold alone."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
import urllib.request
import uuid

from cyclegan_jax import host_memory

host_memory.keep_freed_host_memory()  # as train.py does, before the first JAX computation

import jax  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from tests import helpers  # noqa: E402

CACHE_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".jax_cache")
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", CACHE_DIR)  # inherited by subprocess tests
jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
# pytest.ini runs two test processes: on a GPU each would otherwise reserve 75 % of its memory.
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")


@pytest.fixture(scope="session")
def golden():
    """The official two-step training fixture (ngf 8, 6 blocks, 64x64, batch 1)."""
    return helpers.fixture("train_two_steps_ngf8.npz")


@pytest.fixture(scope="session")
def golden_run(golden):
    """Our train step run twice from the fixture's weights on the fixture's batches.

    Returns the params before each step, the metrics of each step and the final state.
    """
    import cyclegan_jax
    from cyclegan_jax.torch_compat import params_from_state_dict

    config = helpers.golden_config()
    state = cyclegan_jax.create_train_state(config, 0)
    params = {n: params_from_state_dict(helpers.state_dict(golden, f"before/{n}/"))
              for n in helpers.NETS}
    state = state.replace(params=jax.tree.map(jax.numpy.asarray, params))
    before, metrics = [], []
    for step in (1, 2):
        before.append(jax.tree.map(np.array, state.params))  # copies: state is donated
        state, m = cyclegan_jax.train_step(state, helpers.golden_batch(golden, step))
        metrics.append({k: float(v) for k, v in m.items()})
    return {"before": before, "metrics": metrics, "state": state, "config": config}


@pytest.fixture(scope="module")
def fast_compile():
    """XLA with most optimisations off, for modules that compile many small programs.

    Not for golden tests (it changes float rounding). Subprocesses started by such a
    module get the same setting through helpers.FAST_COMPILE_ENV.
    """
    previous = jax.config.read("jax_disable_most_optimizations")
    jax.config.update("jax_disable_most_optimizations", True)
    yield
    jax.config.update("jax_disable_most_optimizations", previous)


# Tests marked `serial` (the multi-process gloo runs) take this lock exclusively; every other
# test module holds it shared, so that pytest-xdist's other worker never runs beside them.
_LOCK = os.path.join(helpers.ROOT, ".pytest_serial.lock")


@pytest.fixture(scope="module", autouse=True)
def _serial_lock(request):
    exclusive = request.node.get_closest_marker("serial") is not None
    with open(_LOCK, "a+") as f:  # lockf shares a lock only on a readable file
        fcntl.lockf(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.lockf(f, fcntl.LOCK_UN)


@pytest.fixture(scope="session")
def gcs():
    """A real GCS JSON API on loopback (gcp-storage-emulator, in memory, through
    tests/gcs_emulator.py) with bucket `cyclegan-test`; gcsfs, tensorstore (Orbax) and subprocesses talk to it, and no client
    looks for cloud credentials. Yields a fresh `gs://cyclegan-test/<id>` prefix per session."""
    port = helpers.free_port()
    url = f"http://127.0.0.1:{port}"
    os.environ.update({
        "STORAGE_EMULATOR_HOST": url, "TENSORSTORE_GCS_HTTP_URL": url,
        "GOOGLE_AUTH_TOKEN_FOR_TESTING": "x", "FSSPEC_GCS_TOKEN": "anon",
        "GCSFS_EXPERIMENTAL_ZB_HNS_SUPPORT": "false", "NO_GCE_CHECK": "true",
        "GCE_METADATA_HOST": "127.0.0.1:9", "GCE_METADATA_IP": "127.0.0.1:9"})
    emulator = os.path.join(os.path.dirname(__file__), "gcs_emulator.py")
    proc = subprocess.Popen([sys.executable, emulator, "start", "--host=127.0.0.1", f"--port={port}",
                             "--default-bucket=cyclegan-test", "--in-memory"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/storage/v1/b/cyclegan-test", timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail("the GCS emulator did not start")
            time.sleep(0.2)
    try:
        yield f"gs://cyclegan-test/{uuid.uuid4().hex[:8]}"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
