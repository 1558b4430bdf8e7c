"""MSP-IMPROV (UT Dallas) -> manifest.

Labels: the consensus line of each block in `Evaluation.txt` (some copies spell it `Evalution.txt`),
e.g. `UTD-IMPROV-S01A-F01-S-FM01.avi; N; A:3.0; V:3.5; D:3.0 ; N:3.25;`. The label file names the
clip `UTD-...avi`; the audio is `MSP-...wav`, found anywhere under the root. Speaker = the `F01`
field (gender letter + session number), 12 speakers over 6 sessions. The corpus ships no transcripts.
"""

from __future__ import annotations

import re
from pathlib import Path

from misgan.data.corpora.common import (
    Problems,
    as_float,
    check_classes,
    finish,
    keep_label,
    list_dirs,
    list_files,
    read_text_lines,
    require_dir,
    walk_files,
)
from misgan.data.manifest import Manifest

LABEL_FILE_NAMES = ("evaluation.txt", "evalution.txt")
_NUM = r"(\d+(?:\.\d+)?|NaN|nan)"
CONSENSUS_RE = re.compile(
    rf"^UTD-IMPROV-([A-Z0-9-]+)\.avi\s*;\s*([A-Z])\s*;\s*A:{_NUM}\s*;\s*V:{_NUM}\s*;\s*D:{_NUM}\s*;\s*N:{_NUM}\s*;?\s*$"
)
RATER_RE = re.compile(r"^[A-Za-z0-9_-]+\s*;\s*[A-Za-z]*\s*;.*A:")
# the last field's format is not documented (seen: FM01, MF02), so accept any letters and digits
NAME_RE = re.compile(r"^MSP-IMPROV-S(\d{2})([AHNS])-([FM])(\d{2})-([A-Z])-([A-Z0-9]+)$")

CODES = {"A": "angry", "H": "happy", "S": "sad", "N": "neutral", "O": "other", "X": None}
CONDITIONS = {"R": "read", "S": "improvised", "P": "natural", "T": "script-in-improv"}


def find_label_file(root: Path) -> Path | None:
    """`Evaluation.txt` (or `Evalution.txt`) in the root or one folder below it."""
    for folder in [root, *list_dirs(root)]:
        for f in list_files(folder, ".txt"):
            if f.name.lower() in LABEL_FILE_NAMES:
                return f
    return None


def read(root: str | Path, problems: Problems, *, classes: str = "4") -> Manifest:
    classes = check_classes(classes)
    root = require_dir(root, "MSP-IMPROV")
    label_file = find_label_file(root)
    if label_file is None:
        problems.error(root, None, "no Evaluation.txt (or Evalution.txt) in the root or one folder below")
        return finish([], problems, root)
    wavs: dict[str, Path] = {}
    for p in walk_files(root, ".wav"):
        if p.stem in wavs:
            problems.warning(p, None, f"second copy of {p.stem} (first: {wavs[p.stem]}); ignored")
            continue
        wavs[p.stem] = p
    entries = _parse(label_file, problems)
    rows = []
    for e in entries:
        label = CODES[e["code"]]
        if not keep_label(label, classes):
            continue
        utt = e["utt_id"]
        if utt not in wavs:
            problems.error(label_file, e["_line"], f"{utt}: audio file {utt}.wav not found under {root}")
            continue
        m = NAME_RE.match(utt)
        assert m is not None  # checked in _parse
        sentence, acted, gender, sess, condition, _turn = m.groups()
        rows.append(
            {
                "utt_id": utt,
                "path": str(wavs[utt]),
                "text": "",
                "label": label,
                "speaker": f"{gender}{sess}",
                "session": f"session{int(sess)}",
                "gender": gender,
                "split": "",
                "code": e["code"],
                "act": e["act"],
                "val": e["val"],
                "dom": e["dom"],
                "nat": e["nat"],
                "sentence": sentence,
                "acted_label": CODES[acted],
                "condition": CONDITIONS.get(condition, condition),
                "_line": e["_line"],
                "_label_file": str(label_file),
            }
        )
    labelled = {e["utt_id"] for e in entries}
    for stem in sorted(set(wavs) - labelled):
        problems.warning(wavs[stem], None, f"audio file has no consensus line in {label_file.name}")
    return finish(rows, problems, root)


def _parse(path: Path, problems: Problems) -> list[dict]:
    lines = read_text_lines(path, problems)
    if lines is None:
        return []
    out = []
    for n, line in enumerate(lines, start=1):
        s = line.strip()
        if not s:
            continue
        if not s.startswith("UTD-"):
            if not RATER_RE.match(s):
                problems.warning(path, n, f"unrecognised line skipped: {s[:60]!r}")
            continue
        m = CONSENSUS_RE.match(s)
        if not m:
            problems.error(path, n, f"malformed consensus line: {s[:80]!r}")
            continue
        clip, code, a, v, d, nat = m.groups()
        utt = f"MSP-IMPROV-{clip}"
        if not NAME_RE.match(utt):
            problems.error(path, n, f"clip name {clip!r} does not follow S<nn><E>-<G><nn>-<C>-<turn>")
            continue
        if code not in CODES:
            problems.error(path, n, f"{utt}: unknown emotion code {code!r}")
            continue
        out.append(
            {
                "utt_id": utt,
                "code": code,
                "act": as_float(a),
                "val": as_float(v),
                "dom": as_float(d),
                "nat": as_float(nat),
                "_line": n,
            }
        )
    return out
