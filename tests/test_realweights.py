"""A real pretrained encoder through `misgan extract --audio-encoder DIR` (marker: realweights).

The folder is the Hugging Face conversion of OpenAI Whisper base that
/work/shared/tools/whisper-base/make.sh builds offline (default ~/.cache/misgan-dev/whisper-base-hf, or
$MISGAN_WHISPER_BASE). The reference is the RAVDESS subset's stored features of the same model
(features/whisper-base.npy, row i = features/whisper-base.rows.csv line i), extracted independently.
Skipped when the folder or the data is absent. Run: pytest -m realweights tests/test_realweights.py
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

pytestmark = pytest.mark.realweights

MODEL = Path(os.environ.get("MISGAN_WHISPER_BASE", "~/.cache/misgan-dev/whisper-base-hf")).expanduser()
DATA = Path(os.environ.get("MISGAN_RAVDESS_16K", "/work/shared/data/ravdess-4class-16k"))
# one clip per class, from three actors (male and female), short and long
CLIPS = ("03-01-01-01-01-01-01", "03-01-03-02-02-01-06", "03-01-04-01-01-02-13", "03-01-05-02-02-02-24")


@pytest.fixture(scope="module")
def reference() -> tuple[pd.DataFrame, np.ndarray]:
    if not (MODEL / "config.json").is_file():
        pytest.skip(f"{MODEL}: no Whisper-base folder (build it with /work/shared/tools/whisper-base/make.sh)")
    rows_csv = DATA / "features" / "whisper-base.rows.csv"
    if not rows_csv.is_file():
        pytest.skip(f"{rows_csv}: RAVDESS reference features absent")
    return pd.read_csv(rows_csv, dtype=str), np.load(DATA / "features" / "whisper-base.npy")


def test_real_whisper_base_matches_the_stored_features(reference, tmp_path):
    from misgan.cli import app
    from misgan.data.corpora import load_corpus
    from misgan.features.store import open_store

    rows, feats = reference
    manifest = load_corpus("ravdess", DATA)
    manifest = manifest[manifest["utt_id"].isin(CLIPS)].reset_index(drop=True)
    assert sorted(manifest["utt_id"]) == sorted(CLIPS)
    mpath = tmp_path / "m.csv"
    manifest.to_csv(mpath, index=False)
    out = tmp_path / "real.zarr"
    args = ["extract", "--manifest", str(mpath), "--audio-encoder", str(MODEL), "--text-encoder", "none"]
    result = CliRunner().invoke(app, [*args, "-o", str(out)])
    assert result.exit_code == 0, result.output
    store = open_store(out)
    got = store.read("audio")
    ids = list(store.meta()["utt_id"])
    index = {u: i for i, u in enumerate(rows["utt_id"])}
    ref = feats[[index[u] for u in ids]]
    assert got.shape == ref.shape == (len(CLIPS), 512)
    cos = (got * ref).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(ref, axis=1))
    print("cosine per clip:", dict(zip(ids, np.round(cos, 6).tolist(), strict=True)))
    assert (cos >= 0.999).all(), cos
    # an unrelated row of the reference is far from each extracted row (the check can fail)
    other = feats[[index["03-01-01-01-01-01-02"]]]
    far = (got * other).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(other))
    assert (far < cos).all()
