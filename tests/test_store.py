"""FeatureStore over Zarr v3 and HDF5: round trips, completeness, resume bookkeeping, read-only once complete,
fingerprints, fixtures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import zarr
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from store_fixtures import make_feature_store

from misgan.errors import StoreError
from misgan.features.store import FeatureStore, arrays_fingerprint, open_store, store_from_arrays
from misgan.features.writer import tmp_path

FORMATS = ["x.zarr", "x.h5"]


def _meta(n: int) -> pd.DataFrame:
    labels = np.array(["sad", "angry", "neutral"])[np.arange(n) % 3]
    return pd.DataFrame(
        {
            "utt_id": [f"u{i:03d}" for i in range(n)],
            "label": labels,
            "speaker": [f"s{i % 4}" for i in range(n)],
            "session": [f"S{i % 2}" for i in range(n)],
        }
    )


@pytest.mark.parametrize("name", FORMATS)
def test_round_trip(name):
    rng = np.random.default_rng(1)
    audio = rng.normal(size=(23, 5)).astype(np.float32)
    text = rng.normal(size=(23, 3)).astype(np.float32)
    store = store_from_arrays(
        name, _meta(23), audio, text, ["neutral", "sad", "angry"], {"corpus": "c"}, chunk_rows=4
    )
    assert store.n_rows == 23
    assert store.complete and store.attrs["corpus"] == "c"
    np.testing.assert_array_equal(store.read("audio"), audio)
    np.testing.assert_array_equal(store.read("text"), text)
    np.testing.assert_array_equal(store.read("audio", [7, 2, 2, 22]), audio[[7, 2, 2, 22]])
    # y follows the order of label_names, not first appearance
    np.testing.assert_array_equal(store.labels[:3], [1, 2, 0])
    meta = store.meta()
    assert list(meta.columns[:3]) == ["utt_id", "label", "y"]
    assert meta["speaker"].tolist() == [f"s{i % 4}" for i in range(23)]
    assert meta["split"].tolist() == [""] * 23  # absent columns become empty strings
    np.testing.assert_array_equal(store.valid_rows(), np.arange(23))
    with pytest.raises(StoreError, match="out of range"):
        store.read("audio", [23])
    assert not tmp_path(name).exists()


def test_zarr_and_h5_hold_identical_arrays():
    a = make_feature_store("a.zarr", n_speakers=3, per_class=4)
    b = make_feature_store("b.h5", n_speakers=3, per_class=4)
    for mod in ("audio", "text"):
        np.testing.assert_array_equal(a.read(mod), b.read(mod))
    pd.testing.assert_frame_equal(a.meta(), b.meta())
    assert a.fingerprint == b.fingerprint


def test_missing_text_modality():
    store = store_from_arrays("x.zarr", _meta(4), np.zeros((4, 2)), None, ["neutral", "sad", "angry"])
    assert store.dims == {"audio": 2}
    with pytest.raises(StoreError, match="no 'text' features"):
        store.read("text")


@pytest.mark.parametrize("name", FORMATS)
def test_open_store_refuses_absent_unfinished_and_foreign(name, tmp_path):
    with pytest.raises(StoreError, match="not found"):
        open_store(name)
    FeatureStore.create(name, _meta(6), ["neutral", "sad", "angry"], {"audio": 2}).close()
    with pytest.raises(StoreError, match="re-run"):
        open_store(name)
    foreign = "foreign" + name[1:]
    if name.endswith(".zarr"):
        zarr.open_group(foreign, mode="w", zarr_format=3)
    else:
        h5py.File(foreign, "w").close()
    with pytest.raises(StoreError, match="not a misgan feature cache"):
        open_store(foreign)
    with pytest.raises(StoreError, match="unknown cache format"):
        open_store(tmp_path / "x.npz")


def test_create_validates_labels_and_existing(tmp_path):
    with pytest.raises(StoreError, match="not in label_names"):
        FeatureStore.create("x.zarr", _meta(3), ["neutral", "sad"], {"audio": 2})
    make_feature_store("y.zarr", n_speakers=2, per_class=1)
    with pytest.raises(StoreError, match="already exists"):
        FeatureStore.create("y.zarr", _meta(3), ["neutral", "sad", "angry"], {"audio": 2})


@pytest.mark.parametrize("name", FORMATS)
def test_resume_bookkeeping_and_failed_rows_are_dropped(name):
    n, names = 10, ["neutral", "sad", "angry"]
    audio = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    store = FeatureStore.create(name, _meta(n), names, {"audio": 2}, {"fingerprint": "abc"}, chunk_rows=4)
    assert store.chunk_ranges() == [(0, 4), (4, 8), (8, 10)]
    with pytest.raises(StoreError, match="chunk-aligned"):
        store.write_rows(2, {"audio": audio[2:6]}, [""] * 4)
    store.write_rows(4, {"audio": audio[4:8]}, ["", "bad.wav: empty audio", "", ""])
    store.close()

    store = FeatureStore.resume(name)
    assert store.attrs["fingerprint"] == "abc"
    assert store.pending_chunks() == [(0, 4), (8, 10)]
    np.testing.assert_array_equal(store.done_mask(), [False] * 4 + [True] * 4 + [False] * 2)
    with pytest.raises(StoreError, match="6 row"):
        store.finalize()
    store.write_rows(0, {"audio": audio[0:4]}, [""] * 4)
    store.write_rows(8, {"audio": audio[8:10]}, ["", ""])
    final = store.finalize()
    keep = [0, 1, 2, 3, 4, 6, 7, 8, 9]
    assert final.n_rows == 9
    np.testing.assert_array_equal(final.read("audio"), audio[keep])
    assert final.meta()["utt_id"].tolist() == [f"u{i:03d}" for i in keep]
    np.testing.assert_array_equal(final.labels, (np.array([1, 2, 0])[np.arange(n) % 3])[keep])
    assert final.failures == [{"utt_id": "u005", "reason": "bad.wav: empty audio"}]
    assert final.attrs["fingerprint"] == "abc"
    assert not tmp_path(name).exists()
    assert FeatureStore.resume(name) is None


@pytest.mark.parametrize("name", FORMATS)
def test_complete_store_is_read_only(name):
    store = make_feature_store(name, n_speakers=2, per_class=2)
    store.close()
    before = Path(name).read_bytes() if name.endswith(".h5") else None
    store = open_store(name)
    with pytest.raises(StoreError, match=f"{name}: a complete feature cache is read-only"):
        store.update_attrs({"pipeline_folds": ["spk01"]})
    with pytest.raises(StoreError, match="read-only"):
        store.write_rows(0, {"audio": np.zeros((16, 32)), "text": np.zeros((16, 16))}, [""] * 16)
    assert not any(hasattr(store, m) for m in ("write_fold", "read_fold", "folds"))
    store.close()
    assert "pipeline_folds" not in open_store(name).attrs
    if before is not None:
        assert Path(name).read_bytes() == before


def test_arrays_fingerprint_is_stable_across_processes_and_tracks_content():
    rng = np.random.default_rng(0)
    audio = rng.normal(size=(9, 4)).astype(np.float32)
    here = arrays_fingerprint(_meta(9), {"audio": audio, "text": None})
    np.save("a.npy", audio)
    code = (
        "import numpy as np, sys; sys.path.insert(0, sys.argv[1]); from test_store import _meta; "
        "from misgan.features.store import arrays_fingerprint; "
        "print(arrays_fingerprint(_meta(9), {'text': None, 'audio': np.load('a.npy')}))"
    )
    tests = str(Path(__file__).parent)
    env = {**os.environ, "PYTHONHASHSEED": "123"}
    there = subprocess.run(
        [sys.executable, "-c", code, tests], capture_output=True, text=True, env=env, check=True
    )
    assert there.stdout.strip() == here and len(here) == 64
    changed = audio.copy()
    changed[4, 2] += 1e-3
    assert arrays_fingerprint(_meta(9), {"audio": changed}) != here
    other = _meta(9).assign(speaker="s0")
    assert arrays_fingerprint(other, {"audio": audio}) != here


def test_plain_zarr_and_h5py_can_read_the_layout():
    make_feature_store("p.zarr", n_speakers=2, per_class=2).close()
    make_feature_store("p.h5", n_speakers=2, per_class=2).close()
    g = zarr.open_group("p.zarr", mode="r")
    with h5py.File("p.h5", "r") as f:
        np.testing.assert_array_equal(g["audio"][:], f["audio"][:])
        assert g.attrs["label_names"] == json.loads(f.attrs["label_names"]) == ["neutral", "happy", "sad", "angry"]
        assert g.attrs["complete"] is True and json.loads(f.attrs["complete"]) is True
        assert [str(s) for s in g["utt_id"][:4]] == list(f["utt_id"].asstr()[:4])


def test_make_feature_store_counts_and_separability():
    store = make_feature_store("s.zarr", n_speakers=4, per_class=15, da=16, dt=8)
    meta = store.meta()
    assert store.n_rows == 4 * 15 * 4
    assert (meta.groupby(["speaker", "label"]).size() == 15).all()
    assert sorted(meta["session"].unique()) == ["Ses01", "Ses02"]
    y = store.labels
    train, test = meta["speaker"] != "spk03", meta["speaker"] == "spk03"

    def uar(s, mod):
        x = s.read(mod)
        clf = LogisticRegression(max_iter=500).fit(x[train], y[train])
        return balanced_accuracy_score(y[test], clf.predict(x[test]))

    assert uar(store, "audio") > 0.9
    assert uar(store, "text") > 0.9  # text is correlated with the label
    flat = make_feature_store("f.zarr", n_speakers=4, per_class=15, da=16, dt=8, separable=False)
    assert uar(flat, "audio") < 0.5


# ---- integrity: chunk digests, missing chunk files, fletcher32 (issue 12.1) ------------------------------


def _flip_zarr_chunk(path: Path, name: str, chunk: int) -> None:
    f = path / name / "c" / str(chunk) / "0"
    data = bytearray(f.read_bytes())
    for i in range(len(data) // 2, min(len(data), len(data) // 2 + 8)):
        data[i] ^= 0xFF
    f.write_bytes(bytes(data))


def _flip_h5_chunk(path: Path, name: str, chunk: int) -> None:
    import h5py

    with h5py.File(path, "r") as f:
        info = f[name].id.get_chunk_info(chunk)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset + info.size // 2)
        b = bytearray(fh.read(8))
        fh.seek(info.byte_offset + info.size // 2)
        fh.write(bytes(x ^ 0xFF for x in b))


@pytest.mark.parametrize("suffix", [".zarr", ".h5"])
def test_corrupt_chunk_is_an_error_naming_array_and_rows(tmp_path, suffix):
    path = tmp_path / f"c{suffix}"
    make_feature_store(path, chunk_rows=64).close()  # 240 rows: chunks 0..3
    with open_store(path) as s:
        assert s.verify()[-2:] == ["audio", "text"]
    (_flip_zarr_chunk if suffix == ".zarr" else _flip_h5_chunk)(path, "audio", 1)
    with open_store(path) as s, pytest.raises(StoreError, match=r"'audio' chunk 1 \(rows 64-127\)"):
        s.read("audio")
    with open_store(path) as s, pytest.raises(StoreError, match="'audio' chunk 1"):
        s.verify()
    with open_store(path) as s:  # the other arrays are intact
        assert s.read("text").shape == (240, 16)


def test_deleted_zarr_chunk_is_refused_at_open_never_zeros(tmp_path):
    path = tmp_path / "c.zarr"
    make_feature_store(path, chunk_rows=64).close()
    (path / "audio" / "c" / "3" / "0").unlink()
    with pytest.raises(StoreError, match=r"'audio' lost its chunk 3 \(rows 192-239\)"):
        open_store(path)


def test_deleted_h5_chunk_data_is_caught_by_the_digest(tmp_path):
    # HDF5 has no chunk files: overwrite a chunk with zeros the way a lost block reads back
    import h5py

    path = tmp_path / "c.h5"
    make_feature_store(path, chunk_rows=64).close()
    with h5py.File(path, "r") as f:
        info = f["y"].id.get_chunk_info(2)
    with open(path, "r+b") as fh:
        fh.seek(info.byte_offset)
        fh.write(b"\0" * info.size)
    with open_store(path) as s, pytest.raises(StoreError, match=r"'y' chunk 2 \(rows 128-191\)"):
        s.meta()
