"""Row accounting: every command that reads a manifest or a corpus ends with
rows in = rows used + rows left out, each left-out row named with its reason, and a threshold that turns
too many drops into a non-zero exit (issue 12.2).

    acc = account(len(df), problems)     # problems: the reader's Problem list
    echo(acc.line()); for w in acc.details(): echo(w)
    acc.check(strict=False, max_dropped=0.05)   # RowsDroppedError (exit 1) past the threshold
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from misgan.errors import MisganError

OUTSIDE = "outside --classes"  # left out on purpose: reported per label, not a failure
DEFAULT_MAX_DROPPED = 0.05  # without --strict: more than 5 % of the rows left out is an error
REASONS = (
    ("fields", "malformed line"),
    ("cannot parse", "malformed line"),
    ("directory", "directory"),
    ("not found", "missing"),
    ("cannot", "unreadable"),
    ("not a readable", "unreadable"),
    ("short", "too short"),
    ("no audio samples", "too short"),
    ("empty file", "unreadable"),
    ("label", "unknown label"),  # a label the reader cannot parse
    ("empty speaker", "empty speaker"),
    ("duplicate", "duplicate id"),
)
_LEFT_OUT = re.compile(r"^(\d+) row\(s\) with label '(.+)' left out")


class RowsDroppedError(MisganError):
    """More rows were left out than the threshold allows (any with --strict)."""

    exit_code = 1


def reason_of(message: str) -> str:
    low = message.lower()
    for needle, reason in REASONS:
        if needle in low:
            return reason
    return "other"


@dataclass
class RowAccount:
    used: int
    left_out: list[tuple[str, str, str]] = field(default_factory=list)  # (where, reason, message)

    @property
    def rows_in(self) -> int:
        return self.used + len(self.left_out)

    def by_reason(self) -> Counter:
        return Counter(r for _, r, _ in self.left_out)

    def line(self) -> str:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(self.by_reason().items()))
        return f"rows: {self.rows_in} in = {self.used} used + {len(self.left_out)} left out" + (
            f" ({reasons})" if reasons else ""
        )

    def dropped(self) -> list[tuple[str, str, str]]:
        """Rows lost to a defect (rows outside --classes were left out on purpose)."""
        return [x for x in self.left_out if x[1] != OUTSIDE]

    def details(self, limit: int = 20) -> list[str]:
        dropped = self.dropped()
        out = [f"  left out {w}: {r}: {m}" for w, r, m in dropped[:limit]]
        if len(dropped) > limit:
            out.append(f"  ... {len(dropped) - limit} more")
        outside = Counter(m for _, r, m in self.left_out if r == OUTSIDE)
        out += [f"  {m}" for m in sorted(outside)]
        return out

    def check(self, *, strict: bool, max_dropped: float | None = None) -> None:
        """RowsDroppedError when any row is lost under `strict`, or more than `max_dropped` of them. Rows
        outside --classes are chosen, not lost: they are listed per label but never fail the command."""
        n = len(self.dropped())
        if not n:
            return
        limit = 0.0 if strict else (DEFAULT_MAX_DROPPED if max_dropped is None else max_dropped)
        if n / max(self.rows_in, 1) > limit:
            why = "--strict allows none" if strict else f"more than {100 * limit:g} % (--max-dropped {limit:g})"
            raise RowsDroppedError(f"{n} of {self.rows_in} rows left out, {why}: {self.line()}")


def account(used: int, problems: list[Any]) -> RowAccount:
    """The account of a reader's output: every error on a line is one row left out; the warnings
    "N row(s) with label 'x' left out" count N rows of an unknown label."""
    acc = RowAccount(used)
    for p in problems:
        where = f"{p.file}:{p.line}" if p.line is not None and p.line >= 0 else str(p.file)
        m = _LEFT_OUT.match(p.message)
        if m:
            acc.left_out.extend([(where, OUTSIDE, p.message)] * int(m.group(1)))
        elif p.severity == "error" and p.line is not None:
            acc.left_out.append((where, reason_of(p.message), p.message))
    return acc


def failure_problems(failures: list[dict[str, str]]) -> list[Any]:
    """A cache's `failures` (utt_id, reason) as row-level problems for `account`."""
    from misgan.data.corpora.common import Problem

    return [Problem(f"utterance {f['utt_id']}", -1, "error", f["reason"]) for f in failures]


def class_warnings(df: pd.DataFrame, n_folds: int | None = None) -> list[str]:
    """A label seen once, or a class with fewer rows than folds (default: one fold per speaker)."""
    if not len(df):
        return []
    folds = n_folds if n_folds is not None else int(df["speaker"].nunique())
    out = []
    for label, count in df["label"].value_counts().sort_index().items():
        if count == 1:
            out.append(f"label {label!r} is seen once (a typo?); it would become a class of one row")
        elif count < folds:
            out.append(
                f"class {label!r} has {count} rows, fewer than the {folds} folds: some folds cannot test it"
            )
    return out
