"""Session-wide test setup: malloc as the programs set it, a persistent compilation cache,
and shared compiled runs."""

from __future__ import annotations

import os

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
