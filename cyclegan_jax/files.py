"""The files of a run wherever `etils.epath` reaches them: the local disk or a bucket.

`gs://` paths go through gcsfs (or through `tf.io.gfile` where TensorFlow is installed,
which epath then prefers); Orbax and tensorstore read and write checkpoints there
themselves. Object stores neither rename atomically nor append, so `write_atomic` renames
a temporary local file but writes an object in one upload (it appears whole or not at
all), and `AppendFile` appends on the local disk but rewrites the whole object.
"""

from __future__ import annotations

import os
import time
from typing import Iterator, Union

from etils import epath

from cyclegan_jax.errors import UserError

PathLike = Union[str, os.PathLike]


def is_local(path: PathLike) -> bool:
    """Whether `path` is on the local file system (no `scheme://`)."""
    return "://" not in os.fspath(path)


def resolve(path: PathLike) -> epath.Path:
    """`path` as an epath.Path: local paths absolute and with `~` expanded, URLs as given."""
    if is_local(path):
        return epath.Path(os.path.abspath(os.path.expanduser(os.fspath(path))))
    return epath.Path(path)


def write_atomic(path: PathLike, data: bytes | str) -> None:
    """Writes `data` so that `path` never holds a partial file, creating its folder."""
    path = resolve(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    if not is_local(path):
        path.write_bytes(payload)
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def read_bytes(path: PathLike, what: str = "file") -> bytes:
    """The bytes of `path`; a missing file or bucket is a `UserError` naming the path."""
    path = resolve(path)
    try:
        return path.read_bytes()
    except FileNotFoundError as e:
        raise UserError(f"{what} {path} does not exist") from e
    except OSError as e:
        raise UserError(f"cannot read {what} {path}: {e}") from e


def walk_files(folder: PathLike) -> Iterator[str]:
    """The paths of every file below `folder`, recursively; local folders follow symbolic
    links. (epath's `walk` names a bucket's folders without their `gs://`: restored here.)"""
    top = resolve(folder)
    if is_local(top):
        for root, _, names in os.walk(top, followlinks=True):
            yield from (os.path.join(root, name) for name in names)
        return
    scheme = os.fspath(top).partition("://")[0]
    for root, _, names in top.walk():
        root = os.fspath(root)
        root = root if "://" in root else f"{scheme}://{root}"
        yield from (f"{root}/{name}" for name in names)


class AppendFile:
    """A file that grows by appended chunks, written out on `flush` (and `close`).

    On the local disk the pending chunks are appended. An object in a bucket cannot be
    appended to, so its content is kept (read once if it exists) and rewritten whole.
    """

    def __init__(self, path: PathLike):
        self.path = resolve(path)
        self._pending: list[bytes] = []
        self._written = b""
        if is_local(self.path):
            self.path.parent.mkdir(parents=True, exist_ok=True)
        elif self.path.exists():
            self._written = self.path.read_bytes()

    def append(self, data: bytes) -> None:
        self._pending.append(data)

    def flush(self) -> None:
        if not self._pending:
            return
        chunk, self._pending = b"".join(self._pending), []
        if is_local(self.path):
            with open(self.path, "ab") as f:
                f.write(chunk)
            return
        self._written += chunk
        self.path.write_bytes(self._written)

    def close(self) -> None:
        self.flush()


def bucket_of(path: PathLike) -> str | None:
    """`scheme://bucket` of a path in a bucket; None for local paths."""
    if is_local(path):
        return None
    scheme, _, rest = os.fspath(path).partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def check_writable_dir(path: PathLike, what: str = "workdir") -> epath.Path:
    """Creates the folder `path` if needed and proves it writable with a uniquely named probe
    file (so concurrent callers never touch each other's); a missing bucket, missing
    credentials or a read-only folder is a `UserError` that names the path."""
    path = resolve(path)
    bucket = bucket_of(path)
    try:
        if bucket is not None and not epath.Path(bucket).exists():
            raise UserError(f"the bucket of {what} {path} does not exist (or these credentials "
                            f"cannot see it): create it, e.g. `gcloud storage buckets create "
                            f"{bucket}`, or fix the credentials")
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write_probe.{os.getpid()}.{time.time_ns()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except UserError:
        raise
    except Exception as e:  # noqa: BLE001  (OSError locally; the bucket client raises its own)
        raise UserError(f"cannot write to {what} {path} ({type(e).__name__}: {e}); choose a "
                        f"writable --{what}" + ("" if bucket is None else " and check the "
                                                "credentials (gcloud auth application-default "
                                                "login)")) from e
    return path
