"""RAVDESS (Livingstone & Russo 2018) -> manifest; the labels live in the file names.

`MM-VC-EE-II-SS-RR-AA.wav`: modality (03 audio-only), vocal channel (01 speech, 02 song), emotion,
intensity (01 normal, 02 strong), statement, repetition, actor (odd = male, even = female).
Speaker = `Actor_NN`; the transcript is the statement text (the same two sentences for every emotion).
"""

from __future__ import annotations

import re
from pathlib import Path

from misgan.data.corpora.common import Problems, check_classes, finish, keep_label, require_dir, walk_files
from misgan.data.manifest import Manifest

NAME_RE = re.compile(r"^(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})-(\d{2})$")
EMOTIONS = {
    "01": "neutral",
    "02": "calm",
    "03": "happy",
    "04": "sad",
    "05": "angry",
    "06": "fearful",
    "07": "disgusted",
    "08": "surprised",
}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
INTENSITIES = {"01": "normal", "02": "strong"}
CHANNELS = {"01": "speech", "02": "song"}


def read(root: str | Path, problems: Problems, *, classes: str = "4", song: bool = False) -> Manifest:
    """All `*.wav` under `root` (any nesting: `Actor_01/`, `Audio_Speech_Actors_01-24/Actor_01/`)."""
    classes = check_classes(classes)
    root = require_dir(root, "RAVDESS")
    rows = []
    n_wavs = 0
    for path in walk_files(root, ".wav"):
        n_wavs += 1
        m = NAME_RE.match(path.stem)
        if not m:
            problems.warning(path, None, "not a RAVDESS file name (MM-VC-EE-II-SS-RR-AA.wav); skipped")
            continue
        modality, channel, emo, intensity, statement, rep, actor = m.groups()
        bad = [
            f"{what} {value!r}"
            for what, value, table in (
                ("vocal channel", channel, CHANNELS),
                ("emotion", emo, EMOTIONS),
                ("intensity", intensity, INTENSITIES),
                ("statement", statement, STATEMENTS),
            )
            if value not in table
        ]
        if modality not in ("01", "02", "03"):
            bad.append(f"modality {modality!r}")
        if not 1 <= int(actor) <= 24:
            bad.append(f"actor {actor!r}")
        if bad:
            problems.error(path, None, f"invalid field(s) in the file name: {', '.join(bad)}; skipped")
            continue
        if CHANNELS[channel] == "song" and not song:
            continue
        label = EMOTIONS[emo]
        if not keep_label(label, classes):
            continue
        speaker = f"Actor_{actor}"
        if re.fullmatch(r"Actor_\d{2}", path.parent.name) and path.parent.name != speaker:
            problems.warning(path, None, f"file of {speaker} stored in folder {path.parent.name}")
        rows.append(
            {
                "utt_id": path.stem,
                "path": str(path),
                "text": STATEMENTS[statement],
                "label": label,
                "speaker": speaker,
                "session": "",
                "gender": "M" if int(actor) % 2 else "F",
                "split": "",
                "intensity": INTENSITIES[intensity],
                "statement": statement,
                "repetition": int(rep),
                "vocal_channel": CHANNELS[channel],
            }
        )
    if n_wavs == 0:
        problems.error(root, None, "no .wav files found")
    return finish(rows, problems, root)
