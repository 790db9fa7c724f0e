"""Data parallelism with `jax.jit` shardings: a 1-D `data` mesh, replicated state.

The train state is replicated on every device of the mesh and each batch is split
along its first axis, so `train_step` runs data-parallel with no change to its code
(XLA inserts the gradient all-reduce). Instance norm is per sample, so no
cross-device statistics are needed. Works for one host or many: on several hosts
each process passes only its own slice of the global batch.
"""

from __future__ import annotations

import collections
from typing import Any, Iterator, Sequence

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

DATA_AXIS = "data"


def data_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh with axis `data` over `devices` (default: every device of every host)."""
    devices = list(jax.devices() if devices is None else devices)
    return Mesh(np.asarray(devices), (DATA_AXIS,))


def replicate(tree: Any, mesh: Mesh) -> Any:
    """Places a pytree (e.g. the train state) fully replicated on the mesh."""
    return jax.device_put(tree, NamedSharding(mesh, P()))


def check_batch_size(global_batch_size: int, mesh: Mesh) -> None:
    """Raises a clear error when the global batch cannot be split evenly over the mesh."""
    n = mesh.devices.size
    if global_batch_size % n:
        raise ValueError(
            f"batch_size {global_batch_size} is not divisible by the {n} devices of the mesh; "
            f"use a multiple of {n} (e.g. --config.batch_size={max(n, global_batch_size // n * n)})")


def shard_batch(local_batch: dict, mesh: Mesh) -> dict:
    """This process's slice of the batch -> global arrays split over `data`.

    On one host `local_batch` is the whole batch. On several hosts every process
    passes its own equal-sized slice, in process order. The global batch must divide
    over the mesh (`check_batch_size`).
    """
    sharding = NamedSharding(mesh, P(DATA_AXIS))
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v))
            for k, v in local_batch.items()}


def prefetch_to_mesh(batches: Iterator[dict], mesh: Mesh, size: int = 2) -> Iterator[dict]:
    """`shard_batch` of each batch of `batches`, `size` batches ahead of the consumer.

    The copies to the devices of the next steps then overlap the current step instead
    of waiting in front of it. Closing this iterator closes `batches`.
    """
    ahead: collections.deque = collections.deque()
    try:
        for batch in batches:
            ahead.append(shard_batch(batch, mesh))
            if len(ahead) > size:
                yield ahead.popleft()
        while ahead:
            yield ahead.popleft()
    finally:
        close = getattr(batches, "close", None)
        if close is not None:
            close()
