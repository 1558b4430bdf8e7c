"""Bring your own features: a manifest plus .npy / .csv / .parquet matrices -> a complete feature store.

    import_features("m.csv", "audio.npy", "cache/mine.zarr", text="text.parquet")

Row i of a matrix belongs to row i of the manifest, unless the table has a `utt_id` column: then
rows are matched by id (order free; every manifest utterance must appear exactly once). Every other
column must be numeric. The matrix must be 2-D, finite, and have one row per manifest row; any
problem is reported with the file (and, for CSV, the line).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misgan.data.manifest import label_names as manifest_label_names
from misgan.data.manifest import manifest_sha256, read_manifest, validate
from misgan.errors import MisganError
from misgan.features.store import FeatureStore, store_from_arrays
from misgan.io import file_sha256, fingerprint
from misgan.locks import writer_lock

IMPORT_VERSION = 1
SUFFIXES = (".npy", ".csv", ".parquet", ".pq")


class FeatureImportError(MisganError):
    """A user feature file cannot be imported."""


def _align_by_id(table: pd.DataFrame, utt_ids: pd.Series, path: Path) -> pd.DataFrame:
    ids = table["utt_id"].astype(str)
    dup = ids[ids.duplicated()]
    if len(dup):
        raise FeatureImportError(f"{path}: duplicate utt_id {', '.join(dup.head(5))}")
    want = utt_ids.astype(str)
    missing = sorted(set(want) - set(ids))
    if missing:
        raise FeatureImportError(
            f"{path}: {len(missing)} manifest utterance(s) have no row, e.g. {', '.join(missing[:5])}"
        )
    extra = sorted(set(ids) - set(want))
    if extra:
        raise FeatureImportError(f"{path}: {len(extra)} row(s) not in the manifest, e.g. {', '.join(extra[:5])}")
    return table.set_index(ids).loc[want.to_numpy()].reset_index(drop=True).drop(columns="utt_id")


def load_matrix(path: str | Path, utt_ids: pd.Series) -> np.ndarray:
    """Read one feature file as float32 (N, D) aligned with `utt_ids`; FeatureImportError on any problem."""
    path = Path(path)
    if not path.is_file():
        raise FeatureImportError(f"{path}: feature file not found")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise FeatureImportError(f"{path}: unsupported feature file type {suffix!r}; use .npy, .csv or .parquet")
    line_offset = None
    if suffix == ".npy":
        try:
            arr = np.load(path, allow_pickle=False)
        except (ValueError, OSError) as exc:
            raise FeatureImportError(f"{path}: not a readable .npy array ({exc})") from exc
        if arr.dtype.kind not in "biuf":
            raise FeatureImportError(f"{path}: dtype {arr.dtype} is not numeric")
    else:
        try:
            table = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
        except Exception as exc:  # pandas/pyarrow raise many types for a broken file
            raise FeatureImportError(f"{path}: not a readable {suffix[1:]} table ({exc})") from exc
        if "utt_id" in table.columns:
            table = _align_by_id(table, utt_ids, path)
        elif suffix == ".csv":
            line_offset = 2  # header line + 1-based lines: row i sits on line i + 2
        non_numeric = [str(c) for c in table.columns if not pd.api.types.is_numeric_dtype(table[c])]
        if non_numeric:
            raise FeatureImportError(
                f"{path}: non-numeric column(s) {', '.join(non_numeric[:5])} (only utt_id may hold text)"
            )
        arr = table.to_numpy()
    if arr.ndim != 2:
        raise FeatureImportError(f"{path}: expected a 2-D matrix (rows x features), got shape {arr.shape}")
    if arr.shape[0] != len(utt_ids):
        raise FeatureImportError(f"{path}: {arr.shape[0]} rows, but the manifest has {len(utt_ids)} utterances")
    if arr.shape[1] == 0:
        raise FeatureImportError(f"{path}: no feature columns")
    arr = arr.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(arr).all(axis=1))
    if len(bad):
        where = (
            f"line(s) {', '.join(str(i + line_offset) for i in bad[:5])}"
            if line_offset
            else f"row(s) {', '.join(map(str, bad[:5]))} (0-based)"
        )
        raise FeatureImportError(f"{path}: NaN or inf values on {where}")
    return arr


def import_features(
    manifest: str | Path | pd.DataFrame,
    audio: str | Path,
    out: str | Path,
    *,
    text: str | Path | None = None,
    text_encoder: str | None = None,
    label_names: list[str] | None = None,
    corpus: str = "",
    overwrite: bool = False,
) -> FeatureStore:
    """Validate the files and write a complete store at `out`; returns it opened read-only.

    `text_encoder` (a registry name, model folder or hub id) declares the encoder that made the text matrix: it
    is checked (`check_declared_text`) and recorded as the cache's text encoder, so sentences that are not in
    the corpus (`misgan augment --text-source`) can be encoded into the same space."""
    if isinstance(manifest, pd.DataFrame):
        df = validate(manifest.reset_index(drop=True), "<manifest>", audio=False)
    else:
        df = read_manifest(manifest, audio=False)  # import never reads audio: paths may be empty
    audio_path = Path(audio)
    audio_arr = load_matrix(audio_path, df["utt_id"])
    text_path = None if text is None else Path(text)
    text_arr = None if text_path is None else load_matrix(text_path, df["utt_id"])
    if text_encoder is not None and (text_path is None or text_arr is None):
        raise FeatureImportError(f"--text-encoder {text_encoder}: there is no --text matrix to declare it for")
    sources = {"audio": {"file": str(audio_path.resolve()), "sha256": file_sha256(audio_path)}}
    if text_path is not None:
        sources["text"] = {"file": str(text_path.resolve()), "sha256": file_sha256(text_path)}
    encoders = {
        m: {"name": "imported", "backend": "import", "model_id": s["file"], "revision": s["sha256"]}
        for m, s in sources.items()
    }
    checks = {}
    if text_encoder is not None and text_path is not None and text_arr is not None:
        encoders["text"], checks["text"] = check_declared_text(text_encoder, text_arr, df, text_path)
    identity = {"import_version": IMPORT_VERSION, "manifest_sha256": manifest_sha256(df), "sources": sources}
    if text_encoder is not None:
        identity["declared"] = {"text": encoders["text"]}
    fp = fingerprint(identity)
    attrs = {
        "corpus": corpus,
        "manifest_sha256": manifest_sha256(df),
        "encoders": encoders,
        "imported": sources,
        "declared_checks": checks,  # how each declared encoder was checked against the imported rows
        # no audio files behind the rows: commands that re-read audio (align --finetune) say so
        "audio_paths": bool((df["path"].str.strip() != "").all()),
        "fingerprint": fp,
    }
    names = label_names or manifest_label_names(df)
    with writer_lock(Path(out), "feature cache"):
        return store_from_arrays(out, df, audio_arr, text_arr, names, attrs, overwrite=overwrite)


CHECK_ROWS = 32  # rows re-encoded to check a declared encoder
CHECK_COSINE = 0.999  # each must agree with its imported row at least this well


def check_declared_text(name: str, text_arr: np.ndarray, df: pd.DataFrame, path: Path) -> tuple[dict, dict]:
    """(the declared text encoder's spec as extraction records it, what was checked): the manifest's transcripts
    of up to CHECK_ROWS rows are re-encoded and each must lie within cosine CHECK_COSINE of its imported row
    (FeatureImportError otherwise)."""
    from misgan.features.encoders import load_encoder, resolve_spec

    spec = resolve_spec(name, modality="text")
    if spec.dim is not None and spec.dim != text_arr.shape[1]:
        raise FeatureImportError(f"{path}: {text_arr.shape[1]} columns, but {name} gives {spec.dim}-dim features")
    transcripts = df["text"].fillna("").astype(str).str.strip() if "text" in df.columns else pd.Series([""])
    rows = np.flatnonzero((transcripts != "").to_numpy())[:CHECK_ROWS]
    if not len(rows):
        raise FeatureImportError(f"--text-encoder {name}: the manifest has no transcripts (text column) to check")
    encoder: Any = load_encoder(spec, "cpu")
    got = np.asarray(encoder.encode(transcripts.iloc[rows].tolist()), np.float64)
    want = text_arr[rows].astype(np.float64)
    if got.shape != want.shape:
        raise FeatureImportError(f"{path}: {want.shape[1]} columns, but {name} gives {got.shape[1]}-dim features")
    cos = (got * want).sum(1) / np.maximum(np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1), 1e-12)
    bad = int(np.argmin(cos))
    if cos[bad] < CHECK_COSINE:
        raise FeatureImportError(
            f"{path}: row {int(rows[bad])} (utt_id {df['utt_id'].iloc[rows[bad]]}) is not {name}'s encoding of "
            f"its transcript (cosine {cos[bad]:.3f} < {CHECK_COSINE}); the declared --text-encoder did not make "
            "these features"
        )
    record = dict(getattr(encoder, "spec", spec).to_dict())  # the loaded encoder pins its revision
    record["dim"] = int(text_arr.shape[1])
    return record, {"encoder": name, "rows": len(rows), "min_cosine": round(float(cos.min()), 6)}
