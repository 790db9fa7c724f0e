"""Data parallelism with `jax.jit` shardings: a 1-D `data` mesh, replicated state.

The train state is replicated on every device of the mesh and each batch is split
along its first axis, so `train_step` runs data-parallel with no change to its code
(XLA inserts the gradient all-reduce). Instance norm is per sample, so no
cross-device statistics are needed. Works for one host or many: on several hosts
each process passes only its own slice of the global batch, and `local_copy` gives
one process a copy of replicated arrays to compute with alone (samples, scores).
"""

from __future__ import annotations

import collections
from typing import Any, Iterator, Sequence

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from cyclegan_jax.errors import UserError

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


def local_copy(tree: Any) -> Any:
    """NumPy copies of a pytree of replicated arrays, from this process's own devices: what
    one process may compute with alone, while the others go on."""
    return jax.tree.map(lambda x: np.asarray(x.addressable_data(0)), tree)


def check_same_on_all_processes(name: str, value: str) -> None:
    """Raises the same `UserError` on every process unless all were given the same `value`
    (e.g. the workdir: a local path on some hosts and a bucket on others). Call it on every
    process; nothing happens with one process."""
    if jax.process_count() == 1:
        return
    encoded = np.frombuffer(value.encode().ljust(4096, b"\0")[:4096], np.uint8)
    first = bytes(multihost_utils.broadcast_one_to_all(encoded)).rstrip(b"\0").decode()
    agree = multihost_utils.process_allgather(np.asarray(first == value))
    if not np.all(agree):
        differ = [int(i) for i in np.flatnonzero(~np.asarray(agree, bool))]
        raise UserError(f"every process needs the same {name}: process 0 has {first!r}, "
                        f"processes {differ} another (this one, {jax.process_index()}, has "
                        f"{value!r})")
