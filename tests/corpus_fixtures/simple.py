"""RAVDESS and csv-table fixtures."""

from __future__ import annotations

from pathlib import Path

from corpus_fixtures.files import APPLEDOUBLE, garbage, tone, truncated, write, zero_length

RAVDESS_FILES = [  # (emotion, intensity, statement, repetition) per actor
    ("01", "01", "01", "01"),
    ("01", "01", "02", "01"),
    ("02", "01", "01", "01"),
    ("03", "01", "01", "01"),
    ("03", "02", "01", "01"),
    ("04", "01", "01", "01"),
    ("05", "02", "02", "01"),
    ("06", "01", "01", "01"),
    ("07", "01", "01", "01"),
    ("08", "01", "02", "01"),
]


def make_ravdess(root: str | Path, *, nested: bool = False, broken: bool = False) -> dict:
    """Actor_01..Actor_04 with MM-VC-EE-II-SS-RR-AA.wav names (16 kHz, like the shared 4-class copy)."""
    root = Path(root)
    base = root / "Audio_Speech_Actors_01-24" if nested else root
    for a in range(1, 5):
        folder = base / f"Actor_{a:02d}"
        for j, (emo, inten, stmt, rep) in enumerate(RAVDESS_FILES):
            tone(folder / f"03-01-{emo}-{inten}-{stmt}-{rep}-{a:02d}.wav", freq=150 + 25 * j, seed=a * 20 + j)
    tone(base / "Actor_01" / "03-02-03-01-01-01-01.wav")  # song: skipped by default
    write(base / "Actor_01" / "._03-01-01-01-01-01-01.wav", APPLEDOUBLE)
    write(base / "Actor_01" / ".DS_Store", b"\x00\x00\x00\x01Bud1")
    planted: list[tuple[str, int | None]] = []
    if broken:
        a2 = base / "Actor_02"
        planted = [
            (str(garbage(a2 / "03-01-05-01-01-02-02.wav")), None),
            (str(zero_length(a2 / "03-01-04-02-01-02-02.wav")), None),
            (str(truncated(a2 / "03-01-03-01-02-02-02.wav")), None),
            (str(tone(a2 / "03-01-09-01-01-01-02.wav")), None),  # emotion 09 does not exist
        ]
        tone(a2 / "notes.wav")  # not a RAVDESS name: a warning only
    exp = {
        "root": root,
        "n": 24,
        "classes": {"neutral": 8, "happy": 8, "sad": 4, "angry": 4},
        "speakers": {f"Actor_{a:02d}": 6 for a in range(1, 5)},
        "genders": {"Actor_01": "M", "Actor_02": "F", "Actor_03": "M", "Actor_04": "F"},
        "n_all": 40,
        "classes_all": {
            "neutral": 8,
            "calm": 4,
            "happy": 8,
            "sad": 4,
            "angry": 4,
            "fearful": 4,
            "disgusted": 4,
            "surprised": 4,
        },
        "texts": {
            "03-01-01-01-01-01-01": "Kids are talking by the door",
            "03-01-01-01-02-01-03": "Dogs are sitting by the door",
            "03-01-05-02-02-01-04": "Dogs are sitting by the door",
        },
        "planted": planted,
    }
    if broken:
        exp.update(
            n=27,
            classes={"neutral": 8, "happy": 9, "sad": 5, "angry": 5},
            speakers={**exp["speakers"], "Actor_02": 9},
        )
    return exp


CSV_ROWS = [  # path, label, speaker, text, session, split
    ("audio/spkA/a1.wav", "neutral", "spkA", "hello there", "s1", "train"),
    ("audio/spkA/a2.wav", "Happy", "spkA", "what a day", "s1", "train"),
    ("audio/spkA/a3.wav", "anger", "spkA", "stop it, now", "s1", "train"),
    ("audio/spkB/b1.wav", "sad", "spkB", "oh no", "s1", "train"),
    ("audio/spkB/b2.wav", "neutral", "spkB", "", "s2", "dev"),
    ("audio/spkB/b3.wav", "fear", "spkB", "who is there", "s2", "dev"),
    ("audio/spkC/c1.wav", "angry", "spkC", "go away", "s2", "test"),
    ("audio/spkC/c2.wav", "happy", "spkC", "great", "s2", "test"),
    ("audio/spkC/a1.wav", "sad", "spkC", "i miss her", "s2", "test"),
]


def make_csv(root: str | Path, *, broken: bool = False) -> dict:
    """root/table.csv (path,label,speaker,text,session,split,note) with audio under root/audio/."""
    root = Path(root)
    table = root / "table.csv"
    lines = ["path,label,speaker,text,session,split,note"]
    for i, (path, label, spk, text, sess, split) in enumerate(CSV_ROWS):
        tone(root / path, freq=200 + 30 * i, seed=200 + i)
        lines.append(f'{path},{label},{spk},"{text}",{sess},{split},n{i}')
    planted: list[tuple[str, int | None]] = []
    if broken:
        planted.append((str(garbage(root / "audio/spkD/d1.wav")), None))
        planted.append((str(zero_length(root / "audio/spkD/d2.wav")), None))
        planted.append((str(truncated(root / "audio/spkD/d3.wav")), None))
        tone(root / "audio/spkD/d4.wav")
        lines += ["audio/spkD/d1.wav,neutral,spkD,x,s3,train,b1", "audio/spkD/d2.wav,happy,spkD,x,s3,train,b2"]
        lines += ["audio/spkD/d3.wav,sad,spkD,x,s3,train,b3"]
        planted.append((str(table), len(lines) + 1))
        lines.append("audio/spkD/missing.wav,angry,spkD,x,s3,train,b4")
        planted.append((str(table), len(lines) + 1))
        lines.append("audio/spkD/d4.wav,,spkD,x,s3,train,b5")
        planted.append((str(table), len(lines) + 1))
        lines.append("audio/spkD/d4.wav,angry")
    write(table, "\n".join(lines) + "\n")
    exp = {
        "root": root,
        "table": table,
        "n": 9,
        "classes": {"neutral": 2, "happy": 2, "sad": 2, "angry": 2, "fear": 1},
        "speakers": {"spkA": 3, "spkB": 3, "spkC": 3},
        "splits": {"train": 4, "dev": 2, "test": 3},
        "n_4": 8,
        "planted": planted,
    }
    if broken:
        exp.update(
            n=12,
            classes={"neutral": 3, "happy": 3, "sad": 3, "angry": 2, "fear": 1},
            speakers={**exp["speakers"], "spkD": 3},
            splits={**exp["splits"], "train": 7},
        )
    return exp
