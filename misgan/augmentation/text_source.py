"""Text-only conditioning for stage 3's generator (`--text-source FILE.csv`, issue 11 item 4): sentences with
emotion labels and no audio (e.g. MELD), encoded once with the cache's own text encoder (the spec in its attrs),
kept in `runs/<cache stem>/text-sources/<file sha>-<spec>.npz`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from misgan.augmentation.sources import Echo, SourceError, map_labels


@dataclass
class TextSource:
    """Encoded sentences of a text-only corpus (raw text space of the cache's text encoder) and classes."""

    path: str
    sha256: str
    t: np.ndarray
    y: np.ndarray
    dropped_labels: dict[str, int]
    encoder: dict[str, Any]

    def record(self) -> dict[str, Any]:
        counts = np.bincount(self.y, minlength=int(self.y.max()) + 1 if len(self.y) else 0).tolist()
        return {"path": self.path, "sha256": self.sha256, "rows": len(self.y), "per_class": counts,
                "dropped_labels": self.dropped_labels, "encoder": self.encoder}  # fmt: skip


def load_text_encoder(spec: dict[str, Any]) -> Any:
    """The cache's text encoder (tests replace this function with a tiny one)."""
    from misgan.features.encoders import load_encoder
    from misgan.features.encoders.registry import EncoderSpec

    return load_encoder(EncoderSpec.from_dict(spec), "cpu")


def load_text_source(store: Any, csv: str | Path, cache_dir: Path, echo: Echo) -> TextSource:
    """Read `csv` (text + emotion|label), map its labels to the cache's classes, encode the sentences with the
    cache's text encoder once (kept in `cache_dir`, keyed by the file's sha256 and the encoder spec)."""
    import pandas as pd

    from misgan.io import file_sha256, fingerprint

    path = Path(csv)
    if not path.is_file():
        raise SourceError(f"text source {path}: file not found")
    if "text" not in store.dims:
        raise SourceError(f"text source {path}: {store.path} has no text features to condition a generator on")
    spec = dict((store.attrs.get("encoders") or {}).get("text") or {})
    if spec.get("backend") in (None, "import"):
        raise SourceError(
            f"text source {path}: {store.path}'s text features were imported (no encoder spec), so new sentences "
            "cannot be encoded into the same space; extract the cache with a text encoder"
        )
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    col = "emotion" if "emotion" in df.columns else "label" if "label" in df.columns else None
    if "text" not in df.columns or col is None:
        raise SourceError(f"text source {path}: needs columns text and emotion (or label); has {list(df.columns)}")
    y, dropped = map_labels(df[col].tolist(), store.label_names, f"text source {path}", echo)
    keep = np.flatnonzero((y >= 0) & (df["text"].str.strip() != "").to_numpy())
    if not len(keep):
        raise SourceError(f"text source {path}: no sentence of the cache's classes {store.label_names}")
    sha = file_sha256(path)
    where = cache_dir / f"{sha[:16]}-{fingerprint(spec)[:12]}.npz"
    if where.is_file():
        t = np.load(where)["t"]
        echo(f"text source {path}: {len(keep)} sentences, encoded matrix reused from {where}")
    else:
        enc = load_text_encoder(spec)
        sentences = df["text"].to_numpy()[keep].tolist()
        t = np.concatenate([enc.encode(sentences[i : i + 256]) for i in range(0, len(sentences), 256)])
        _save_npz(where, t=t.astype(np.float32))
        echo(f"text source {path}: encoded {len(keep)} sentences with {spec.get('name')} -> {where}")
    if t.shape != (len(keep), store.dims["text"]):
        raise SourceError(f"{where}: shape {t.shape}, expected ({len(keep)}, {store.dims['text']}); delete it")
    return TextSource(str(path), sha, np.asarray(t, np.float32), y[keep], dropped, spec)


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    import io

    from misgan.io import atomic_write

    buf = io.BytesIO()
    np.savez(buf, **arrays)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, buf.getvalue())
