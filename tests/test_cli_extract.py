"""The `extract`, `import`, `info` and `encoders` commands through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from store_fixtures import make_feature_store, make_wav_corpus
from typer.testing import CliRunner

from misgan.cli import app
from misgan.data.manifest import write_manifest
from misgan.features.store import open_store

runner = CliRunner()


def _run(*args: str):
    return runner.invoke(app, list(args))


def test_extract_then_cache_hit_then_refusal_then_overwrite():
    m = make_wav_corpus("wavs", n_speakers=2, per_class=1)
    Path(m.loc[2, "path"]).write_bytes(b"broken")
    write_manifest(m, "m.csv")
    base = ("extract", "--manifest", "m.csv", "--text-encoder", "none", "--batch-size", "4")
    res = _run(*base, "-o", "c.zarr")
    assert res.exit_code == 0, res.output
    assert "wrote c.zarr: 7 of 8 utterances, 1 failed; encoded 8" in res.output
    assert f"failed {m.loc[2, 'utt_id']}" in res.output
    store = open_store("c.zarr")
    assert store.dims == {"audio": 88} and store.attrs["encoders"]["audio"]["name"] == "egemaps"

    res = _run(*base, "-o", "c.zarr")
    assert res.exit_code == 0 and "is up to date" in res.output

    res = _run(*base, "-o", "c.zarr", "--audio-encoder", "compare")
    assert res.exit_code == 2
    assert "c.zarr: this cache was built from a different manifest or encoders" in res.output
    assert "--overwrite" in res.output

    res = _run(*base, "-o", "c.zarr", "--strict", "--format", "zarr", "--overwrite")
    assert res.exit_code == 2 and m.loc[2, "path"] in res.output and "--strict" in res.output
    assert open_store("c.zarr").dims == {"audio": 88}  # the old cache is still there


def test_extract_h5_with_text_classes_and_default_output():
    m = make_wav_corpus("wavs", n_speakers=1, per_class=2)
    write_manifest(m, "m.csv")
    res = _run("extract", "--manifest", "m.csv", "--classes", "sad,angry", "--format", "h5")
    assert res.exit_code == 0, res.output
    store = open_store("cache/m.h5")
    assert store.dims == {"audio": 88, "text": 384}
    assert sorted(set(store.meta()["label"])) == ["angry", "sad"] and store.n_rows == 4
    assert store.label_names == ["sad", "angry"]
    # MiniLM embeddings are L2-normalised sentence vectors
    np.testing.assert_allclose(np.linalg.norm(store.read("text"), axis=1), 1.0, atol=1e-4)


def test_extract_argument_errors():
    res = _run("extract", "--corpus", "ravdess")
    assert res.exit_code == 2 and "--root DIR is required" in res.output
    res = _run("extract")
    assert res.exit_code == 2 and "either --corpus" in res.output
    write_manifest(make_wav_corpus("wavs", n_speakers=1, per_class=1), "m.csv")
    res = _run("extract", "--manifest", "m.csv", "-o", "x.zarr", "--format", "h5")
    assert res.exit_code == 2 and "x.zarr: the name says zarr but --format says h5" in res.output
    res = _run("extract", "--manifest", "nope.csv")
    assert res.exit_code == 2 and "nope.csv: manifest file not found" in res.output


def test_info_lists_counts_failures_and_runs():
    from misgan.runs import StageRun, default_run_dir

    store = make_feature_store("s.zarr", n_speakers=3, per_class=2)
    key = "ab" * 32
    run = StageRun.create(
        default_run_dir(store.path, "align", key), kind="align", key=key, cache=store.path,
        cache_fingerprint=store.fingerprint, config={},
    )  # fmt: skip
    run.write_fold("spk00", {"h": np.zeros((store.n_rows, 2), np.float32)}, {"test_speakers": ["spk00"]})
    store.close()
    res = _run("info", "s.zarr")
    assert res.exit_code == 0, res.output
    out = res.output
    assert "rows         24" in out
    assert "per class    neutral 6, happy 6, sad 6, angry 6" in out
    assert "(3 speakers)" in out and "spk02" in out
    assert "audio        (24, 32) float32" in out and "text         (24, 16) float32" in out
    assert "failures     0" in out and "runs         1 under runs/s" in out
    assert f"align   {key[:12]}    1 folds  partial" in out
    res = _run("info", "missing.zarr")
    assert res.exit_code == 2 and "missing.zarr: feature cache not found" in res.output


def test_info_on_unfinished_store_says_rerun():
    from misgan.features.store import FeatureStore

    m = make_wav_corpus("wavs", n_speakers=1, per_class=1)
    FeatureStore.create("u.zarr", m, ["neutral", "happy", "sad", "angry"], {"audio": 3}).close()
    res = _run("info", "u.zarr")
    assert res.exit_code == 2 and "re-run the same `misgan extract` command" in res.output


def test_import_command():
    m = make_wav_corpus("wavs", n_speakers=1, per_class=1)
    write_manifest(m, "m.csv")
    np.save("a.npy", np.ones((4, 3)))
    res = _run("import", "--manifest", "m.csv", "--audio", "a.npy", "-o", "i.h5")
    assert res.exit_code == 0, res.output
    assert "wrote i.h5: 4 rows" in res.output
    np.testing.assert_array_equal(open_store("i.h5").read("audio"), np.ones((4, 3), np.float32))
    res = _run("import", "--manifest", "m.csv", "--audio", "a.npy", "-o", "i.h5")
    assert res.exit_code == 2 and "already exists" in res.output
    np.save("b.npy", np.ones((3, 3)))
    res = _run("import", "--manifest", "m.csv", "--audio", "b.npy", "-o", "j.zarr")
    assert res.exit_code == 2 and "b.npy: 3 rows, but the manifest has 4" in res.output


@pytest.mark.parametrize("name", ["egemaps", "minilm", "compare"])
def test_encoders_lists_the_registry(name):
    res = _run("encoders")
    assert res.exit_code == 0
    line = next(line for line in res.output.splitlines() if line.startswith(name + " "))
    assert "yes" in line.split()  # offline encoders are flagged
