"""The manifest: one row per utterance, the fixed schema every corpus reader produces.

A manifest is a plain pandas DataFrame. The columns of `COLUMNS` are always present (empty string
or NaN where a corpus has no value); readers may add corpus-specific extras after them.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from misgan.errors import ManifestError
from misgan.io import atomic_write, bytes_sha256

Manifest = pd.DataFrame

# name -> meaning; the order is the column order written to CSV
COLUMNS: dict[str, str] = {
    "utt_id": "unique utterance id",
    "path": "audio file (absolute, or relative to the manifest's folder)",
    "text": "transcript, empty when the corpus has none",
    "label": "canonical class name (neutral, happy, sad, angry, ...)",
    "speaker": "speaker id, unique across the corpus",
    "session": "recording session, empty when the corpus has none",
    "gender": "F, M or empty",
    "split": "predefined partition (train/dev/test...), empty when the corpus has none",
    "duration": "seconds, NaN when unknown",
}
STRING_COLUMNS = ("utt_id", "path", "text", "label", "speaker", "session", "gender", "split")
CLASSES_4 = ("neutral", "happy", "sad", "angry")


def new_manifest(rows: list[dict]) -> Manifest:
    """Build a manifest from row dicts, filling absent schema columns and fixing dtypes."""
    df = pd.DataFrame(rows)
    return normalise(df)


def normalise(df: pd.DataFrame) -> Manifest:
    """Return `df` with every schema column present, strings as str, duration as float, schema first."""
    df = df.copy()
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = float("nan") if col == "duration" else ""
    for col in STRING_COLUMNS:
        df[col] = df[col].fillna("").astype(str)
    df["duration"] = pd.to_numeric(df["duration"], errors="coerce").astype(float)
    extras = [c for c in df.columns if c not in COLUMNS]
    return df[list(COLUMNS) + extras].reset_index(drop=True)


def validate(df: pd.DataFrame, source: str | Path = "<manifest>", *, audio: bool = True) -> Manifest:
    """Check the schema; raise ManifestError naming `source` and the offending rows. `audio=False`: a
    features-only manifest (`misgan import`), whose `path` column may be absent or empty."""
    required = ("utt_id", "path", "label", "speaker") if audio else ("utt_id", "label", "speaker")
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ManifestError(f"{source}: missing required column(s) {', '.join(missing)}")
    df = normalise(df)
    dup = df["utt_id"][df["utt_id"].duplicated()]
    if len(dup):
        raise ManifestError(f"{source}: duplicate utt_id {', '.join(map(str, dup.head(5)))}")
    for col in required:
        empty = df.index[df[col].str.strip() == ""]
        if len(empty):
            # +2: one for the header line, one because CSV lines count from 1
            lines = ", ".join(str(i + 2) for i in empty[:5])
            raise ManifestError(f"{source}: empty {col!r} on line(s) {lines}")
    return df


def read_manifest(path: str | Path, *, audio: bool = True) -> Manifest:
    """Read a manifest CSV written by `write_manifest` (or by hand with at least utt_id, path, label, speaker).

    Relative audio paths are resolved against the manifest's folder. `audio=False` accepts a manifest
    without audio paths (features only: `misgan import`).
    """
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"{path}: manifest file not found")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: not a readable CSV ({exc})") from exc
    df = validate(df, path, audio=audio)
    base = path.parent.resolve()
    df["path"] = [p if not p or Path(p).is_absolute() else str(base / p) for p in df["path"]]
    return df


def write_manifest(df: Manifest, path: str | Path) -> Path:
    """Write the manifest CSV atomically (temp file then rename)."""
    return atomic_write(path, normalise(df).to_csv(index=False))


def manifest_sha256(df: Manifest) -> str:
    """Stable content hash of a manifest: schema columns in row order, canonical CSV bytes.

    Extras are left out on purpose: they never change extracted features. Audio paths enter by file
    name only, so moving a corpus folder (or mounting it elsewhere) keeps the cache valid.
    """
    df = normalise(df)[list(COLUMNS)]
    df["path"] = [p.replace("\\", "/").rsplit("/", 1)[-1] for p in df["path"]]
    payload = df.to_csv(index=False, float_format="%.6f", lineterminator="\n").encode("utf-8")
    return bytes_sha256(payload)


def label_names(df: Manifest, order: tuple[str, ...] = CLASSES_4) -> list[str]:
    """Class names of a manifest: the canonical 4-class order first, any other labels sorted after."""
    present = set(df["label"])
    return [c for c in order if c in present] + sorted(present - set(order))


def summary(df: Manifest) -> tuple[pd.Series, pd.DataFrame]:
    """Counts per class, and a speaker x class count table (with a total column)."""
    names = label_names(df)
    per_class = df["label"].value_counts().reindex(names, fill_value=0)
    per_speaker = pd.crosstab(df["speaker"], df["label"]).reindex(columns=names, fill_value=0)
    per_speaker["total"] = per_speaker.sum(axis=1)
    return per_class, per_speaker
