"""`misgan manifest` and `misgan doctor` through typer's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
from corpus_fixtures import make_iemocap, make_msp_podcast, make_ravdess
from typer.testing import CliRunner

from misgan.cli import app
from misgan.data.manifest import read_manifest

RAVDESS_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess-4class-16k"
runner = CliRunner()


def test_manifest_default_path_and_counts(tmp_path):
    exp = make_iemocap(tmp_path / "iemocap", nested=True)
    res = runner.invoke(app, ["manifest", "--corpus", "iemocap", "--root", str(exp["root"])])
    assert res.exit_code == 0, res.output
    df = read_manifest(Path("manifests/iemocap.csv"))  # cwd is the test's tmp_path
    assert len(df) == exp["n"]
    assert "29 utterances, 10 speakers, 4 classes" in res.output
    assert "per class: neutral 6, happy 11, sad 6, angry 6" in res.output
    assert "Ses03F" in res.output


def test_manifest_options(tmp_path):
    exp = make_iemocap(tmp_path / "iemocap")
    out = tmp_path / "out" / "all.csv"
    args = ["manifest", "-c", "iemocap", "-r", str(exp["root"]), "-o", str(out), "--classes", "all", "--keep-exc"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    labels = read_manifest(out)["label"].value_counts().to_dict()
    assert labels == exp["classes_keep_exc_all"]
    assert not Path(str(out) + ".tmp").exists()


def test_manifest_strict_and_bad_input(tmp_path):
    exp = make_msp_podcast(tmp_path / "p", broken=True)
    res = runner.invoke(app, ["manifest", "-c", "msp-podcast", "-r", str(exp["root"]), "--strict"])
    assert res.exit_code == 1
    assert "labels_consensus.csv:18" in res.output
    assert not Path("manifests/msp-podcast.csv").exists()
    # 2 of 15 rows left out is past the default 5 %: exit 1, each row named with its reason
    res = runner.invoke(app, ["manifest", "-c", "msp-podcast", "-r", str(exp["root"])])
    assert res.exit_code == 1
    assert "rows: 15 in = 13 used + 2 left out (malformed line 1, missing 1)" in res.output
    assert "labels_consensus.csv:19: missing:" in res.output
    assert not Path("manifests/msp-podcast.csv").exists()
    res = runner.invoke(app, ["manifest", "-c", "msp-podcast", "-r", str(exp["root"]), "--max-dropped", "0.2"])
    assert res.exit_code == 0
    assert "2 error(s)" in res.output
    res = runner.invoke(app, ["manifest", "-c", "nope", "-r", str(tmp_path)])
    assert res.exit_code == 2 and "unknown corpus" in res.output
    res = runner.invoke(app, ["manifest", "-c", "ravdess", "-r", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "not found" in res.output


def test_doctor_exit_codes(tmp_path):
    clean = make_ravdess(tmp_path / "clean")
    res = runner.invoke(app, ["doctor", "-c", "ravdess", "-r", str(clean["root"])])
    assert res.exit_code == 0, res.output
    assert "utterances: 24  speakers: 4" in res.output and "OK" in res.output
    broken = make_ravdess(tmp_path / "broken", broken=True)
    res = runner.invoke(app, ["doctor", "-c", "ravdess", "-r", str(broken["root"])])
    assert res.exit_code == 1
    assert "problems: 4 error(s), 1 warning(s)" in res.output
    for f, _ in broken["planted"]:
        assert Path(f).name in res.output


@pytest.mark.skipif(not RAVDESS_REAL.is_dir(), reason="shared RAVDESS copy absent")
def test_cli_on_real_ravdess():
    res = runner.invoke(app, ["manifest", "-c", "ravdess", "-r", str(RAVDESS_REAL)])
    assert res.exit_code == 0
    assert "672 utterances, 24 speakers, 4 classes" in res.output
    assert "per class: neutral 96, happy 192, sad 192, angry 192" in res.output


def test_doctor_on_a_cache_checks_chunks_and_says_what_a_feature_only_cache_lacks(tmp_path):
    import numpy as np
    import pandas as pd
    from store_fixtures import make_feature_store

    rows = [{"utt_id": f"u{i}", "label": ["sad", "happy"][i % 2], "speaker": f"s{i % 3}"} for i in range(12)]
    pd.DataFrame(rows).to_csv("m.csv", index=False)
    np.save("a.npy", np.ones((12, 4), np.float32))
    assert runner.invoke(app, ["import", "-m", "m.csv", "--audio", "a.npy", "-o", "f.zarr"]).exit_code == 0
    res = runner.invoke(app, ["doctor", "--cache", "f.zarr"])
    assert res.exit_code == 0, res.output
    assert "rows: 12 in = 12 used + 0 left out" in res.output
    assert "feature-only cache" in res.output and "align --finetune" in res.output
    make_feature_store("s.zarr", chunk_rows=64).close()
    (Path("s.zarr") / "text" / "c" / "2" / "0").unlink()
    res = runner.invoke(app, ["doctor", "--cache", "s.zarr"])
    assert res.exit_code == 2 and "'text' lost its chunk 2 (rows 128-191)" in res.output
    assert "Traceback" not in res.output
