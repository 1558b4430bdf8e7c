"""The feature cache: a Zarr v3 group (`*.zarr`) or an HDF5 file (`*.h5`), one row per utterance.

Life cycle. `FeatureStore.create(path, ...)` builds the store at `path.tmp` with every metadata
column written and the feature arrays empty; extraction fills it chunk by chunk (`write_rows`,
features first and the `done` flags last, so a chunk killed mid-write is redone). `finalize()`
drops failed rows, marks the store complete and renames `path.tmp` to `path`: a crash never leaves
a store at `path` that looks finished. `open_store(path)` refuses anything else.

A complete store is read-only, for good: stage results live in run folders keyed by the cache's
fingerprint (misgan.runs), so a cache never changes under the runs that were made from it.

A complete store holds only valid rows: an utterance that could not be read or encoded is listed in
`attrs["failures"]` with its reason and is not a row, so every later stage can use all rows.
Layout and attributes: docs/cache-format.md.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misgan.errors import StoreError
from misgan.features.backends import Backend, H5Backend, format_of, open_backend, remove
from misgan.features.integrity import array_digests, check_files, present_chunks, verify_array
from misgan.io import bytes_sha256, fingerprint

FORMAT_NAME = "misgan-features"
FORMAT_VERSION = 1
DEFAULT_CHUNK_ROWS = 256
META_COLUMNS = ("utt_id", "label", "speaker", "session", "gender", "split")
MODALITIES = ("audio", "text")
ARRAYS = (*META_COLUMNS, "y", "done", "failure")  # plus the feature arrays of `dims`


def tmp_path(path: str | Path) -> Path:
    """Where a store lives while it is being written."""
    path = Path(path)
    return path.with_name(path.name + ".tmp")


class FeatureStore:
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
    def create(
        cls,
        path: str | Path,
        manifest: pd.DataFrame,
        label_names: list[str],
        dims: Mapping[str, int | None],
        attrs: Mapping[str, Any] | None = None,
        *,
        chunk_rows: int = DEFAULT_CHUNK_ROWS,
        overwrite: bool = False,
    ) -> FeatureStore:
        """Start a store for `manifest` at `path.tmp` (any earlier unfinished one is replaced)."""
        path = Path(path)
        fmt = format_of(path)
        if path.exists() and not overwrite:
            raise StoreError(f"{path}: a feature cache already exists here; pass --overwrite to replace it")
        for col in ("utt_id", "label", "speaker"):
            if col not in manifest.columns:
                raise StoreError(f"{path}: the row table has no {col!r} column")
        n = len(manifest)
        if n == 0:
            raise StoreError(f"{path}: no rows to store (empty manifest)")
        names = [str(x) for x in label_names]
        index = {name: i for i, name in enumerate(names)}
        labels = manifest["label"].astype(str)
        unknown = sorted(set(labels) - set(index))
        if unknown:
            raise StoreError(f"{path}: label(s) {', '.join(unknown[:5])} are not in label_names {names}")
        dims = {m: int(d) for m, d in dims.items() if d}
        bad = sorted(set(dims) - set(MODALITIES))
        if bad:
            raise StoreError(f"{path}: unknown feature array(s) {bad}; expected {list(MODALITIES)}")
        if "audio" not in dims:
            raise StoreError(f"{path}: an audio feature width is required")

        loc = tmp_path(path)
        remove(loc)
        loc.parent.mkdir(parents=True, exist_ok=True)
        b = open_backend(loc, "w", fmt)
        rows = (chunk_rows,)
        for col in META_COLUMNS:
            values = manifest[col].fillna("").astype(str).to_numpy() if col in manifest else np.full(n, "")
            b.create_array(col, (n,), rows, str)
            b.write(col, slice(None), values.astype(str))
        b.create_array("y", (n,), rows, np.int64)
        b.write("y", slice(None), labels.map(index).to_numpy(np.int64))
        for mod, d in dims.items():
            b.create_array(mod, (n, d), (chunk_rows, d), np.float32)
        b.create_array("done", (n,), rows, np.bool_)
        b.create_array("failure", (n,), rows, str)
        from misgan import __version__

        base = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "misgan_version": __version__,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "label_names": names,
            "dims": dims,
            "n_rows": n,
            "chunk_rows": chunk_rows,
            "complete": False,
            "failures": [],
        }
        b.update_attrs({**dict(attrs or {}), **base})
        return cls(path, loc, b, "w")

    @classmethod
    def resume(cls, path: str | Path) -> FeatureStore | None:
        """Reopen the unfinished store `path.tmp` for writing, or None when there is none."""
        path = Path(path)
        loc = tmp_path(path)
        if not loc.exists():
            return None
        store = cls(path, loc, open_backend(loc, "r+", format_of(path)), "r+")
        if store.attrs.get("format") != FORMAT_NAME:
            store.close()
            raise StoreError(f"{loc}: not a misgan feature cache")
        return store

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

    # ---- writing during extraction ------------------------------------------------------------
    def done_mask(self) -> np.ndarray:
        return self._b.read("done").astype(bool)

    def chunk_ranges(self) -> list[tuple[int, int]]:
        n, c = self.n_rows, self.chunk_rows
        return [(s, min(s + c, n)) for s in range(0, n, c)]

    def pending_chunks(self) -> list[tuple[int, int]]:
        """Chunks with at least one row not yet done (these are recomputed whole)."""
        done = self.done_mask()
        return [(s, e) for s, e in self.chunk_ranges() if not done[s:e].all()]

    def write_rows(self, start: int, features: Mapping[str, np.ndarray], failures: list[str]) -> None:
        """Write rows `start..start+len(failures)`: features, then failure reasons, then the done flags."""
        self._writable()
        n = len(failures)
        stop = start + n
        if start % self.chunk_rows or (stop % self.chunk_rows and stop != self.n_rows):
            raise StoreError(f"{self.location}: rows {start}:{stop} are not chunk-aligned ({self.chunk_rows})")
        for mod in self.dims:
            arr = np.asarray(features[mod], dtype=np.float32)
            if arr.shape != (n, self.dims[mod]):
                raise StoreError(
                    f"{self.location}: {mod} block has shape {arr.shape}, expected {(n, self.dims[mod])}"
                )
            self._b.write(mod, slice(start, stop), arr)
        self._b.write("failure", slice(start, stop), np.asarray(failures, dtype=str))
        if isinstance(self._b, H5Backend):
            self._b.flush()
        self._b.write("done", slice(start, stop), np.ones(n, dtype=bool))
        if isinstance(self._b, H5Backend):
            self._b.flush()

    def update_attrs(self, values: Mapping[str, Any]) -> None:
        """Set root attributes of a store still being written (`path.tmp`)."""
        self._writable()
        self._b.update_attrs(dict(values))
        self.attrs = self._b.get_attrs()

    def finalize(self, attrs: Mapping[str, Any] | None = None) -> FeatureStore:
        """Drop failed rows, mark complete, rename `path.tmp` -> `path`; return the store opened read-only."""
        if self.location == self.path:
            raise StoreError(f"{self.path}: the store is already complete")
        self._writable()
        done = self.done_mask()
        if not done.all():
            missing = int((~done).sum())
            raise StoreError(f"{self.location}: {missing} row(s) not extracted yet; re-run extract to finish")
        reasons = self._b.read("failure")
        utt = self._b.read("utt_id")
        failures = [{"utt_id": str(u), "reason": str(r)} for u, r in zip(utt, reasons, strict=True) if r]
        keep = np.flatnonzero(reasons == "")
        if len(keep) == 0:
            raise StoreError(f"{self.location}: every utterance failed; nothing to store (first: {failures[0]})")
        extra = {**dict(attrs or {}), "failures": failures, "n_failed": len(failures)}
        if failures:
            src = self
            dst_loc = self.path.with_name(self.path.name + ".compact.tmp")
            _copy_rows(src, dst_loc, keep, extra)
            src.close()
            remove(self.path)
            os.replace(dst_loc, self.path)
            remove(self.location)
        else:
            self._b.update_attrs({**extra, **_integrity(self._b, self.location, self.chunk_rows, self.dims)})
            self._b.update_attrs({"complete": True, "n_rows": self.n_rows})
            self.close()
            remove(self.path)
            os.replace(self.location, self.path)
        return open_store(self.path)

    # ---- housekeeping -------------------------------------------------------------------------
    def _writable(self) -> None:
        """A complete cache is never modified: results go to run folders (misgan.runs)."""
        if self._mode == "r" or self.location == self.path:
            raise StoreError(
                f"{self.path}: a complete feature cache is read-only; stage results belong in run folders "
                "(misgan.runs), a new cache needs `misgan extract` or `misgan import`"
            )

    def close(self) -> None:
        self._b.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "complete" if self.complete else "in progress"
        return f"FeatureStore({str(self.path)!r}, rows={self.n_rows}, dims={self.dims}, {state})"


def _copy_rows(src: FeatureStore, dst_loc: Path, keep: np.ndarray, attrs: dict[str, Any]) -> None:
    """Stream the rows `keep` of `src` into a new complete store at `dst_loc`, one chunk at a time."""
    remove(dst_loc)
    b = open_backend(dst_loc, "w", src.format)
    n, c = len(keep), src.chunk_rows
    for col in (*META_COLUMNS, "y", "done", "failure"):
        dtype = str if col in (*META_COLUMNS, "failure") else (np.int64 if col == "y" else np.bool_)
        b.create_array(col, (n,), (c,), dtype)
        b.write(col, slice(None), src._b.read(col)[keep])
    for mod, d in src.dims.items():
        b.create_array(mod, (n, d), (c, d), np.float32)
        for s in range(0, n, c):
            b.write(mod, slice(s, s + c), src._b.read_rows(mod, keep[s : s + c]))
    b.update_attrs({**src.attrs, **attrs, "n_rows": n, **_integrity(b, dst_loc, c, src.dims)})
    b.update_attrs({"complete": True})
    b.close()


def _integrity(b: Backend, loc: Path, chunk_rows: int, dims: Mapping[str, int]) -> dict[str, Any]:
    """`digests` (crc32 per row chunk of every array) and, for Zarr, `chunk_files` (the chunks on disk)."""
    names = [n for n in (*ARRAYS, *dims) if b.has(n)]
    out: dict[str, Any] = {"digests": {n: array_digests(b, n, chunk_rows) for n in names}}
    if loc.is_dir():
        out["chunk_files"] = {
            n: present_chunks(loc, n, -(-b.shape(n)[0] // chunk_rows), len(b.shape(n))) for n in names
        }
    return out


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
