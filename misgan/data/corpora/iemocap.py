"""IEMOCAP (USC `IEMOCAP_full_release`) -> manifest.

Labels come from the one consensus file per dialog, `SessionN/dialog/EmoEvaluation/<dialog>.txt`
(top level only: the `Categorical/`, `Attribute/` and `Self-evaluation/` sub-folders hold
per-annotator files in other formats). Speaker = session + the gender letter of the utterance id's
LAST `_` token: the dialog prefix (`Ses01F`) names the actor wearing the MoCap markers, not the
speaker, and fixed character offsets break on `impro05a` / `script01_1b`.
"""

from __future__ import annotations

import re
from pathlib import Path

from misgan.data.corpora.common import (
    Problems,
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

DIALOG_RE = re.compile(r"^Ses(0[1-5])([FM])_(impro\d{2}[ab]?|script\d{2}_\d[ab]?)$")
UTT_RE = re.compile(r"^(Ses(0[1-5])([FM])_(?:impro\d{2}[ab]?|script\d{2}_\d[ab]?))_([FM])(\d{3})$")
# summary line: [START - END] <TAB> UTT <TAB> code <TAB> [V, A, D]
SUMMARY_RE = re.compile(
    r"^\[(\d+\.\d+)\s*-\s*(\d+\.\d+)\]\s+(\S+)\s+(\w+)\s+\[\s*([\d.]+)\s*,\s*([\d.]+)\s*,\s*([\d.]+)\s*\]\s*$"
)
EVALUATOR_RE = re.compile(r"^[CA]-[A-Z]+\d*:")
TRANSCRIPT_RE = re.compile(r"^(\S+)\s+\[(\d+\.\d+)-(\d+\.\d+)\]:\s*(.*)$")
# lines of a transcript without id and times, e.g. `M: hm.` or `F: [LAUGHTER]`
UNTIMED_RE = re.compile(r"^[MF]\s*:")
# turns transcribed but never labelled carry `XX` ids, e.g. `Ses03F_impro05_MXX0`
UNLABELLED_TURN_RE = re.compile(r"^Ses0[1-5][FM]_\S+_[FM]XX\d+$")

CODES = {
    "neu": "neutral",
    "hap": "happy",
    "exc": "happy",  # the standard protocol merges excited into happy
    "sad": "sad",
    "ang": "angry",
    "fru": "frustrated",
    "sur": "surprised",
    "fea": "fearful",
    "dis": "disgusted",
    "oth": "other",
    "xxx": None,  # no majority: not a class
}


def _has_sessions(folder: Path) -> bool:
    return any(re.fullmatch(r"Session[1-5]", d.name) for d in list_dirs(folder))


def find_root(root: str | Path) -> Path | None:
    """The folder holding Session1..5 (the release is often nested twice)."""
    return descend(require_dir(root, "IEMOCAP"), _has_sessions, names=("IEMOCAP_full_release",))


def read(root: str | Path, problems: Problems, *, classes: str = "4", keep_exc: bool = False) -> Manifest:
    classes = check_classes(classes)
    given = require_dir(root, "IEMOCAP")
    base = find_root(given)
    if base is None:
        problems.error(given, None, "no Session1..Session5 folders found (expected IEMOCAP_full_release layout)")
        return finish([], problems, given)
    sessions = [d for d in list_dirs(base) if re.fullmatch(r"Session[1-5]", d.name)]
    missing = sorted({f"Session{i}" for i in range(1, 6)} - {d.name for d in sessions})
    if missing:
        problems.warning(base, None, f"missing session folder(s): {', '.join(missing)}")
    rows: list[dict] = []
    for sdir in sessions:
        rows.extend(_read_session(sdir, problems, classes, keep_exc))
    return finish(rows, problems, base)


def _read_session(sdir: Path, problems: Problems, classes: str, keep_exc: bool) -> list[dict]:
    label_dir = sdir / "dialog" / "EmoEvaluation"
    wav_root = sdir / "sentences" / "wav"
    if not label_dir.is_dir():
        problems.error(label_dir, None, "label folder not found")
        return []
    if not wav_root.is_dir():
        problems.error(wav_root, None, "utterance audio folder not found")
    wavs = {p.stem: p for d in list_dirs(wav_root) for p in list_files(d, ".wav")}
    labelled: set[str] = set()
    rows: list[dict] = []
    for label_file in list_files(label_dir, ".txt"):
        dialog = label_file.stem
        if not DIALOG_RE.match(dialog):
            problems.warning(label_file, None, "file name is not an IEMOCAP dialog id; skipped")
            continue
        entries = _parse_labels(label_file, dialog, problems)
        labelled.update(e["utt_id"] for e in entries)
        texts = _parse_transcript(sdir / "dialog" / "transcriptions" / f"{dialog}.txt", problems)
        for e in entries:
            code = e.pop("code")
            # with keep_exc, excited is its own class: kept under "all", dropped from the 4 classes
            label = CODES[code] if code != "exc" or not keep_exc else ("excited" if classes == "all" else None)
            if not keep_label(label, classes):
                continue
            utt = e["utt_id"]
            if utt not in wavs:
                problems.error(
                    label_file, e["_line"], f"{utt}: audio file not found ({wav_root / dialog / utt}.wav)"
                )
                continue
            if texts is not None and utt not in texts:
                problems.warning(label_file, e["_line"], f"{utt}: no transcript line")
            m = UTT_RE.match(utt)
            assert m is not None  # checked in _parse_labels
            session, gender = f"Ses{m.group(2)}", m.group(4)
            rows.append(
                {
                    "utt_id": utt,
                    "path": str(wavs[utt]),
                    "text": (texts or {}).get(utt, ""),
                    "label": label,
                    "speaker": f"{session}{gender}",
                    "session": session,
                    "gender": gender,
                    "split": "",
                    "dialog": dialog,
                    "method": "impro" if "impro" in dialog else "script",
                    "code": code,
                    **{k: v for k, v in e.items() if k != "utt_id"},
                }
            )
    for stem in sorted(set(wavs) - labelled):
        problems.warning(wavs[stem], None, "audio file has no entry in any EmoEvaluation file")
    return rows


def _parse_labels(path: Path, dialog: str, problems: Problems) -> list[dict]:
    lines = read_text_lines(path, problems)
    if lines is None:
        return []
    if not lines or not lines[0].startswith("%"):
        problems.warning(path, 1, "missing the '%' header line")
    out = []
    for n, line in enumerate(lines, start=1):
        s = line.strip()
        if not s or s.startswith("%") or EVALUATOR_RE.match(s):
            continue
        if not s.startswith("["):
            problems.warning(path, n, f"unrecognised line skipped: {s[:60]!r}")
            continue
        m = SUMMARY_RE.match(s)
        if not m:
            problems.error(
                path, n, f"malformed summary line (expected '[s - e]<TAB>utt<TAB>code<TAB>[v, a, d]'): {s[:80]!r}"
            )
            continue
        start, end, utt, code, v, a, d = m.groups()
        um = UTT_RE.match(utt)
        if not um:
            problems.error(path, n, f"malformed utterance id {utt!r}")
            continue
        if um.group(1) != dialog:
            problems.error(path, n, f"utterance {utt} does not belong to dialog {dialog}")
            continue
        code = code.lower()
        if code not in CODES:
            problems.error(path, n, f"{utt}: unknown emotion code {code!r}")
            continue
        out.append(
            {
                "utt_id": utt,
                "code": code,
                "start": float(start),
                "end": float(end),
                "val": float(v),
                "act": float(a),
                "dom": float(d),
                "_line": n,
                "_label_file": str(path),
            }
        )
    return out


def _parse_transcript(path: Path, problems: Problems) -> dict[str, str] | None:
    """utt id -> text; several lines of one id are joined with a space. None if the file is absent."""
    if not path.is_file():
        problems.warning(path, None, "transcript file not found; texts left empty")
        return None
    lines = read_text_lines(path, problems)
    if lines is None:
        return None
    texts: dict[str, str] = {}
    for n, line in enumerate(lines, start=1):
        s = line.strip()
        if not s or UNTIMED_RE.match(s):
            continue
        m = TRANSCRIPT_RE.match(s)
        if m and UNLABELLED_TURN_RE.match(m.group(1)):
            continue
        if not m or not UTT_RE.match(m.group(1)):
            problems.warning(path, n, f"unrecognised transcript line skipped: {s[:60]!r}")
            continue
        utt, text = m.group(1), m.group(4).strip()
        texts[utt] = f"{texts[utt]} {text}" if utt in texts else text
    return texts
