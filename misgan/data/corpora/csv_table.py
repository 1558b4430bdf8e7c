"""A user's own corpus described by a table -> manifest.

The table (CSV, or TSV for `.tsv`) needs columns `path`, `label`, `speaker`; optional `utt_id`, `text`,
`session`, `gender`, `split`, `duration`; any other column is kept as an extra. Relative paths are
resolved against the table's folder. Labels are lower-cased, and common spellings of the four core
classes (`anger`, `hap`, `neu`, `sadness`, ...) are mapped to neutral / happy / sad / angry.
"""

from __future__ import annotations

import csv
from pathlib import Path

from misgan.data.corpora.common import Problems, check_classes, finish, keep_label, list_files, read_text_lines
from misgan.data.manifest import COLUMNS, Manifest
from misgan.errors import CorpusError

REQUIRED = ("path", "label", "speaker")
GENDERS = {"f": "F", "female": "F", "w": "F", "m": "M", "male": "M"}
ALIASES = {
    "neu": "neutral",
    "n": "neutral",
    "hap": "happy",
    "happiness": "happy",
    "joy": "happy",
    "h": "happy",
    "sadness": "sad",
    "s": "sad",
    "ang": "angry",
    "anger": "angry",
    "a": "angry",
}


def find_table(root: str | Path, table: str | None = None) -> Path:
    root = Path(root).expanduser()
    if table is not None:
        root = root / table if root.is_dir() else Path(table)
    if root.is_file():
        return root.resolve()
    if not root.exists():
        raise CorpusError(f"{root}: table or folder not found")
    found = [p for p in list_files(root) if p.suffix.lower() in (".csv", ".tsv")]
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise CorpusError(f"{root}: expected exactly one .csv/.tsv table (found {names}); pass the file itself")
    return found[0].resolve()


def read(root: str | Path, problems: Problems, *, classes: str = "all", table: str | None = None) -> Manifest:
    classes = check_classes(classes)
    path = find_table(root, table)
    lines = read_text_lines(path, problems)
    if not lines:
        raise CorpusError(f"{path}: empty table")
    delim = "\t" if path.suffix.lower() == ".tsv" else ","
    reader = csv.reader(lines, delimiter=delim)
    header = [h.strip() for h in next(reader)]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CorpusError(f"{path}:1: missing column(s) {', '.join(missing)} (found {', '.join(header)})")
    base = path.parent
    rows = []
    outside: dict[str, int] = {}  # label -> rows left out by --classes
    for n, fields in enumerate(reader, start=2):
        if not fields or not "".join(fields).strip():
            continue
        if len(fields) != len(header):
            problems.error(path, n, f"expected {len(header)} fields, found {len(fields)}")
            continue
        rec = {h: f.strip() for h, f in zip(header, fields, strict=True)}
        empty = [c for c in REQUIRED if not rec[c]]
        if empty:
            problems.error(path, n, f"empty {', '.join(empty)}")
            continue
        label = rec["label"].lower()
        label = ALIASES.get(label, label)
        if not keep_label(label, classes):
            outside[label] = outside.get(label, 0) + 1
            continue
        audio = Path(rec["path"]).expanduser()
        audio = audio if audio.is_absolute() else base / audio
        if audio.is_dir():
            problems.error(path, n, f"audio path is a directory: {audio}")
            continue
        if not audio.is_file():
            problems.error(path, n, f"audio file not found: {audio}")
            continue
        utt = rec.get("utt_id") or _default_id(rec["path"])
        row = {k: v for k, v in rec.items() if k not in COLUMNS or k in ("text", "session", "gender", "split")}
        row.update(
            utt_id=utt,
            path=str(audio),
            label=label,
            speaker=rec["speaker"],
            gender=GENDERS.get(rec.get("gender", "").lower(), rec.get("gender", "")),
            duration=rec.get("duration", ""),
            _line=n,
            _label_file=str(path),
        )
        rows.append(row)
    for label, count in sorted(outside.items()):
        typo = " (seen once: a typo?)" if count == 1 else ""
        problems.warning(
            path, None, f"{count} row(s) with label {label!r} left out: not in --classes {classes}{typo}"
        )
    return finish(rows, problems, path)


def _default_id(path: str) -> str:
    # the relative path without extension: unique even when two folders hold the same file name
    p = Path(path)
    if p.is_absolute():
        return p.stem
    return "/".join(part for part in p.with_suffix("").parts if part not in (".", ".."))
