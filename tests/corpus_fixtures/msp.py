"""MSP-IMPROV and MSP-Podcast fixtures."""

from __future__ import annotations

from pathlib import Path

from corpus_fixtures.files import APPLEDOUBLE, SENTENCES, garbage, tone, truncated, write, zero_length


def _improv_clips(n: int) -> list[tuple[str, str, str, str, str]]:
    """(sentence+target, speaker, condition, turn, consensus code) of session n."""
    clips = [
        ("S01A", f"F0{n}", "S", "FM01", "A"),
        ("S01H", f"M0{n}", "S", "MF01", "H"),
        ("S02S", f"F0{n}", "R", "FM01", "S"),
        ("S02N", f"M0{n}", "P", "MF02", "H" if n == 6 else "N"),  # consensus differs from the target in session 6
    ]
    if n == 1:
        clips.append(("S03A", "F01", "T", "FM01", "O"))
    if n == 2:
        clips.append(("S03H", "M02", "P", "MF03", "X"))
    return clips


def make_msp_improv(root: str | Path, *, spelling: str = "Evaluation.txt", broken: bool = False) -> dict:
    """sessionN/S01A/S/MSP-IMPROV-S01A-F01-S-FM01.wav at 48 kHz, labels in Evaluation.txt (or Evalution.txt)."""
    root = Path(root)
    lines: list[str] = []
    planted: list[tuple[str, int | None]] = []
    label_file = root / spelling
    for n in range(1, 7):
        clips = _improv_clips(n)
        if broken and n == 4:
            clips += [
                ("S04A", "F04", "S", "FM01", "A"),
                ("S04S", "M04", "R", "MF01", "S"),
                ("S04H", "F04", "T", "FM02", "H"),
                ("S04N", "M04", "S", "MF03", "N"),
                ("S05A", "M04", "S", "MF04", "A"),
            ]
        for i, (st, spk, cond, turn, code) in enumerate(clips):
            name = f"IMPROV-{st}-{spk}-{cond}-{turn}"
            nat = "NaN" if n == 3 and i == 0 else "3.250000"
            if broken and st == "S04N":
                planted.append((str(label_file), len(lines) + 1))
                lines.append(f"UTD-{name}.avi; {code}; A:3.000000")
            else:
                if broken and st == "S05A":
                    planted.append((str(label_file), len(lines) + 1))
                lines.append(f"UTD-{name}.avi; {code}; A:3.000000; V:3.500000; D:3.000000 ; N:{nat};")
            lines.append("rater-p001; Neutral; Neutral,Concerned; A:3.000000; V:3.000000; D:3.000000; N:3.000000;")
            lines.append("rater-p002; Happy; ; A:4.000000; V:4.000000; D:3.000000; N:4.000000;")
            lines.append("")
            wav = root / f"session{n}" / st / cond / f"MSP-{name}.wav"
            if broken and st == "S04A":
                planted.append((str(garbage(wav)), None))
            elif broken and st == "S04S":
                planted.append((str(zero_length(wav)), None))
            elif broken and st == "S04H":
                planted.append((str(truncated(wav, 48000)), None))
            elif st != "S05A":
                tone(wav, sr=48000, seconds=0.25, freq=200 + 20 * i, seed=n * 10 + i)
    write(label_file, "\n".join(lines) + "\n")
    write(root / "session1" / "S01A" / "S" / "._MSP-IMPROV-S01A-F01-S-FM01.wav", APPLEDOUBLE)
    speakers = {f"{g}0{n}": 2 for n in range(1, 7) for g in "FM"}
    exp = {
        "root": root,
        "label_file": label_file,
        "n": 24,
        "classes": {"neutral": 5, "happy": 7, "sad": 6, "angry": 6},
        "speakers": speakers,
        "sessions": {f"session{n}": 4 for n in range(1, 7)},
        "n_all": 25,
        "classes_all": {"neutral": 5, "happy": 7, "sad": 6, "angry": 6, "other": 1},
        "nan_utt": "MSP-IMPROV-S01A-F03-S-FM01",
        "relabelled_utt": "MSP-IMPROV-S02N-M06-P-MF02",
        "planted": planted,
    }
    if broken:
        exp.update(
            n=27,
            classes={"neutral": 5, "happy": 8, "sad": 7, "angry": 7},
            speakers={**speakers, "F04": 4, "M04": 3},
            sessions={**exp["sessions"], "session4": 7},
        )
    return exp


PODCAST_ROWS = [  # (stem, code, SpkrID, Gender, split kind)
    ("MSP-PODCAST_0001_0001", "N", "1", "Male", "Train"),
    ("MSP-PODCAST_0001_0002", "H", "1", "Male", "Train"),
    ("MSP-PODCAST_0001_0003", "S", "2", "Female", "Train"),
    ("MSP-PODCAST_0001_0004", "A", "2", "Female", "Train"),
    ("MSP-PODCAST_0002_0001", "X", "3", "Female", "Train"),
    ("MSP-PODCAST_0002_0002", "O", "3", "Female", "Train"),
    ("MSP-PODCAST_0002_0003", "N", "4", "Male", "DEV"),
    ("MSP-PODCAST_0002_0004", "A", "4", "Male", "DEV"),
    ("MSP-PODCAST_0003_0001", "H", "5", "Female", "Test1"),
    ("MSP-PODCAST_0003_0002", "S", "5", "Female", "Test1"),
    ("MSP-PODCAST_0003_0003_0001", "N", "Unknown", "Unknown", "Test2"),
    ("MSP-PODCAST_0003_0004", "U", "6", "Male", "Test2"),
    ("MSP-PODCAST_0003_0005", "H", "Unknown", "Unknown", "Test2"),
]
PODCAST_BROKEN = [
    ("MSP-PODCAST_0004_0001", "N", "7", "Male", "Train"),  # garbage audio
    ("MSP-PODCAST_0004_0002", "H", "7", "Male", "Train"),  # zero-length audio
    ("MSP-PODCAST_0004_0003", "S", "7", "Male", "Train"),  # truncated audio
    ("MSP-PODCAST_0004_0004", "A", "7", "Male", "Train"),  # malformed label line
    ("MSP-PODCAST_0004_0005", "A", "7", "Male", "Train"),  # no audio file
]
PODCAST_NO_TRANSCRIPT = "MSP-PODCAST_0003_0002"
# release -> (label folder, file name, name of the dev split, partition file)
PODCAST_VERSIONS = {
    "1.12": ("Labels", "labels_consensus.csv", "Development", "Partition.txt"),
    "1.11": ("Labels", "labels_consensus.csv", "Development", "Partitions.txt"),
    "1.9": ("labels", "labels_concensus.csv", "Validation", "Partitions.txt"),
    "1.6": ("label", "labels_concensus.csv", "Validation", "Partitions.txt"),
}


def make_msp_podcast(root: str | Path, *, version: str = "1.12", broken: bool = False) -> dict:
    """Audios/, <label dir>/labels_c?nsensus.csv, Transcripts/, Partition(s).txt, Speaker_ids.txt."""
    root = Path(root)
    label_dir, label_name, dev, part_name = PODCAST_VERSIONS[version]
    label_file = root / label_dir / label_name
    rows = PODCAST_ROWS + (PODCAST_BROKEN if broken else [])
    lines = ["FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set"]
    planted: list[tuple[str, int | None]] = []
    texts = {}
    for i, (stem, code, spk, gender, split) in enumerate(rows):
        split = dev if split == "DEV" else split
        if stem.endswith("0004_0004"):
            planted.append((str(label_file), len(lines) + 1))
            lines.append(f"{stem}.wav,{code},3.0")
        else:
            if stem.endswith("0004_0005"):
                planted.append((str(label_file), len(lines) + 1))
            lines.append(f"{stem}.wav,{code},3.777778,3.555556,3.777778,{spk},{gender},{split}")
        wav = root / "Audios" / f"{stem}.wav"
        if stem.endswith("0004_0001"):
            planted.append((str(garbage(wav)), None))
        elif stem.endswith("0004_0002"):
            planted.append((str(zero_length(wav)), None))
        elif stem.endswith("0004_0003"):
            planted.append((str(truncated(wav)), None))
        elif not stem.endswith("0004_0005"):
            tone(wav, freq=180 + 15 * i, seed=100 + i)
        if stem != PODCAST_NO_TRANSCRIPT:
            texts[stem] = SENTENCES[i % len(SENTENCES)]
            write(root / "Transcripts" / f"{stem}.txt", f"  {texts[stem]}\n")
    write(label_file, "\n".join(lines) + "\n")
    tone(root / "Audios" / "MSP-PODCAST_test3_0001.wav", seed=99)  # hidden test set: audio without labels
    write(root / "Audios" / "._MSP-PODCAST_0001_0001.wav", APPLEDOUBLE)
    write(
        root / part_name,
        "".join(f"{dev if s == 'DEV' else s}; {stem}.wav\n" for stem, _, _, _, s in rows),
    )
    genders = {spk: g for _, _, spk, g, _ in rows if spk != "Unknown"}
    table = "".join(
        f"Speaker_{spk};{'  ' if int(spk) % 2 else ' '}{g}{' ' * (int(spk) % 3)}\n" for spk, g in genders.items()
    )
    files = "".join(f"{stem}.wav;{spk}\n" for stem, _, spk, _, _ in rows if spk != "Unknown")
    write(root / "Speaker_ids.txt", table + files)
    write(root / "readme.txt", f"MSP-Podcast fixture, release {version}\n")
    old = root / "Previous_releases_information/previous_releases_info/v1.5/Labels/labels_concensus.csv"
    write(old, "FileName,EmoClass\nMSP-PODCAST_9999_9999.wav,A\n")
    exp = {
        "root": root,
        "label_file": label_file,
        "n": 10,
        "classes": {"neutral": 3, "happy": 3, "sad": 2, "angry": 2},
        "speakers": {
            "1": 2,
            "2": 2,
            "4": 2,
            "5": 2,
            "Unknown-MSP-PODCAST_0003_0003_0001": 1,
            "Unknown-MSP-PODCAST_0003_0005": 1,
        },
        "splits": {"train": 4, "dev": 2, "test1": 2, "test2": 2},
        "n_all": 12,
        "classes_all": {"neutral": 3, "happy": 3, "sad": 2, "angry": 2, "other": 1, "surprised": 1},
        "texts": texts,
        "no_transcript": PODCAST_NO_TRANSCRIPT,
        "planted": planted,
    }
    if broken:
        exp.update(
            n=13,
            classes={"neutral": 4, "happy": 4, "sad": 3, "angry": 2},
            speakers={**exp["speakers"], "7": 3},
            splits={**exp["splits"], "train": 7},
        )
    return exp
