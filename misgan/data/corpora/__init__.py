"""Corpus readers: one pure function of a corpus folder per corpus, each producing a manifest.

    df = load_corpus("iemocap", "/data/IEMOCAP_full_release", classes="4")
    result = read_corpus("iemocap", root)     # manifest + every problem found (file:line, severity)

Readers parse label and transcript files and list the audio folders; they never decode audio
(that is `misgan doctor`'s job), so a manifest of a large corpus takes seconds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from misgan.data.corpora import csv_table, iemocap, msp_improv, msp_podcast, ravdess
from misgan.data.corpora.common import HasProblems, Problem, Problems
from misgan.data.manifest import Manifest
from misgan.errors import CorpusError

Reader = Callable[..., Manifest]

# name -> reader(root, problems, **options)
CORPORA: dict[str, Reader] = {
    "iemocap": iemocap.read,
    "msp-improv": msp_improv.read,
    "msp-podcast": msp_podcast.read,
    "ravdess": ravdess.read,
    "csv": csv_table.read,
}

__all__ = ["CORPORA", "CorpusRead", "Problem", "Problems", "load_corpus", "read_corpus"]


@dataclass(frozen=True)
class CorpusRead(HasProblems):
    manifest: Manifest
    problems: list[Problem]


def get_reader(name: str) -> Reader:
    key = name.strip().lower().replace("_", "-")
    if key not in CORPORA:
        raise CorpusError(f"unknown corpus {name!r}; choose one of {', '.join(CORPORA)}")
    return CORPORA[key]


def read_corpus(name: str, root: str | Path, *, durations: bool = False, **options: Any) -> CorpusRead:
    """Manifest of corpus `name` at `root`, with every problem the reader found.

    Options (`classes="4"|"all"`, `keep_exc`, ...) go to the reader; None values mean its default.
    `durations=True` fills the duration column from each file's header (cheap, no decoding).
    """
    reader = get_reader(name)
    problems = Problems()
    df = reader(root, problems, **{k: v for k, v in options.items() if v is not None})
    if durations and len(df):
        from misgan.data.audio import header_duration

        df["duration"] = [header_duration(p) for p in df["path"]]
    return CorpusRead(df, list(problems))


def load_corpus(
    name: str,
    root: str | Path,
    *,
    strict: bool = False,
    problems: list[Problem] | None = None,
    **options: Any,
) -> Manifest:
    """The manifest of corpus `name` at `root`.

    Problems are appended to `problems` when a list is given; with `strict=True` any error-level
    problem raises CorpusError listing them (file:line each).
    """
    result = read_corpus(name, root, **options)
    if problems is not None:
        problems.extend(result.problems)
    if strict and result.errors:
        shown = "\n  ".join(str(p) for p in result.errors[:20])
        more = f"\n  ... and {len(result.errors) - 20} more" if len(result.errors) > 20 else ""
        raise CorpusError(f"{root}: {len(result.errors)} error(s) in the {name} corpus:\n  {shown}{more}")
    if not len(result.manifest):
        first = f" (first problem: {result.problems[0]})" if result.problems else ""
        raise CorpusError(f"{root}: no usable utterances found for corpus {name}{first}")
    return result.manifest
