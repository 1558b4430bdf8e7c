"""Chunk digests of a feature cache: a missing or corrupt chunk is an error naming the array and the rows.

`finalize` records, for every array, the crc32 of each row chunk's values (`attrs["digests"]`) and, for
Zarr, which chunk files were written (`attrs["chunk_files"]`). Zarr reads a missing chunk file back as the
fill value (zeros) without a word, so `check_files` (every `open_store`, a few `stat` calls) compares the
files on disk with that list; `verify_array` (the first read of each array, and `misgan info --verify`
for all of them) recomputes the crc32 of every chunk. HDF5 datasets also carry h5py's fletcher32 filter,
so a flipped byte fails the read itself. Stores written before digests existed are read unverified.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np

from misgan.errors import StoreError


def chunk_crc(values: np.ndarray) -> int:
    """crc32 of one chunk's values: the raw bytes of numbers, the NUL-joined UTF-8 of strings."""
    if values.dtype.kind in "UOT":
        data = "\x00".join(str(v) for v in values.tolist()).encode("utf-8")
    else:
        data = np.ascontiguousarray(values).tobytes()
    return zlib.crc32(data)


def rows_of(chunk: int, chunk_rows: int, n: int) -> str:
    start = chunk * chunk_rows
    return f"rows {start}-{min(start + chunk_rows, n) - 1}"


def array_digests(backend: Any, name: str, chunk_rows: int) -> list[int]:
    n = backend.shape(name)[0]
    return [chunk_crc(backend.read(name, slice(s, s + chunk_rows))) for s in range(0, n, chunk_rows)]


def zarr_chunk_file(root: Path, name: str, chunk: int, ndim: int) -> Path:
    """The file of row chunk `chunk` (default v3 chunk key encoding; one column chunk for 2-D arrays)."""
    return root.joinpath(name, "c", str(chunk), *(["0"] * (ndim - 1)))


def present_chunks(root: Path, name: str, n_chunks: int, ndim: int) -> list[int]:
    return [i for i in range(n_chunks) if zarr_chunk_file(root, name, i, ndim).is_file()]


def check_files(path: Path, backend: Any, attrs: dict[str, Any]) -> None:
    """Every chunk file recorded at finalise still exists (Zarr); cheap enough for every open."""
    recorded = attrs.get("chunk_files")
    if not recorded or not path.is_dir():
        return
    c, n = int(attrs["chunk_rows"]), int(attrs["n_rows"])
    for name, chunks in recorded.items():
        if not backend.has(name):
            raise StoreError(f"{path}: array {name!r} is missing from the cache")
        ndim = len(backend.shape(name))
        for i in chunks:
            if not zarr_chunk_file(path, name, int(i), ndim).is_file():
                raise StoreError(
                    f"{path}: array {name!r} lost its chunk {i} ({rows_of(int(i), c, n)}): the chunk file "
                    f"{zarr_chunk_file(path, name, int(i), ndim).relative_to(path)} is missing; "
                    "re-extract or re-import the cache"
                )


def verify_array(path: Path, backend: Any, attrs: dict[str, Any], name: str) -> bool:
    """Recompute every chunk's crc32 of `name`; StoreError on the first mismatch. False: no digest stored."""
    digests = (attrs.get("digests") or {}).get(name)
    if digests is None:
        return False
    c, n = int(attrs["chunk_rows"]), int(attrs["n_rows"])
    for i, want in enumerate(digests):
        try:
            got = chunk_crc(backend.read(name, slice(i * c, (i + 1) * c)))
        except StoreError:
            raise
        except Exception as exc:  # h5py's fletcher32 or a codec error on a corrupt chunk
            raise StoreError(
                f"{path}: array {name!r} chunk {i} ({rows_of(i, c, n)}) cannot be read ({exc}); "
                "the cache is corrupt"
            ) from exc
        if got != int(want):
            raise StoreError(
                f"{path}: array {name!r} chunk {i} ({rows_of(i, c, n)}) fails its checksum; the cache is "
                "corrupt: re-extract or re-import it"
            )
    return True


def integrity_attrs(b: Any, loc: Path, chunk_rows: int, arrays: list[str]) -> dict[str, Any]:
    """`digests` (crc32 per row chunk of every array) and, for Zarr, `chunk_files` (the chunks on disk)."""
    names = [n for n in arrays if b.has(n)]
    out: dict[str, Any] = {"digests": {n: array_digests(b, n, chunk_rows) for n in names}}
    if loc.is_dir():
        out["chunk_files"] = {
            n: present_chunks(loc, n, -(-b.shape(n)[0] // chunk_rows), len(b.shape(n))) for n in names
        }
    return out
