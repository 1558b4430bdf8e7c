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
    # 1 of 8 rows failed: past the default 5 % threshold, so exit 1 (the cache is written all the same)
    assert res.exit_code == 1, res.output
    assert "wrote c.zarr: 7 of 8 utterances, 1 failed; encoded 8" in res.output
    assert f"failed {m.loc[2, 'utt_id']}" in res.output
    assert "rows: 8 in = 7 used + 1 left out (unreadable 1)" in res.output
    store = open_store("c.zarr")
    assert store.dims == {"audio": 88} and store.attrs["encoders"]["audio"]["name"] == "egemaps"

    res = _run(*base, "-o", "c.zarr", "--max-dropped", "0.2")
    assert res.exit_code == 0 and "is up to date" in res.output
    assert "rows: 8 in = 7 used + 1 left out" in res.output

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


# ---- issue 12: loud row accounting, no tracebacks; 13.5 no-op without loading; 14.6 csv defaults; 14.9 ----


def test_directory_as_audio_is_a_failure_with_its_reason():
    m = make_wav_corpus("wavs", n_speakers=4, per_class=1)  # 16 rows
    Path("adir").mkdir()
    m.loc[5, "path"] = str(Path("adir").resolve())
    write_manifest(m, "m.csv")
    res = _run("extract", "--manifest", "m.csv", "--text-encoder", "none", "-o", "c.zarr", "--workers", "0")
    assert res.exit_code == 1
    assert "rows: 16 in = 15 used + 1 left out (directory 1)" in res.output
    assert "is a directory" in res.output
    failures = open_store("c.zarr").failures
    assert [f["utt_id"] for f in failures] == [m.loc[5, "utt_id"]] and "directory" in failures[0]["reason"]


def test_no_op_rerun_compares_the_fingerprint_before_loading_any_encoder(monkeypatch):
    m = make_wav_corpus("wavs", n_speakers=1, per_class=1)
    write_manifest(m, "m.csv")
    base = ("extract", "--manifest", "m.csv", "--text-encoder", "none", "-o", "c.zarr", "--workers", "0")
    assert _run(*base).exit_code == 0

    import misgan.features.encoders as encoders

    def no_load(*a, **k):
        raise AssertionError("an encoder was loaded for a no-op rerun")

    monkeypatch.setattr(encoders, "load_encoder", no_load)
    res = _run(*base)
    assert res.exit_code == 0 and "is up to date" in res.output, res.output
    # another encoder (not provably the same) takes the normal path, which loads it
    res = _run(*base, "--audio-encoder", "compare")
    assert isinstance(res.exception, AssertionError) and "an encoder was loaded" in str(res.exception)


def test_csv_corpus_defaults_are_named_after_the_table():
    m = make_wav_corpus("wavs", n_speakers=2, per_class=2)
    for name in ("emodb_mine", "other_corpus"):
        m[["utt_id", "path", "label", "speaker"]].to_csv(f"{name}.csv", index=False)
        res = _run("manifest", "--corpus", "csv", "--root", f"{name}.csv")
        assert res.exit_code == 0, res.output
        assert Path(f"manifests/{name}.csv").is_file()
    res = _run(
        "extract", "--corpus", "csv", "--root", "emodb_mine.csv", "--text-encoder", "none", "--workers", "0"
    )
    assert res.exit_code == 0, res.output
    assert Path("cache/emodb_mine.zarr").is_dir() and not Path("cache/csv.zarr").exists()


def test_feature_only_import_and_what_needs_audio():
    import pandas as pd

    from misgan.errors import StoreError
    from misgan.features.store import require_audio

    rows = [{"utt_id": f"u{i}", "label": ["sad", "happy"][i % 2], "speaker": f"s{i % 3}"} for i in range(12)]
    pd.DataFrame(rows).to_csv("m.csv", index=False)  # no path column at all
    np.save("a.npy", np.arange(12 * 4, dtype=np.float32).reshape(12, 4))
    res = _run("import", "--manifest", "m.csv", "--audio", "a.npy", "-o", "f.zarr")
    assert res.exit_code == 0, res.output
    store = open_store("f.zarr")
    np.testing.assert_array_equal(store.read("audio"), np.arange(48, dtype=np.float32).reshape(12, 4))
    with pytest.raises(StoreError, match=r"align --finetune.*feature-only cache"):
        require_audio(store, "`misgan align --finetune`")
    res = _run("info", "f.zarr")
    assert res.exit_code == 0 and "feature-only cache" in res.output and "need audio it lacks" in res.output


BAD = [
    (["extract"], 2, "either --corpus"),
    (["extract", "--manifest", "nope.csv"], 2, "manifest file not found"),
    (["extract", "--manifest", "m.csv", "--chunk-rows", "0"], 2, "chunk rows must be >= 1"),
    (["extract", "--manifest", "m.csv", "--format", "parquet"], 2, "--format must be zarr or h5"),
    (["extract", "--manifest", "m.csv", "--audio-encoder", "nope-enc"], 2, "unknown encoder"),
    (["extract", "--manifest", "m.csv", "--classes", "calm"], 2, "no utterance has a label"),
    (["import", "--manifest", "m.csv", "--audio", "nan.npy", "-o", "x.zarr"], 2, "NaN or inf"),
    (["import", "--manifest", "m.csv", "--audio", "str.npy", "-o", "x.zarr"], 2, "is not numeric"),
    (["import", "--manifest", "m.csv", "--audio", "a.mat", "-o", "x.zarr"], 2, "feature file not found"),
    (["info", "nothere.zarr"], 2, "feature cache not found"),
    (["info", "gone.zarr"], 2, "lost its chunk"),
    (["info", "--verify", "flip.h5"], 2, "'text' chunk 0 (rows 0-63)"),
    (["align", "--cache", "gone.zarr"], 2, "lost its chunk"),
    (["manifest", "-c", "nope", "-r", "."], 2, "unknown corpus"),
    (["doctor", "-c", "csv", "-r", "missing.csv"], 2, "not found"),
]


def test_bad_invocations_exit_2_with_one_line_and_no_traceback():
    import h5py

    write_manifest(make_wav_corpus("wavs", n_speakers=1, per_class=1), "m.csv")
    nan = np.ones((4, 3))
    nan[1, 1] = np.nan
    np.save("nan.npy", nan)
    np.save("str.npy", np.array([["a"] * 3] * 4))
    make_feature_store("gone.zarr", chunk_rows=64).close()
    (Path("gone.zarr") / "audio" / "c" / "0" / "0").unlink()
    make_feature_store("flip.h5", chunk_rows=64).close()
    with h5py.File("flip.h5", "r") as f:
        info = f["text"].id.get_chunk_info(0)
    with open("flip.h5", "r+b") as fh:
        fh.seek(info.byte_offset + 4)
        fh.write(b"\xff\xfe\xfd\xfc")
    for args, code, needle in BAD:
        res = _run(*args)
        errors = [ln for ln in res.output.splitlines() if ln.startswith("error:")]
        assert res.exit_code == code, (args, res.output)
        assert len(errors) == 1 and needle in errors[0], (args, res.output)
        assert "Traceback" not in res.output and isinstance(res.exception, (SystemExit, type(None))), args
