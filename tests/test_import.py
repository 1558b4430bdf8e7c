"""`import_features`: user matrices into a store, and a clear error (file, line) for every bad input."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from misgan.data.manifest import new_manifest, write_manifest
from misgan.features.importer import FeatureImportError, import_features
from misgan.features.store import open_store


def _manifest(n: int = 6) -> pd.DataFrame:
    labels = ["neutral", "happy", "sad", "angry"]
    rows = [
        {"utt_id": f"u{i}", "path": f"u{i}.wav", "label": labels[i % 4], "speaker": f"s{i % 3}"} for i in range(n)
    ]
    return new_manifest(rows)


@pytest.mark.parametrize("out", ["x.zarr", "x.h5"])
def test_npy_round_trip(out):
    write_manifest(_manifest(), "m.csv")
    audio = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)
    text = np.arange(12, dtype=np.int64).reshape(6, 2)  # integers are numeric too
    np.save("a.npy", audio)
    np.save("t.npy", text)
    store = import_features("m.csv", "a.npy", out, text="t.npy")
    np.testing.assert_array_equal(store.read("audio"), audio)
    np.testing.assert_array_equal(store.read("text"), text.astype(np.float32))
    assert store.meta()["utt_id"].tolist() == [f"u{i}" for i in range(6)]
    assert store.attrs["encoders"]["audio"]["name"] == "imported"
    assert len(store.attrs["imported"]["audio"]["sha256"]) == 64
    assert open_store(out).fingerprint == store.fingerprint


def test_csv_and_parquet_aligned_by_utt_id():
    df = _manifest()
    audio = np.random.default_rng(1).normal(size=(6, 3))
    table = pd.DataFrame(audio, columns=["f0", "f1", "f2"])
    table.insert(0, "utt_id", df["utt_id"])
    shuffled = table.iloc[[3, 0, 5, 1, 4, 2]]
    shuffled.to_csv("a.csv", index=False)
    shuffled.to_parquet("t.parquet", index=False)
    store = import_features(df, "a.csv", "x.zarr", text="t.parquet")
    np.testing.assert_allclose(store.read("audio"), audio.astype(np.float32))
    np.testing.assert_allclose(store.read("text"), audio.astype(np.float32))


def test_plain_csv_keeps_row_order():
    audio = np.arange(18, dtype=np.float64).reshape(6, 3)
    pd.DataFrame(audio).to_csv("a.csv", index=False)
    store = import_features(_manifest(), "a.csv", "x.zarr")
    np.testing.assert_array_equal(store.read("audio"), audio.astype(np.float32))
    assert store.dims == {"audio": 3}


def test_errors_name_the_file_and_the_problem():
    df = _manifest()
    np.save("short.npy", np.zeros((5, 3)))
    with pytest.raises(FeatureImportError, match=r"short\.npy: 5 rows, but the manifest has 6"):
        import_features(df, "short.npy", "x.zarr")
    np.save("flat.npy", np.zeros(6))
    with pytest.raises(FeatureImportError, match=r"flat\.npy: expected a 2-D matrix"):
        import_features(df, "flat.npy", "x.zarr")
    np.save("str.npy", np.array([["a"]] * 6))
    with pytest.raises(FeatureImportError, match=r"str\.npy: dtype <U1 is not numeric"):
        import_features(df, "str.npy", "x.zarr")
    bad = np.zeros((6, 2))
    bad[4, 1] = np.nan
    pd.DataFrame(bad).to_csv("nan.csv", index=False)
    with pytest.raises(FeatureImportError, match=r"nan\.csv: NaN or inf values on line\(s\) 6"):
        import_features(df, "nan.csv", "x.zarr")
    bad[4, 1] = np.inf
    np.save("inf.npy", bad)
    with pytest.raises(FeatureImportError, match=r"inf\.npy: NaN or inf values on row\(s\) 4"):
        import_features(df, "inf.npy", "x.zarr")
    pd.DataFrame({"utt_id": df["utt_id"], "a": 1.0, "b": ["x"] * 6}).to_csv("text.csv", index=False)
    with pytest.raises(FeatureImportError, match=r"text\.csv: non-numeric column\(s\) b"):
        import_features(df, "text.csv", "x.zarr")
    pd.DataFrame({"utt_id": [*df["utt_id"][:5], "zzz"], "a": 1.0}).to_csv("ids.csv", index=False)
    with pytest.raises(FeatureImportError, match=r"ids\.csv: 1 manifest utterance\(s\) have no row, e\.g\. u5"):
        import_features(df, "ids.csv", "x.zarr")
    pd.DataFrame({"utt_id": [*df["utt_id"], "extra"], "a": 1.0}).to_csv("more.csv", index=False)
    with pytest.raises(FeatureImportError, match=r"more\.csv: 1 row\(s\) not in the manifest, e\.g\. extra"):
        import_features(df, "more.csv", "x.zarr")
    with pytest.raises(FeatureImportError, match=r"absent\.npy: feature file not found"):
        import_features(df, "absent.npy", "x.zarr")
    with pytest.raises(FeatureImportError, match=r"f\.txt: unsupported"):
        open("f.txt", "w").close()
        import_features(df, "f.txt", "x.zarr")


class _FakeMiniLM:
    """Stands in for MiniLM (384 dims): a fixed random vector per distinct sentence."""

    def encode(self, sentences):
        return np.stack([np.random.default_rng(zlib.crc32(s.encode())).normal(size=384) for s in sentences])


def _with_transcripts(n: int = 6) -> pd.DataFrame:
    df = _manifest(n)
    df["text"] = [f"sentence number {i % 4}" for i in range(n)]
    return df


def test_declared_text_encoder_is_checked_and_recorded(monkeypatch, tmp_path):
    """--text-encoder: the transcripts re-encoded must match the imported rows; the cache then records the
    encoder's spec (so augment --text-source can encode new sentences) and the check."""
    from misgan.augmentation import text_source
    from misgan.augmentation.text_source import load_text_source
    from misgan.features import encoders

    monkeypatch.setattr(encoders, "load_encoder", lambda spec, device="cpu": _FakeMiniLM())
    df = _with_transcripts()
    text = _FakeMiniLM().encode(df["text"].tolist()).astype(np.float32)
    np.save("a.npy", np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32))
    np.save("t.npy", text)
    plain = import_features(df, "a.npy", "plain.zarr", text="t.npy")
    store = import_features(df, "a.npy", "x.zarr", text="t.npy", text_encoder="minilm")
    spec = store.attrs["encoders"]["text"]
    assert spec["name"] == "minilm" and spec["backend"] == "minilm" and spec["dim"] == 384
    assert store.attrs["encoders"]["audio"]["backend"] == "import"
    assert store.attrs["declared_checks"]["text"] == {"encoder": "minilm", "rows": 6, "min_cosine": 1.0}
    assert store.fingerprint != plain.fingerprint
    # a text source can now be encoded into the cache's space (the plain import refuses)
    csv = tmp_path / "meld.csv"
    pd.DataFrame({"text": ["so happy", "so sad"], "emotion": ["joy", "sadness"]}).to_csv(csv, index=False)
    monkeypatch.setattr(text_source, "load_text_encoder", lambda spec: _FakeMiniLM())
    src = load_text_source(store, csv, tmp_path / "enc", print)
    assert src.t.shape == (2, 384) and src.y.tolist() == [1, 2]
    with pytest.raises(text_source.SourceError, match="imported"):
        load_text_source(plain, csv, tmp_path / "enc2", print)


def test_declared_text_encoder_mismatch_and_misuse_name_the_problem(monkeypatch):
    from misgan.features import encoders

    monkeypatch.setattr(encoders, "load_encoder", lambda spec, device="cpu": _FakeMiniLM())
    df = _with_transcripts()
    text = _FakeMiniLM().encode(df["text"].tolist()).astype(np.float32)
    np.save("a.npy", np.zeros((6, 3), np.float32))
    np.save("shifted.npy", np.roll(text, 1, axis=0))  # each row is another sentence's encoding
    wrong = r"shifted\.npy: row (\d) \(utt_id u\1\) is not minilm's encoding"  # the worst row, named with its id
    with pytest.raises(FeatureImportError, match=wrong):
        import_features(df, "a.npy", "x.zarr", text="shifted.npy", text_encoder="minilm")
    np.save("narrow.npy", text[:, :10])
    with pytest.raises(FeatureImportError, match=r"narrow\.npy: 10 columns, but minilm gives 384-dim"):
        import_features(df, "a.npy", "x.zarr", text="narrow.npy", text_encoder="minilm")
    with pytest.raises(FeatureImportError, match="no --text matrix"):
        import_features(df, "a.npy", "x.zarr", text_encoder="minilm")
    np.save("t.npy", text)
    with pytest.raises(FeatureImportError, match="no transcripts"):
        import_features(_manifest(), "a.npy", "x.zarr", text="t.npy", text_encoder="minilm")
    assert not any(Path(p).exists() for p in ("x.zarr",))
