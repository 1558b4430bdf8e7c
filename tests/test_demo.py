"""The synthetic demo corpus (misgan.pipeline.synthetic): counts, layout, determinism, prosody as designed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from misgan.pipeline.synthetic import _CUES, _SHARED, PROSODY, generate_corpus, make_speakers, transcript


def f0_track(x: np.ndarray, sr: int, frame: float = 0.04, fmin: float = 60, fmax: float = 500) -> np.ndarray:
    """Autocorrelation pitch of the voiced frames (independent of the generator's own F0 contour)."""
    n = int(frame * sr)
    out = []
    rms_all = np.sqrt(np.mean(x**2))
    for start in range(0, len(x) - n, n // 2):
        seg = x[start : start + n] - x[start : start + n].mean()
        if np.sqrt(np.mean(seg**2)) < 0.5 * rms_all:
            continue  # pause or syllable edge
        ac = np.correlate(seg, seg, mode="full")[n - 1 :]
        lo, hi = int(sr / fmax), int(sr / fmin)
        lag = lo + int(np.argmax(ac[lo:hi]))
        if ac[lag] > 0.3 * ac[0]:
            out.append(sr / lag)
    return np.asarray(out)


def test_counts_layout_and_manifest(tmp_path):
    from misgan.data.corpora import load_corpus

    df = generate_corpus(tmp_path / "c", n_speakers=3, per_class=2, seed=1)
    assert len(df) == 3 * 4 * 2
    assert sorted(df["speaker"].unique()) == ["spk01", "spk02", "spk03"]
    assert df["label"].value_counts().to_dict() == {"neutral": 6, "happy": 6, "sad": 6, "angry": 6}
    assert df.groupby("speaker")["gender"].first().tolist() == ["F", "M", "F"]
    assert df["utt_id"].is_unique and (df["text"].str.len() > 0).all()
    for rel, dur in zip(df["path"], df["duration"], strict=True):
        info = sf.info(tmp_path / "c" / rel)
        assert info.samplerate == 16000 and info.channels == 1
        assert info.frames / 16000 == pytest.approx(dur)
    # the csv corpus reader (the layout `misgan run` uses) reads it back unchanged
    back = load_corpus("csv", tmp_path / "c" / "manifest.csv", classes="4")
    assert len(back) == len(df)
    assert sorted(back["label"]) == sorted(df["label"])


def test_deterministic_in_seed(tmp_path):
    a = generate_corpus(tmp_path / "a", n_speakers=2, per_class=1, seed=3)
    b = generate_corpus(tmp_path / "b", n_speakers=2, per_class=1, seed=3)
    c = generate_corpus(tmp_path / "c", n_speakers=2, per_class=1, seed=4)
    wav = a["path"].iloc[0]
    assert np.array_equal(sf.read(tmp_path / "a" / wav)[0], sf.read(tmp_path / "b" / wav)[0])
    assert not np.array_equal(sf.read(tmp_path / "a" / wav)[0], sf.read(tmp_path / "c" / wav)[0])
    assert a["text"].tolist() == b["text"].tolist()
    assert c["text"].tolist() != a["text"].tolist() or not np.allclose(a["duration"], c["duration"])


def test_speakers_differ_in_pitch_by_gender():
    spk = make_speakers(8, seed=0)
    female = [s.f0 for s in spk if s.gender == "F"]
    male = [s.f0 for s in spk if s.gender == "M"]
    assert len(female) == len(male) == 4 and min(female) > max(male)
    assert len({round(s.formant_scale, 3) for s in spk}) == 8


def test_prosody_differs_by_emotion_as_designed(tmp_path):
    df = generate_corpus(tmp_path / "c", n_speakers=2, per_class=5, seed=0)
    rows = []
    for rel, label, speaker in zip(df["path"], df["label"], df["speaker"], strict=True):
        x, sr = sf.read(tmp_path / "c" / rel)
        f0 = f0_track(x, sr)
        voiced = np.abs(x) > 0.02 * np.abs(x).max()
        rows.append(
            {
                "label": label,
                "speaker": speaker,
                "f0": np.median(f0),
                "f0_spread": np.std(12 * np.log2(f0 / np.median(f0))),  # semitones
                "energy_db": 10 * np.log10(np.mean(x[voiced] ** 2)),
            }
        )
    m = pd.DataFrame(rows)
    # per speaker, then averaged: removes the speakers' own pitch and loudness
    m["f0_rel"] = m["f0"] / m.groupby("speaker")["f0"].transform("mean")
    by = m.groupby("label")[["f0_rel", "f0_spread", "energy_db"]].mean()
    assert by.loc["sad", "f0_rel"] < by.loc["neutral", "f0_rel"] < by.loc["angry", "f0_rel"]
    assert by.loc["neutral", "f0_rel"] < by.loc["happy", "f0_rel"]
    assert by.loc["sad", "energy_db"] < by.loc["neutral", "energy_db"] < by.loc["angry", "energy_db"]
    assert by.loc["happy", "f0_spread"] > by.loc["neutral", "f0_spread"]
    # the designed table itself: angry fastest, sad slowest
    rates = {k: v.rate for k, v in PROSODY.items()}
    assert rates["sad"] < rates["neutral"] < rates["angry"]


def test_transcripts_lean_on_the_emotion_but_overlap():
    rng = np.random.default_rng(0)
    n = 2000
    own = other = shared = 0
    for _ in range(n):
        label = ["neutral", "happy", "sad", "angry"][int(rng.integers(4))]
        words = set(transcript(label, rng).split())
        if words & set(_CUES[label]):
            own += 1
        elif any(words & set(v) for k, v in _CUES.items() if k != label):
            other += 1
        else:
            assert words & set(_SHARED)
            shared += 1
    assert own / n == pytest.approx(0.55, abs=0.04)
    assert other / n == pytest.approx(0.15, abs=0.03)
    assert shared / n == pytest.approx(0.30, abs=0.04)
