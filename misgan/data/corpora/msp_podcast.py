"""MSP-Podcast (UT Dallas) -> manifest, for releases 1.x to 2.0.

Labels: `<label dir>/labels_consensus.csv` with header
`FileName,EmoClass,EmoAct,EmoVal,EmoDom,SpkrID,Gender,Split_Set`. The label folder is `label` (1.6),
`labels` (1.9) or `Labels` (others); up to 1.9 the file is spelled `labels_concensus`; the JSON twin is
read when no CSV is present. `Partition(s).txt` and `Speaker_ids.txt` fill splits and speakers a label
file lacks (and are cross-checked where both exist).

Speakers: `SpkrID` is an integer or `Unknown`. Unknown turns are kept, but each gets its own speaker id
`Unknown-<utt_id>` (and `speaker_known = False`), so no protocol can treat all of them as one person:
they never share a fold side by accident, and loso-speaker gives each its own fold.
Splits are normalised: Train -> train, Development/Validation -> dev, Test1/2/3 -> test1/2/3.
"""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

from misgan.data.corpora.common import (
    Problems,
    as_float,
    check_classes,
    descend,
    finish,
    keep_label,
    list_dirs,
    list_files,
    read_text_lines,
    require_dir,
)
from misgan.data.manifest import Manifest

LABEL_DIRS = ("Labels", "labels", "label")
LABEL_FILES = ("labels_consensus.csv", "labels_concensus.csv", "labels_consensus.json", "labels_concensus.json")
AUDIO_DIRS = ("Audios", "Audio", "audios", "audio")
CODES = {
    "N": "neutral",
    "H": "happy",
    "S": "sad",
    "A": "angry",
    "U": "surprised",
    "F": "fearful",
    "D": "disgusted",
    "C": "contempt",
    "O": "other",
    "X": None,  # no agreement: not a class
}
SPLITS = {
    "train": "train",
    "development": "dev",
    "validation": "dev",
    "test1": "test1",
    "test2": "test2",
    "test3": "test3",
    "test": "test",
}
GENDERS = {"male": "M", "female": "F"}
NAME_RE = re.compile(r"^MSP-PODCAST_(\d{4})_(\d{4})(?:_(\d{4}))?$|^MSP-PODCAST_test3_\d{4}$")


def _looks_like_root(folder: Path) -> bool:
    names = {d.name for d in list_dirs(folder)}
    return bool(names & set(AUDIO_DIRS)) or bool(names & set(LABEL_DIRS))


def find_label_file(root: Path) -> Path | None:
    for d in LABEL_DIRS:
        for f in LABEL_FILES:
            if (root / d / f).is_file():
                return root / d / f
    for f in LABEL_FILES:
        if (root / f).is_file():
            return root / f
    return None


def read(root: str | Path, problems: Problems, *, classes: str = "4") -> Manifest:
    classes = check_classes(classes)
    given = require_dir(root, "MSP-Podcast")
    base = descend(given, _looks_like_root) or given
    label_file = find_label_file(base)
    if label_file is None:
        problems.error(base, None, f"no labels_consensus.csv / labels_concensus.csv in {'/'.join(LABEL_DIRS)}")
        return finish([], problems, base)
    audio_dir = next((base / d for d in AUDIO_DIRS if (base / d).is_dir()), None)
    if audio_dir is None:
        problems.error(base, None, "no Audios/ folder")
        wavs: dict[str, Path] = {}
    else:
        wavs = {p.name: p for p in list_files(audio_dir, ".wav")}
    partitions = _read_partitions(base, problems)
    speaker_ids = _read_speaker_ids(base / "Speaker_ids.txt", problems)
    transcripts = next((base / d for d in ("Transcripts", "transcripts") if (base / d).is_dir()), None)
    if transcripts is None:
        problems.warning(base, None, "no Transcripts/ folder; texts left empty")
    # one listing instead of a stat per turn: the corpus has ~200k of them
    texts = {p.name: p for p in list_files(transcripts, ".txt")} if transcripts is not None else {}
    entries = _read_json(label_file, problems) if label_file.suffix == ".json" else _read_csv(label_file, problems)
    rows = []
    for e in entries:
        name, n = e["FileName"], e["_line"]
        code = e["EmoClass"]
        label = CODES[code]
        if not keep_label(label, classes):
            continue
        stem = name[:-4] if name.lower().endswith(".wav") else name
        if not NAME_RE.match(stem):
            problems.warning(label_file, n, f"unusual file name {name!r}")
        name = e["FileName"] = f"{stem}.wav"  # some tables drop the extension
        if name not in wavs:
            problems.error(label_file, n, f"{name}: audio file not found in {audio_dir or base / 'Audios'}")
            continue
        split = _split(e, partitions, label_file, problems)
        spk, gender = _speaker(e, speaker_ids, label_file, problems)
        text = ""
        if transcripts is not None:
            tfile = texts.get(f"{stem}.txt")
            if tfile is not None:
                text = " ".join(tfile.read_text(encoding="utf-8", errors="replace").split())
            else:
                problems.warning(transcripts / f"{stem}.txt", None, "transcript not found; text left empty")
        known = spk not in ("", "unknown")
        rows.append(
            {
                "utt_id": stem,
                "path": str(wavs[name]),
                "text": text,
                "label": label,
                "speaker": spk if known else f"Unknown-{stem}",
                "session": "",
                "gender": gender,
                "split": split,
                "code": code,
                "act": as_float(e.get("EmoAct", "")),
                "val": as_float(e.get("EmoVal", "")),
                "dom": as_float(e.get("EmoDom", "")),
                "speaker_known": known,
                "podcast": stem.split("_")[1] if stem.count("_") >= 2 else "",
                "_line": n,
                "_label_file": str(label_file),
            }
        )
    return finish(rows, problems, base)


def _split(e: dict, partitions: dict[str, str], label_file: Path, problems: Problems) -> str:
    raw = e.get("Split_Set", "").strip()
    other = partitions.get(e["FileName"], "")
    if raw and other and raw.lower() != other.lower():
        problems.warning(label_file, e["_line"], f"{e['FileName']}: Split_Set {raw} but Partitions says {other}")
    raw = raw or other
    if raw and raw.lower() not in SPLITS:
        problems.warning(label_file, e["_line"], f"unknown Split_Set {raw!r}; kept as is")
    return SPLITS.get(raw.lower(), raw.lower())


def _speaker(e: dict, speaker_ids: dict, label_file: Path, problems: Problems) -> tuple[str, str]:
    spk = e.get("SpkrID", "").strip()
    gender = e.get("Gender", "").strip()
    by_file, genders = speaker_ids
    other = by_file.get(e["FileName"], "")
    if spk and other and spk.lower() != "unknown" and spk != other:
        problems.warning(label_file, e["_line"], f"{e['FileName']}: SpkrID {spk} but Speaker_ids.txt says {other}")
    spk = spk or other
    gender = gender or genders.get(spk, "")
    return (spk.lower() if spk.lower() == "unknown" else spk), GENDERS.get(gender.lower(), "")


def _check_entry(e: dict, path: Path, n: int, problems: Problems) -> bool:
    if not e.get("FileName"):
        problems.error(path, n, "empty FileName")
        return False
    code = e.get("EmoClass", "").strip()
    if not code:
        # unlabelled turns (e.g. hidden test sets) are not usable for supervised training
        problems.warning(path, n, f"{e['FileName']}: no EmoClass; skipped")
        return False
    if code not in CODES:
        problems.error(path, n, f"{e['FileName']}: unknown EmoClass {code!r}")
        return False
    e["EmoClass"] = code
    return True


def _read_csv(path: Path, problems: Problems) -> list[dict]:
    lines = read_text_lines(path, problems)
    if not lines:
        problems.error(path, None, "empty label file")
        return []
    header = [h.strip() for h in next(csv.reader([lines[0]]))]
    if "FileName" not in header or "EmoClass" not in header:
        problems.error(path, 1, f"header lacks FileName/EmoClass (found {', '.join(header)})")
        return []
    out = []
    for n, fields in enumerate(csv.reader(lines[1:]), start=2):
        if not fields or not "".join(fields).strip():
            continue
        if len(fields) != len(header):
            problems.error(
                path, n, f"expected {len(header)} fields, found {len(fields)}: {','.join(fields)[:80]!r}"
            )
            continue
        e = {h: f.strip() for h, f in zip(header, fields, strict=True)}
        e["_line"] = n
        if _check_entry(e, path, n, problems):
            out.append(e)
    return out


def _read_json(path: Path, problems: Problems) -> list[dict]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        problems.error(path, getattr(exc, "lineno", None), f"not readable JSON ({exc})")
        return []
    if not isinstance(data, dict):
        problems.error(path, None, "expected an object keyed by FileName")
        return []
    out = []
    for name, rec in data.items():
        if not isinstance(rec, dict):
            problems.error(path, None, f"{name}: entry is not an object")
            continue
        e = {k: str(v).strip() for k, v in rec.items()}
        e["FileName"], e["_line"] = name, None
        if _check_entry(e, path, None, problems):  # type: ignore[arg-type]
            out.append(e)
    return out


def _read_partitions(base: Path, problems: Problems) -> dict[str, str]:
    """`<Split>; <FileName>` per line (Partitions.txt in old releases, Partition.txt in 1.12)."""
    path = next((base / n for n in ("Partition.txt", "Partitions.txt") if (base / n).is_file()), None)
    if path is None:
        return {}
    out = {}
    for n, line in enumerate(read_text_lines(path, problems) or [], start=1):
        if not line.strip():
            continue
        split, sep, name = line.partition(";")
        if not sep or not name.strip():
            problems.warning(path, n, f"expected '<Split>; <FileName>': {line[:60]!r}")
            continue
        out[name.strip()] = split.strip()
    return out


def _read_speaker_ids(path: Path, problems: Problems) -> tuple[dict[str, str], dict[str, str]]:
    """Both sections of Speaker_ids.txt: (file name -> speaker, speaker -> gender); fields are trimmed."""
    by_file: dict[str, str] = {}
    genders: dict[str, str] = {}
    if not path.is_file():
        return by_file, genders
    for n, line in enumerate(read_text_lines(path, problems) or [], start=1):
        if not line.strip():
            continue
        left, sep, right = (f.strip() for f in line.partition(";"))
        if not sep:
            problems.warning(path, n, f"expected two ';'-separated fields: {line[:60]!r}")
        elif left.startswith("Speaker_"):
            genders[left.removeprefix("Speaker_")] = right
        elif left.lower().endswith(".wav"):
            by_file[left] = right
        else:
            problems.warning(path, n, f"unrecognised line: {line[:60]!r}")
    return by_file, genders
