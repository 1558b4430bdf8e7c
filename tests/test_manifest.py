"""Manifest schema, I/O and hashing."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from misgan.data.manifest import (
    COLUMNS,
    label_names,
    manifest_sha256,
    new_manifest,
    read_manifest,
    summary,
    write_manifest,
)
from misgan.errors import ManifestError


def _rows(n: int = 6) -> list[dict]:
    labels = ["neutral", "happy", "sad", "angry", "sad", "happy"]
    return [
        {"utt_id": f"u{i}", "path": f"a/u{i}.wav", "label": labels[i % 6], "speaker": f"s{i % 2}"}
        for i in range(n)
    ]


def test_new_manifest_fills_schema_in_order():
    df = new_manifest([{**r, "extra": 1} for r in _rows()])
    assert list(df.columns) == [*COLUMNS, "extra"]
    assert df["text"].tolist() == [""] * 6
    assert df["duration"].isna().all()


def test_roundtrip_resolves_relative_paths(tmp_path):
    df = new_manifest(_rows())
    out = write_manifest(df, tmp_path / "m" / "x.csv")
    back = read_manifest(out)
    assert back["utt_id"].tolist() == df["utt_id"].tolist()
    assert back["path"].iloc[0] == str((tmp_path / "m" / "a" / "u0.wav").resolve())
    assert not (tmp_path / "m" / "x.csv.tmp").exists()


def test_read_manifest_errors_name_file_and_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("utt_id,path,label,speaker\nu1,a.wav,happy,s1\nu2,b.wav,,s1\n")
    with pytest.raises(ManifestError, match=r"bad\.csv: empty 'label' on line\(s\) 3"):
        read_manifest(bad)
    dup = tmp_path / "dup.csv"
    dup.write_text("utt_id,path,label,speaker\nu1,a.wav,happy,s1\nu1,b.wav,sad,s1\n")
    with pytest.raises(ManifestError, match="duplicate utt_id u1"):
        read_manifest(dup)
    missing = tmp_path / "missing.csv"
    missing.write_text("utt_id,path\nu1,a.wav\n")
    with pytest.raises(ManifestError, match="missing required column"):
        read_manifest(missing)
    with pytest.raises(ManifestError, match="not found"):
        read_manifest(tmp_path / "nope.csv")


def test_hash_is_content_based_and_stable_across_processes(tmp_path):
    df = new_manifest(_rows())
    h = manifest_sha256(df)
    assert h == manifest_sha256(new_manifest(_rows()))
    changed = df.copy()
    changed.loc[0, "label"] = "sad"
    assert manifest_sha256(changed) != h
    # extras do not change features, so they do not change the hash
    assert manifest_sha256(df.assign(extra=np.arange(6))) == h
    path = write_manifest(df, tmp_path / "m.csv")
    code = (
        "import pandas as pd; from misgan.data.manifest import manifest_sha256, normalise;"
        f"print(manifest_sha256(normalise(pd.read_csv(r'{path}', dtype=str, keep_default_na=False))))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert other.stdout.strip() == h


def test_label_order_and_summary():
    df = new_manifest([*_rows(), {"utt_id": "x", "path": "p", "label": "fear", "speaker": "s9"}])
    assert label_names(df) == ["neutral", "happy", "sad", "angry", "fear"]
    per_class, per_speaker = summary(df)
    assert per_class.to_dict() == {"neutral": 1, "happy": 2, "sad": 2, "angry": 1, "fear": 1}
    assert per_speaker.loc["s0", "total"] == 3
    assert isinstance(per_speaker, pd.DataFrame)


def test_hash_ignores_corpus_location_but_not_file_names():
    df = new_manifest(_rows())
    moved = df.assign(path=["/elsewhere/deep/" + p for p in df["path"]])
    assert manifest_sha256(moved) == manifest_sha256(df)
    renamed = df.copy()
    renamed.loc[0, "path"] = "a/other.wav"
    assert manifest_sha256(renamed) != manifest_sha256(df)
