"""IEMOCAP_full_release fixture."""

from __future__ import annotations

from pathlib import Path

from corpus_fixtures.files import APPLEDOUBLE, SENTENCES, garbage, tone, truncated, write, zero_length

_IEMO_BASE = [("F000", "neu"), ("M000", "ang"), ("F001", "hap"), ("M001", "sad"), ("F002", "exc"), ("M002", "fru")]
IEMOCAP_DIALOGS = {
    1: [("Ses01F_impro01", [*_IEMO_BASE, ("F003", "xxx")])],
    2: [("Ses02M_impro01", _IEMO_BASE)],
    3: [("Ses03F_impro01", _IEMO_BASE), ("Ses03M_impro05a", [("F000", "neu"), ("M000", "hap")])],
    4: [("Ses04M_impro01", [*_IEMO_BASE, ("F003", "sur")])],
    5: [("Ses05F_impro01", _IEMO_BASE), ("Ses05M_script01_1b", [("F000", "sad"), ("M000", "ang")])],
}
IEMOCAP_NO_TRANSCRIPT = "Ses04M_impro01_M001"


def make_iemocap(root: str | Path, *, nested: bool = False, broken: bool = False) -> dict:
    """IEMOCAP_full_release layout with impro05a, script01_1b, decoy sub-folders, AppleDouble files,
    an untimed `M: ...` transcript line and one utterance without transcript."""
    root = Path(root)
    base = root / "IEMOCAP_full_release" / "IEMOCAP_full_release" if nested else root
    write(base / "README.txt", "IEMOCAP fixture\n")
    (base / "Documentation").mkdir(parents=True, exist_ok=True)
    texts: dict[str, str] = {}
    planted: list[tuple[str, int | None]] = []
    k = 0
    for s, dialogs in IEMOCAP_DIALOGS.items():
        sdir = base / f"Session{s}"
        for dialog, utts in dialogs:
            utts = list(utts)
            extra_bad: list[tuple[str, str, str]] = []
            if broken and s == 2:
                utts += [("F003", "ang"), ("M003", "neu"), ("F004", "sad")]
                extra_bad = [("M004", "sad", "malformed"), ("F005", "hap", "nowav")]
            label_lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
            tr_lines = []
            for i, (turn, code) in enumerate(utts + [(t, c) for t, c, _ in extra_bad]):
                utt = f"{dialog}_{turn}"
                start, end = 2.0 * i + 0.2901, 2.0 * i + 1.8357
                kind = next((b for t, _, b in extra_bad if t == turn), None)
                if kind == "malformed":
                    planted.append((str(sdir / "dialog/EmoEvaluation" / f"{dialog}.txt"), len(label_lines) + 1))
                    label_lines.append(f"[{start:.4f} - {end:.4f}]\t{utt}\t{code}")
                else:
                    if kind == "nowav":
                        planted.append(
                            (str(sdir / "dialog/EmoEvaluation" / f"{dialog}.txt"), len(label_lines) + 1)
                        )
                    label_lines.append(f"[{start:.4f} - {end:.4f}]\t{utt}\t{code}\t[2.5000, 3.0000, 2.0000]")
                label_lines += ["C-E1:\tNeutral;\t()", "C-E2:\tAnger; Frustration;\t(tense)"]
                label_lines += ["A-E3:\tval 3; act 2; dom  2;\t()", ""]
                text = SENTENCES[k % len(SENTENCES)]
                k += 1
                if utt != IEMOCAP_NO_TRANSCRIPT:
                    tr_lines.append(f"{utt} [{start:07.4f}-{end:07.4f}]: {text}")
                    texts[utt] = text
                if i == 1 and s == 1:
                    tr_lines.append("M: Hold on, hold on.")  # untimed line: must be skipped
                    # a transcribed turn that was never labelled: skipped without a warning
                    tr_lines.append(f"{dialog}_MXX0 [003.0000-003.5000]: [LAUGHTER], That's what they say.")
                wav = sdir / "sentences/wav" / dialog / f"{utt}.wav"
                if broken and turn == "F003" and s == 2:
                    planted.append((str(garbage(wav)), None))
                elif broken and turn == "M003" and s == 2:
                    planted.append((str(zero_length(wav)), None))
                elif broken and turn == "F004" and s == 2:
                    planted.append((str(truncated(wav)), None))
                elif kind != "nowav":
                    tone(wav, freq=150 + 10 * i, seed=k)
            write(sdir / "dialog/EmoEvaluation" / f"{dialog}.txt", "\n".join(label_lines) + "\n")
            write(sdir / "dialog/transcriptions" / f"{dialog}.txt", "\n".join(tr_lines) + "\n")
            # per-annotator files in other formats, and one that mimics a dialog label file: all must be ignored
            ev = sdir / "dialog/EmoEvaluation"
            write(ev / "Categorical" / f"{dialog}_e1_cat.txt", f"{dialog}_F000 :Anger; ()\n")
            write(ev / "Attribute" / f"{dialog}_e2_atr.txt", f"{dialog}_F000 :act 2; val 3; dom  2; ()\n")
            write(ev / "Self-evaluation" / f"{dialog}_f1.anvil", "<annotation/>\n")
            write(
                ev / "Categorical" / f"{dialog}.txt", f"[0.1000 - 0.9000]\t{dialog}_F000\tang\t[1.0, 4.0, 4.0]\n"
            )
            write(ev / f"._{dialog}.txt", APPLEDOUBLE)
            write(sdir / "dialog/transcriptions" / f"._{dialog}.txt", APPLEDOUBLE)
            write(sdir / "sentences/wav" / dialog / f"._{dialog}_F000.wav", APPLEDOUBLE)
        write(sdir / "sentences/wav/.DS_Store", b"\x00\x00\x00\x01Bud1")
    exp = {
        "root": root,
        "base": base,
        "n": 29,
        "classes": {"neutral": 6, "happy": 11, "sad": 6, "angry": 6},
        "speakers": {
            "Ses01F": 3,
            "Ses01M": 2,
            "Ses02F": 3,
            "Ses02M": 2,
            "Ses03F": 4,
            "Ses03M": 3,
            "Ses04F": 3,
            "Ses04M": 2,
            "Ses05F": 4,
            "Ses05M": 3,
        },
        "sessions": {"Ses01": 5, "Ses02": 5, "Ses03": 7, "Ses04": 5, "Ses05": 7},
        "n_all": 35,
        "classes_all": {"neutral": 6, "happy": 11, "sad": 6, "angry": 6, "frustrated": 5, "surprised": 1},
        "classes_keep_exc_4": {"neutral": 6, "happy": 6, "sad": 6, "angry": 6},
        "classes_keep_exc_all": {
            "neutral": 6,
            "happy": 6,
            "excited": 5,
            "sad": 6,
            "angry": 6,
            "frustrated": 5,
            "surprised": 1,
        },
        "texts": texts,
        "no_transcript": IEMOCAP_NO_TRANSCRIPT,
        "planted": planted,
    }
    if broken:
        exp.update(
            n=32,
            classes={"neutral": 7, "happy": 11, "sad": 7, "angry": 7},
            speakers={**exp["speakers"], "Ses02F": 5, "Ses02M": 3},
            sessions={**exp["sessions"], "Ses02": 8},
        )
    return exp
