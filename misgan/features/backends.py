"""Storage backends behind FeatureStore: one small class per format with the same handful of methods.

Zarr v3 keeps attributes as JSON natively. HDF5 attributes cannot hold nested values, so every HDF5
attribute is a JSON string under the same key (see docs/cache-format.md); the backend hides that.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from misgan.errors import StoreError
from misgan.io import dumps

FORMATS = ("zarr", "h5")


def format_of(path: str | Path) -> str:
    """`zarr` for `*.zarr`, `h5` for `*.h5`/`*.hdf5` (a trailing `.tmp` is ignored)."""
    name = Path(path).name.lower()
    name = name.removesuffix(".tmp")
    if name.endswith(".zarr"):
        return "zarr"
    if name.endswith((".h5", ".hdf5")):
        return "h5"
    raise StoreError(f"{path}: unknown cache format; the name must end in .zarr, .h5 or .hdf5")


def remove(path: Path) -> None:
    """Delete a store (folder or file) if it exists."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


class Backend:
    """Named arrays at the root (`audio`, `y`, ...) plus JSON attributes of the root."""

    def create_array(self, name: str, shape: tuple[int, ...], chunks: tuple[int, ...], dtype: Any) -> None:
        raise NotImplementedError

    def write(self, name: str, sel: Any, values: np.ndarray) -> None:
        raise NotImplementedError

    def read(self, name: str, sel: Any = slice(None)) -> np.ndarray:
        raise NotImplementedError

    def read_rows(self, name: str, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def shape(self, name: str) -> tuple[int, ...]:
        raise NotImplementedError

    def has(self, name: str) -> bool:
        raise NotImplementedError

    def get_attrs(self) -> dict[str, Any]:
        raise NotImplementedError

    def update_attrs(self, values: dict[str, Any]) -> None:
        raise NotImplementedError

    def close(self) -> None:
        """Release file handles (a no-op for Zarr)."""


def _is_str(dtype: Any) -> bool:
    return dtype is str or (isinstance(dtype, str) and dtype == "str")


class ZarrBackend(Backend):
    def __init__(self, path: Path, mode: str) -> None:
        import zarr

        try:
            # "w" creates; "r+" needs an existing group; "r" is read-only
            self.root = zarr.open_group(str(path), mode=mode, zarr_format=3)
        except (FileNotFoundError, ValueError, KeyError) as exc:
            raise StoreError(f"{path}: not a readable Zarr v3 group ({exc})") from exc
        self.path = path

    def _parent(self, name: str) -> tuple[Any, str]:
        parent, _, leaf = name.rpartition("/")
        return (self.root.require_group(parent) if parent else self.root), leaf

    def create_array(self, name: str, shape: tuple[int, ...], chunks: tuple[int, ...], dtype: Any) -> None:
        group, leaf = self._parent(name)
        dt = str if _is_str(dtype) else np.dtype(dtype)
        fill = "" if dt is str else (False if dt == np.bool_ else 0)
        group.create_array(leaf, shape=shape, chunks=chunks, dtype=dt, fill_value=fill, overwrite=True)

    def write(self, name: str, sel: Any, values: np.ndarray) -> None:
        self.root[name][sel] = values

    def read(self, name: str, sel: Any = slice(None)) -> np.ndarray:
        out = self.root[name][sel]
        return out.astype(object).astype(str) if out.dtype.kind == "T" else np.asarray(out)

    def read_rows(self, name: str, rows: np.ndarray) -> np.ndarray:
        arr = self.root[name]
        out = arr.oindex[(rows,) + (slice(None),) * (arr.ndim - 1)]
        return out.astype(object).astype(str) if out.dtype.kind == "T" else np.asarray(out)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.root[name].shape)

    def has(self, name: str) -> bool:
        try:
            self.root[name]
        except KeyError:
            return False
        return True

    def get_attrs(self) -> dict[str, Any]:
        return dict(self.root.attrs)

    def update_attrs(self, values: dict[str, Any]) -> None:
        self.root.attrs.update(json.loads(dumps(values, indent=None)))


class H5Backend(Backend):
    def __init__(self, path: Path, mode: str) -> None:
        import h5py

        self._h5py = h5py
        h5mode = {"w": "w", "r+": "r+", "r": "r"}[mode]
        for attempt in range(20):
            try:
                self.file = h5py.File(path, h5mode)
                break
            except BlockingIOError as exc:
                # locked: a process that was just killed (or its readers) may still be letting go
                if attempt == 19:
                    raise StoreError(f"{path}: the HDF5 file is locked by another process ({exc})") from exc
                time.sleep(0.1)
            except OSError as exc:
                raise StoreError(f"{path}: not a readable HDF5 file ({exc})") from exc
        self.path = path

    def create_array(self, name: str, shape: tuple[int, ...], chunks: tuple[int, ...], dtype: Any) -> None:
        if name in self.file:
            del self.file[name]
        dt = self._h5py.string_dtype("utf-8") if _is_str(dtype) else np.dtype(dtype)
        chunks = tuple(max(1, min(c, s)) for c, s in zip(chunks, shape, strict=True))
        # fletcher32: a flipped byte fails the read instead of returning wrong numbers (h5py cannot
        # filter variable-length strings; the crc32 digests of misgan.features.integrity cover those)
        chunked = all(shape)
        self.file.create_dataset(
            name,
            shape=shape,
            dtype=dt,
            chunks=chunks if chunked else None,
            fletcher32=chunked and not _is_str(dtype),
        )

    def write(self, name: str, sel: Any, values: np.ndarray) -> None:
        ds = self.file[name]
        if ds.dtype.kind == "O":
            values = np.asarray(values, dtype=object)
        ds[sel] = values

    def _decode(self, ds: Any, out: np.ndarray) -> np.ndarray:
        if ds.dtype.kind == "O":
            return np.array([v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in out], dtype=str)
        return np.asarray(out)

    def read(self, name: str, sel: Any = slice(None)) -> np.ndarray:
        ds = self.file[name]
        return self._decode(ds, ds[sel])

    def read_rows(self, name: str, rows: np.ndarray) -> np.ndarray:
        # h5py point selection needs increasing unique indices: read those, then restore the order asked for
        ds = self.file[name]
        uniq, inverse = np.unique(rows, return_inverse=True)
        out = self._decode(ds, ds[uniq]) if len(uniq) else self._decode(ds, ds[0:0])
        return out[inverse]

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(self.file[name].shape)

    def has(self, name: str) -> bool:
        return name in self.file

    def get_attrs(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self.file.attrs.items()}

    def update_attrs(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            self.file.attrs[key] = dumps(value, indent=None)

    def flush(self) -> None:
        self.file.flush()

    def close(self) -> None:
        if self.file.id.valid:
            self.file.close()


def open_backend(path: Path, mode: str, fmt: str | None = None) -> Backend:
    fmt = fmt or format_of(path)
    return ZarrBackend(path, mode) if fmt == "zarr" else H5Backend(path, mode)
