"""Pieces every corpus reader shares: problem records, label names, folder walking, row building.

Readers never stop at the first bad line: they record a `Problem` (file, line, severity, message)
and go on, so `misgan doctor` can list every defect in one pass. Severity "error" marks a defect
that changes what a model would be trained on (an utterance silently lost, audio that cannot be
read, a label that cannot be parsed); "warning" marks something tolerated (a missing transcript,
audio without a label, a resampled or downmixed file).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from misgan.data.manifest import CLASSES_4, Manifest, new_manifest
from misgan.errors import CorpusError, where

SEVERITIES = ("error", "warning")
CLASS_OPTIONS = ("4", "all")


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    severity: str  # "error" | "warning"
    message: str

    def __str__(self) -> str:
        return f"{where(self.file, self.line)}: {self.severity}: {self.message}"


def of_severity(problems: Iterable[Problem], severity: str) -> list[Problem]:
    """The problems of one severity, in the order they were found."""
    return [p for p in problems if p.severity == severity]


class HasProblems:
    """`errors` and `warnings` views for a record whose `problems` field lists Problem items."""

    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return of_severity(self.problems, "error")

    @property
    def warnings(self) -> list[Problem]:
        return of_severity(self.problems, "warning")


@dataclass
class Problems:
    """An append-only list of problems with helpers for the two severities."""

    items: list[Problem] = field(default_factory=list)

    def error(self, file: str | Path, line: int | None, message: str) -> None:
        self.items.append(Problem(str(file), line, "error", message))

    def warning(self, file: str | Path, line: int | None, message: str) -> None:
        self.items.append(Problem(str(file), line, "warning", message))

    @property
    def errors(self) -> list[Problem]:
        return of_severity(self.items, "error")

    @property
    def warnings(self) -> list[Problem]:
        return of_severity(self.items, "warning")

    def __iter__(self) -> Iterator[Problem]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)


def check_classes(classes: str) -> str:
    classes = str(classes).strip().lower()
    if classes not in CLASS_OPTIONS:
        raise CorpusError(f"--classes must be one of {', '.join(CLASS_OPTIONS)} (got {classes!r})")
    return classes


def keep_label(label: str | None, classes: str) -> bool:
    """Whether a canonical label belongs to the requested class set (None = no usable label)."""
    if not label:
        return False
    return classes == "all" or label in CLASSES_4


def is_hidden(name: str) -> bool:
    # covers macOS AppleDouble companions (`._x.wav`) and `.DS_Store`
    return name.startswith(".")


def list_files(folder: Path, suffix: str | None = None) -> list[Path]:
    """Regular, non-hidden files directly inside `folder` (not recursive), sorted by name."""
    if not folder.is_dir():
        return []
    out = []
    with os.scandir(folder) as it:
        for entry in it:
            if is_hidden(entry.name) or not entry.is_file():
                continue
            if suffix is None or entry.name.lower().endswith(suffix):
                out.append(Path(entry.path))
    return sorted(out)


def list_dirs(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    with os.scandir(folder) as it:
        return sorted(Path(e.path) for e in it if e.is_dir() and not is_hidden(e.name))


def walk_files(root: Path, suffix: str) -> Iterator[Path]:
    """Every non-hidden file under `root` ending with `suffix` (case-insensitive), in sorted order."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not is_hidden(d))
        for name in sorted(filenames):
            if not is_hidden(name) and name.lower().endswith(suffix):
                yield Path(dirpath) / name


def require_dir(root: str | Path, corpus: str) -> Path:
    root = Path(root).expanduser()
    if not root.exists():
        raise CorpusError(f"{root}: {corpus} root folder not found")
    if not root.is_dir():
        raise CorpusError(f"{root}: {corpus} root must be a folder")
    return root.resolve()


def descend(root: Path, found: Callable[[Path], bool], names: Iterable[str] = ()) -> Path | None:
    """The first folder, starting at `root`, for which `found(folder)` holds.

    Archives are often extracted with their top folder repeated (`X/X/...`), so try `root`, then the
    named children (twice), then any single child folder, up to three levels.
    """
    frontier = [root]
    for _ in range(4):
        nxt: list[Path] = []
        for folder in frontier:
            if found(folder):
                return folder
            kids = list_dirs(folder)
            named = [k for k in kids if k.name in set(names)]
            nxt.extend(named or (kids if len(kids) == 1 else []))
        frontier = nxt
    return None


def read_text_lines(path: Path, problems: Problems) -> list[str] | None:
    """Lines of a text file; undecodable bytes are replaced (and reported once) rather than fatal."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.error(path, None, f"cannot read file ({exc.strerror or exc})")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
        problems.warning(path, None, "not UTF-8; read as Latin-1")
    return text.splitlines()


def finish(rows: list[dict], problems: Problems, source: Path) -> Manifest:
    """Rows -> manifest, dropping (and reporting) duplicate utterance ids after the first."""
    seen: set[str] = set()
    kept = []
    for row in rows:
        if row["utt_id"] in seen:
            problems.error(
                row.get("_label_file", source), row.get("_line"), f"duplicate utterance {row['utt_id']}"
            )
            continue
        seen.add(row["utt_id"])
        kept.append({k: v for k, v in row.items() if not k.startswith("_")})
    if not kept:
        return new_manifest([])
    return new_manifest(kept)


def empty_manifest() -> Manifest:
    return new_manifest([])


def as_float(value: str) -> float:
    """Parse a number; 'NaN' and blanks become NaN (the MSP files use both)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def count_table(df: pd.DataFrame, column: str) -> dict[str, int]:
    return {str(k): int(v) for k, v in df[column].value_counts().sort_index().items()}
