"""XLA's persistent compilation cache for training and evaluation runs."""

from __future__ import annotations

import logging
import os

import jax


def use_compilation_cache(path: str) -> str | None:
    """Keeps compiled programs under `path` (`~` expanded) from one process to the next, so
    that a resumed or repeated run with the same shapes loads its train step (or an
    evaluation its translation programs) instead of compiling them again. Call it before
    the first compilation.

    JAX's own setting wins (JAX_COMPILATION_CACHE_DIR, or an earlier
    `jax.config.update("jax_compilation_cache_dir", ...)`); `path` "" leaves the cache
    off, and a directory that cannot be created only costs a warning. Returns the
    directory in use, or None.
    """
    current = jax.config.jax_compilation_cache_dir
    if current or not path:
        return current or None
    path = os.path.expanduser(path)
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as e:
        logging.warning("compiling without a persistent cache: cannot create %s (%s)", path, e)
        return None
    jax.config.update("jax_compilation_cache_dir", path)
    return path
