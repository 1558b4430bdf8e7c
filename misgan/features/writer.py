"""Writing a feature cache: the layout `FeatureStore.create` lays out at `path.tmp`, chunk-aligned
`write_rows` during extraction, and `finalize` (drop failed rows, record chunk digests, rename to `path`).

`StoreWriter` is the writing half of `misgan.features.store.FeatureStore`; a complete store refuses
every method here (`_writable`). Layout and attributes: docs/cache-format.md.
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from misgan.errors import StoreError
from misgan.features.backends import H5Backend, format_of, open_backend, remove
from misgan.features.integrity import integrity_attrs

if TYPE_CHECKING:
    from misgan.features.store import FeatureStore

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


class StoreWriter:
    """Creating, filling and finalising a store; mixed into `FeatureStore`, whose attributes it uses."""

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
            self._b.update_attrs(
                {**extra, **integrity_attrs(self._b, self.location, self.chunk_rows, [*ARRAYS, *self.dims])}
            )
            self._b.update_attrs({"complete": True, "n_rows": self.n_rows})
            self.close()
            remove(self.path)
            os.replace(self.location, self.path)
        from misgan.features.store import open_store

        return open_store(self.path)

    def _writable(self) -> None:
        """A complete cache is never modified: results go to run folders (misgan.runs)."""
        if self._mode == "r" or self.location == self.path:
            raise StoreError(
                f"{self.path}: a complete feature cache is read-only; stage results belong in run folders "
                "(misgan.runs), a new cache needs `misgan extract` or `misgan import`"
            )


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
    b.update_attrs({**src.attrs, **attrs, "n_rows": n, **integrity_attrs(b, dst_loc, c, [*ARRAYS, *src.dims])})
    b.update_attrs({"complete": True})
    b.close()
