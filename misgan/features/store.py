"""The feature cache: a Zarr v3 group (`*.zarr`) or an HDF5 file (`*.h5`), one row per utterance.

Life cycle (the writing half, `StoreWriter`, is misgan.features.writer). `FeatureStore.create(path, ...)`
builds the store at `path.tmp` with every metadata column written and the feature arrays empty;
extraction fills it chunk by chunk (`write_rows`, features first and the `done` flags last, so a chunk
killed mid-write is redone). `finalize()` drops failed rows, marks the store complete and renames
`path.tmp` to `path`: a crash never leaves a store at `path` that looks finished. `open_store(path)`
refuses anything else.

A complete store is read-only, for good: stage results live in run folders keyed by the cache's
fingerprint (misgan.runs), so a cache never changes under the runs that were made from it.

A complete store holds only valid rows: an utterance that could not be read or encoded is listed in
`attrs["failures"]` with its reason and is not a row, so every later stage can use all rows.
Layout and attributes: docs/cache-format.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misgan.errors import StoreError
from misgan.features.backends import Backend, format_of, open_backend
from misgan.features.integrity import check_files, verify_array
from misgan.features.writer import (
    ARRAYS,
    DEFAULT_CHUNK_ROWS,
    FORMAT_NAME,
    FORMAT_VERSION,
    META_COLUMNS,
    StoreWriter,
    tmp_path,
)
from misgan.io import bytes_sha256, fingerprint


class FeatureStore(StoreWriter):
    """One cache (complete, or in progress under `path.tmp`). Use `create`, `resume` or `open_store`."""

    def __init__(self, path: Path, location: Path, backend: Backend, mode: str) -> None:
        self.path = path  # the final name
        self.location = location  # where the data lives now (path, or path.tmp while in progress)
        self.format = format_of(path)
        self._b = backend
        self._mode = mode
        self.attrs: dict[str, Any] = backend.get_attrs()
        self._verified: set[str] = set()

    # ---- construction -------------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path) -> FeatureStore:
        return open_store(path)

    # ---- reading ------------------------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        return int(self._b.shape("y")[0])

    @property
    def label_names(self) -> list[str]:
        return list(self.attrs["label_names"])

    @property
    def dims(self) -> dict[str, int]:
        return dict(self.attrs["dims"])

    @property
    def chunk_rows(self) -> int:
        return int(self.attrs["chunk_rows"])

    @property
    def fingerprint(self) -> str | None:
        return self.attrs.get("fingerprint")

    @property
    def complete(self) -> bool:
        return bool(self.attrs.get("complete"))

    @property
    def failures(self) -> list[dict[str, str]]:
        return list(self.attrs.get("failures", []))

    @property
    def labels(self) -> np.ndarray:
        self._verify("y")
        return self._b.read("y").astype(np.int64)

    def _verify(self, name: str) -> None:
        """Check the chunk digests of `name` once per open (complete stores only)."""
        if self.location == self.path and name not in self._verified:
            verify_array(self.location, self._b, self.attrs, name)
            self._verified.add(name)

    def verify(self) -> list[str]:
        """Check every chunk of every array (`misgan info --verify`); the arrays that carry digests."""
        names = [*ARRAYS, *self.dims]
        return [n for n in names if self._b.has(n) and verify_array(self.location, self._b, self.attrs, n)]

    def meta(self) -> pd.DataFrame:
        """utt_id, label, y, speaker, session, gender, split: one row per stored row."""
        for c in META_COLUMNS:
            self._verify(c)
        cols = {c: self._b.read(c) for c in META_COLUMNS}
        df = pd.DataFrame(cols)
        df.insert(2, "y", self.labels)
        return df

    def read(self, name: str, rows: np.ndarray | list[int] | None = None) -> np.ndarray:
        """Features `audio` or `text` as float32 (n, D), all rows or the given row indices in that order."""
        if name not in self.dims:
            have = ", ".join(self.dims)
            raise StoreError(f"{self.location}: no {name!r} features in this cache (it holds: {have})")
        self._verify(name)
        if rows is None:
            return self._b.read(name).astype(np.float32, copy=False)
        idx = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(idx) and (idx.min() < 0 or idx.max() >= self.n_rows):
            raise StoreError(f"{self.location}: row index out of range 0..{self.n_rows - 1}")
        return self._b.read_rows(name, idx).astype(np.float32, copy=False)

    def valid_rows(self) -> np.ndarray:
        """Rows holding features. Every row of a complete store; in-progress stores may hold failed rows."""
        return np.flatnonzero(self._b.read("failure") == "")

    # ---- housekeeping -------------------------------------------------------------------------
    def close(self) -> None:
        self._b.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "complete" if self.complete else "in progress"
        return f"FeatureStore({str(self.path)!r}, rows={self.n_rows}, dims={self.dims}, {state})"


def open_store(path: str | Path) -> FeatureStore:
    """Open a complete feature cache; StoreError if it is absent, unfinished or not a misgan cache."""
    path = Path(path)
    fmt = format_of(path)
    if not path.exists():
        if tmp_path(path).exists():
            raise StoreError(
                f"{path}: extraction has not finished (found {tmp_path(path).name}); "
                "re-run the same `misgan extract` command to resume it"
            )
        raise StoreError(f"{path}: feature cache not found; create it with `misgan extract` or `misgan import`")
    store = FeatureStore(path, path, open_backend(path, "r", fmt), "r")
    if store.attrs.get("format") != FORMAT_NAME:
        store.close()
        raise StoreError(f"{path}: not a misgan feature cache (no format attribute {FORMAT_NAME!r})")
    if int(store.attrs.get("format_version", 0)) > FORMAT_VERSION:
        store.close()
        raise StoreError(f"{path}: cache format version {store.attrs['format_version']} is newer than this misgan")
    if not store.complete:
        store.close()
        raise StoreError(f"{path}: the cache is marked incomplete; re-run `misgan extract` to finish it")
    try:
        check_files(path, store._b, store.attrs)
    except StoreError:
        store.close()
        raise
    return store


def audio_source(store: FeatureStore) -> str | None:
    """Why the audio behind a cache's rows cannot be re-read (None when it can): a cache imported from
    feature files (`misgan import`) records no audio encoder, and maybe no audio paths."""
    if not store.attrs.get("imported"):
        return None
    if store.attrs.get("audio_paths") is False:
        return "feature-only cache: imported from feature files with no audio paths and no audio encoder"
    return "imported cache: its features come from files, not from an audio encoder misgan can run"


def require_audio(store: FeatureStore, command: str) -> None:
    """StoreError naming `command` when the cache cannot give it audio (align --finetune, predict)."""
    why = audio_source(store)
    if why is not None:
        raise StoreError(
            f"{store.path}: {command} needs the audio and an audio encoder, but this is a {why}; "
            "extract the corpus with `misgan extract` to use it"
        )


def arrays_fingerprint(meta: pd.DataFrame, arrays: Mapping[str, np.ndarray | None]) -> str:
    """`misgan.io.fingerprint` of the row table and the feature values: the identity of a store built
    from arrays. Each matrix enters as its shape and the sha256 of its float32 bytes (as JSON it would
    be a hundred times larger)."""
    cols = ("utt_id", "label", "speaker", "session", "split")
    table = {c: meta[c].fillna("").astype(str).tolist() for c in cols if c in meta}
    feats = {}
    for name, arr in arrays.items():
        if arr is not None:
            a = np.ascontiguousarray(arr, dtype=np.float32)
            feats[name] = {"shape": list(a.shape), "sha256": bytes_sha256(memoryview(a).cast("B"))}
    return fingerprint({"rows": table, "features": feats})


def store_from_arrays(
    path: str | Path,
    meta_df: pd.DataFrame,
    audio: np.ndarray,
    text: np.ndarray | None,
    label_names: list[str],
    attrs: Mapping[str, Any] | None = None,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    overwrite: bool = False,
) -> FeatureStore:
    """Write a complete store in one call (tests, `misgan import`) and return it opened read-only."""
    path = Path(path)
    audio = np.asarray(audio, dtype=np.float32)
    n = len(meta_df)
    if audio.ndim != 2 or audio.shape[0] != n:
        raise StoreError(f"{path}: audio features have shape {audio.shape}, expected ({n}, D)")
    if text is not None:
        text = np.asarray(text, dtype=np.float32)
        if text.ndim != 2 or text.shape[0] != n:
            raise StoreError(f"{path}: text features have shape {text.shape}, expected ({n}, D)")
    meta = meta_df.reset_index(drop=True)
    extra = dict(attrs or {})
    extra.setdefault("fingerprint", arrays_fingerprint(meta, {"audio": audio, "text": text}))
    dims = {"audio": audio.shape[1], "text": None if text is None else text.shape[1]}
    store = FeatureStore.create(path, meta, label_names, dims, extra, chunk_rows=chunk_rows, overwrite=overwrite)
    try:
        for s, e in store.chunk_ranges():
            feats = {"audio": audio[s:e]} if text is None else {"audio": audio[s:e], "text": text[s:e]}
            store.write_rows(s, feats, [""] * (e - s))
    except BaseException:
        store.close()
        raise
    return store.finalize()
