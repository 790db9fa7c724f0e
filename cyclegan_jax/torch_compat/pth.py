"""Reads PyTorch `.pth` state_dicts into NumPy with only the standard library and NumPy.

Both formats are understood: the zip archive of torch >= 1.6 and the legacy pickle
stream of older checkpoints (such as the 2017-2018 official pretrained models).
Unpickling is restricted to an allow-list of the few globals a state_dict needs
(OrderedDict, the tensor-rebuild helpers and the storage classes); any other global
is refused, so a malicious file cannot run code.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import struct
import zipfile

import numpy as np

from cyclegan_jax import files
from cyclegan_jax.errors import UserError

_STORAGE_DTYPES = {
    "FloatStorage": np.float32, "DoubleStorage": np.float64, "HalfStorage": np.float16,
    "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
    "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


class PthError(UserError):
    """A file that is not a readable PyTorch state_dict, or one that asks for forbidden code."""


class _StorageType:
    def __init__(self, name: str):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _LegacyStorage:
    """A legacy-format storage: its bytes come after the pickle, so tensors wait for them."""

    def __init__(self, key: str):
        self.key = key


class _PendingTensor:
    def __init__(self, storage: _LegacyStorage, args: tuple):
        self.storage, self.args = storage, args


def _strided(storage: np.ndarray, storage_offset, size, stride) -> np.ndarray:
    if not size:
        return storage[storage_offset:storage_offset + 1].reshape(()).copy()
    itemsize = storage.dtype.itemsize
    return np.array(np.lib.stride_tricks.as_strided(
        storage[storage_offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)))


def _rebuild_tensor(storage, storage_offset, size, stride, *unused):
    """torch._utils._rebuild_tensor(_v2): a strided view of a flat storage, copied out."""
    if isinstance(storage, _LegacyStorage):
        return _PendingTensor(storage, (storage_offset, size, stride))
    return _strided(storage, storage_offset, size, stride)


def _rebuild_parameter(data, requires_grad, backward_hooks, *unused):
    return data


_ALLOWED = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor"): _rebuild_tensor,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
}


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, load_storage, path: str):
        super().__init__(file)
        self._load_storage, self._path = load_storage, path

    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return _ALLOWED[(module, name)]
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise PthError(f"{self._path}: refusing to unpickle the global {module}.{name}; a "
                       "state_dict needs only tensors (the file may be malicious, or not a "
                       "plain state_dict)")

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] == "storage"):
            raise PthError(f"{self._path}: unexpected persistent id {pid!r}")
        _, storage_type, key, _location, numel = pid[:5]
        if not isinstance(storage_type, _StorageType):
            raise PthError(f"{self._path}: unsupported storage type {storage_type!r}")
        return self._load_storage(str(key), storage_type.dtype, int(numel))


def _load_zip(data: bytes, path: str) -> object:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        pkl = next((n for n in archive.namelist() if n.endswith("data.pkl")), None)
        if pkl is None:
            raise PthError(f"{path}: a zip file without data.pkl is not a PyTorch checkpoint")
        prefix = pkl[: -len("data.pkl")]

        def load_storage(key, dtype, numel):
            raw = archive.read(f"{prefix}data/{key}")
            return np.frombuffer(raw, dtype=dtype.newbyteorder("<"), count=numel)

        with archive.open(pkl) as f:
            return _Unpickler(io.BytesIO(f.read()), load_storage, path).load()


def _load_legacy(data: bytes, path: str) -> object:
    with io.BytesIO(data) as f:
        try:
            magic = pickle.load(f)
        except Exception as e:  # noqa: BLE001  (any failure: not this format)
            raise PthError(f"{path}: not a PyTorch checkpoint (neither zip nor legacy pickle)") from e
        if magic != _LEGACY_MAGIC:
            raise PthError(f"{path}: not a PyTorch checkpoint (bad magic number)")
        pickle.load(f)  # protocol version (plain ints)
        pickle.load(f)  # sys_info (a plain dict)
        dtypes: dict[str, np.dtype] = {}

        def load_storage(key, dtype, numel):
            dtypes[key] = dtype
            return _LegacyStorage(key)

        result = _Unpickler(f, load_storage, path).load()
        storages = {}
        for key in map(str, pickle.load(f)):  # storage bytes follow: <int64 count><data>
            (count,) = struct.unpack("<q", f.read(8))
            storages[key] = np.frombuffer(f.read(count * dtypes[key].itemsize),
                                          dtype=dtypes[key].newbyteorder("<"))
    return _resolve(result, storages)


def _resolve(obj, storages: dict[str, np.ndarray]):
    if isinstance(obj, _PendingTensor):
        return _strided(storages[obj.storage.key], *obj.args)
    if isinstance(obj, dict):
        return type(obj)((k, _resolve(v, storages)) for k, v in obj.items())
    return obj


def load_pth(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """A `.pth` state_dict (zip or legacy format, saved on any device) as NumPy arrays;
    `path` may be local or in a bucket (`files`).

    Raises:
      PthError: the file is missing, not a PyTorch checkpoint, not a state_dict, or
        asks the unpickler for anything beyond tensors and OrderedDict.
    """
    path = os.fspath(path)
    if not files.resolve(path).is_file():
        raise PthError(f"{path}: no such file")
    data = files.read_bytes(path)
    zipped = zipfile.is_zipfile(io.BytesIO(data))
    loaded = _load_zip(data, path) if zipped else _load_legacy(data, path)
    if isinstance(loaded, dict) and "state_dict" in loaded and isinstance(loaded["state_dict"], dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(isinstance(v, np.ndarray) for v in loaded.values()):
        raise PthError(f"{path}: holds a {type(loaded).__name__}, not a state_dict of tensors")
    return {str(k): v for k, v in loaded.items()}
