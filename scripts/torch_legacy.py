"""Read a legacy (pre-1.6, non-zip) ``torch.save`` file of a state dict, without torch.

The legacy format is a concatenation of pickles followed by raw storage bytes:

    pickle(magic number) pickle(protocol version) pickle(sys info)
    pickle(the object; tensors refer to storages through persistent ids)
    pickle(list of storage keys, in the order their bytes follow)
    for each key: int64 little-endian element count, then the raw elements

The unpickler here is restricted: it resolves only the handful of globals a
state dict of plain tensors needs and refuses everything else, so a hostile
file cannot run code (the usual danger of unpickling).
"""

from __future__ import annotations

import collections
import pickle
import struct

import numpy as np

LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _StorageType:
    def __init__(self, name: str):
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage:
    def __init__(self, dtype: np.dtype, numel: int):
        self.dtype = dtype
        self.numel = numel
        self.array: np.ndarray | None = None


class _StorageView:
    """A view into another storage (legacy ``view_metadata``)."""

    def __init__(self, base: _Storage, offset: int, numel: int):
        self.base, self.offset, self.numel = base, offset, numel


class _LazyTensor:
    def __init__(self, storage, offset: int, size, stride):
        self.storage, self.offset = storage, offset
        self.size, self.stride = tuple(size), tuple(stride)

    def to_numpy(self) -> np.ndarray:
        storage, offset = self.storage, self.offset
        if isinstance(storage, _StorageView):
            storage, offset = storage.base, storage.offset + offset
        flat = storage.array
        assert flat is not None, "storage bytes were not read"
        if not self.size:
            return flat[offset].copy()
        span = 1 + sum((n - 1) * s for n, s in zip(self.size, self.stride) if n > 0)
        if offset + span > flat.size:
            raise ValueError("tensor extends past the end of its storage")
        item = flat.itemsize
        view = np.lib.stride_tricks.as_strided(
            flat[offset:], shape=self.size, strides=[s * item for s in self.stride]
        )
        return np.ascontiguousarray(view)


def _rebuild_tensor(storage, storage_offset, size, stride, *_ignored):
    # covers torch._utils._rebuild_tensor and _rebuild_tensor_v2
    # (requires_grad, backward_hooks and metadata are irrelevant here)
    return _LazyTensor(storage, storage_offset, size, stride)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, f):
        super().__init__(f)
        self.storages: dict[str, _Storage] = {}

    def find_class(self, module, name):
        if module == "torch._utils" and name in ("_rebuild_tensor", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid):
        kind, storage_type, key, _location, numel, view = pid
        if kind != "storage":
            raise pickle.UnpicklingError(f"unknown persistent id kind {kind!r}")
        if key not in self.storages:
            self.storages[key] = _Storage(storage_type.dtype, numel)
        base = self.storages[key]
        if view is not None:
            _view_key, offset, view_numel = view
            return _StorageView(base, offset, view_numel)
        return base


def load_state_dict(path) -> "collections.OrderedDict[str, np.ndarray]":
    """Return the state dict in a legacy torch file as numpy arrays."""
    with open(path, "rb") as f:
        header = _RestrictedUnpickler(f)
        magic = header.load()
        if magic != LEGACY_MAGIC:
            raise ValueError(f"{path}: not a legacy torch file (zip-based files are not handled)")
        header.load()  # protocol version
        sys_info = header.load()
        if not sys_info.get("little_endian", True):
            raise ValueError(f"{path}: big-endian files are not handled")

        body = _RestrictedUnpickler(f)
        obj = body.load()
        keys = _RestrictedUnpickler(f).load()
        for key in keys:
            st = body.storages[key]
            (numel,) = struct.unpack("<q", f.read(8))
            nbytes = numel * st.dtype.itemsize
            raw = f.read(nbytes)
            if len(raw) != nbytes:
                raise ValueError(f"{path}: truncated storage {key}")
            st.array = np.frombuffer(raw, dtype=st.dtype)

    out = collections.OrderedDict()
    for name, value in obj.items():
        out[name] = value.to_numpy() if isinstance(value, _LazyTensor) else value
    return out
