"""misgan doctor finds every planted defect (file and line) and passes clean corpora."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from corpus_fixtures import MAKERS, tone

from misgan.data.doctor import check_audio_file, run_doctor

RAVDESS_REAL = Path(__file__).resolve().parents[2] / "shared" / "data" / "ravdess-4class-16k"


def _loc(file: str, line: int | None) -> tuple[str, int | None]:
    return str(Path(file).resolve()), line


@pytest.mark.parametrize("corpus", list(MAKERS))
def test_doctor_clean_corpus_passes(tmp_path, corpus):
    exp = MAKERS[corpus](tmp_path / corpus)
    report = run_doctor(corpus, exp["root"])
    assert report.ok, [str(p) for p in report.errors]
    assert report.audio_checked == exp["n"]
    assert len(report.durations) == exp["n"]
    assert sum(report.channels.values()) == exp["n"]
    assert report.manifest["duration"].notna().all()


@pytest.mark.parametrize("corpus", list(MAKERS))
def test_doctor_finds_every_planted_problem(tmp_path, corpus):
    exp = MAKERS[corpus](tmp_path / corpus, broken=True)
    report = run_doctor(corpus, exp["root"])
    assert not report.ok
    found = {_loc(p.file, p.line) for p in report.errors}
    planted = {_loc(f, line) for f, line in exp["planted"]}
    assert found == planted
    assert report.audio_checked == exp["n"]
    # each broken audio file is still in the manifest, its duration unknown
    bad_audio = {f for f, line in planted if line is None}
    rows = report.manifest[report.manifest["path"].map(lambda p: str(Path(p).resolve())).isin(bad_audio)]
    assert rows["duration"].isna().all()


def test_audio_checks_warnings(tmp_path):
    stereo = tmp_path / "st.wav"
    sf.write(stereo, np.zeros((800, 2), dtype=np.float32) + 0.1, 16000)
    check = check_audio_file(str(stereo))
    assert [p.severity for p in check.problems] == ["warning", "warning"]  # very short + 2 channels
    assert "channels" in check.problems[1].message
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, dtype=np.float32), 16000)
    assert [p.message for p in check_audio_file(str(silent)).problems] == ["silent (every sample is zero)"]
    assert check_audio_file(str(tone(tmp_path / "ok.wav"))).problems == []


def test_mixed_sample_rates_are_warned(tmp_path):
    from corpus_fixtures import make_ravdess

    exp = make_ravdess(tmp_path / "r")
    odd = exp["root"] / "Actor_01" / "03-01-01-01-01-01-01.wav"
    tone(odd, sr=48000)
    report = run_doctor("ravdess", exp["root"])
    assert report.ok
    rates = [p for p in report.warnings if "sample rate" in p.message]
    assert [Path(p.file).name for p in rates] == [odd.name]
    assert report.sample_rates == {16000: exp["n"] - 1, 48000: 1}


@pytest.mark.skipif(not RAVDESS_REAL.is_dir(), reason="shared RAVDESS copy absent")
def test_doctor_real_ravdess_is_fast_and_clean():
    start = time.perf_counter()
    report = run_doctor("ravdess", RAVDESS_REAL)
    elapsed = time.perf_counter() - start
    assert report.ok and not report.problems
    assert report.audio_checked == 672
    assert report.sample_rates == {16000: 672}
    assert report.durations.sum() / 60 == pytest.approx(41.5, abs=0.1)
    assert elapsed < 30
