"""results.json -> report.md + PNG plots, laid out like the paper's Tables II-V and Fig. 2.

`build_report(run_dir)` needs nothing but run_dir/results.json (no store, no retraining), so a report
can be rebuilt or restyled at any time with `misgan report RUN`. The tables are rendered by
misgan.report.markdown, the figures by misgan.report.plots; every file is written atomically. The one thing
read from elsewhere, when it can be found, is the generators' training time from the gan run's log (the
report's time line says so when it cannot).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from misgan.errors import MisganError
from misgan.io import atomic_write, read_json


class ReportError(MisganError):
    """A run folder has no (readable) results.json."""


def load_results(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise ReportError(f"{path}: not found; run `misgan augment --run-dir {run_dir}` first")
    try:
        data = read_json(path)
    except MisganError as exc:
        raise ReportError(_json_problem(path, exc)) from None
    if not isinstance(data, dict) or "runs" not in data:
        raise ReportError(f"{path}: not a misgan results file (no 'runs')")
    return data


def _json_problem(path: Path, exc: MisganError) -> str:
    """`path:LINE: invalid JSON (why)` from read_json's error (its cause is the JSONDecodeError)."""
    import json

    try:
        json.loads(path.read_text())
    except json.JSONDecodeError as err:
        return f"{path}:{err.lineno}: invalid JSON ({err.msg})"
    except (OSError, UnicodeDecodeError):
        pass
    return str(exc)


def gan_time(run_dir: str | Path, results: dict[str, Any]) -> dict[str, Any] | None:
    """The generators' training time from the gan run results.json names: {"path", "seconds", "folds"} summed
    over the folds this run used (the last `fold_done` record of each in the gan run's log.jsonl), or
    {"path", "missing": why}; None when the run used no gan run.

    results.json records the gan run's path as the augment command saw it (usually relative to its working
    directory), so a report rebuilt elsewhere also looks for the folder next to the augment run (the keyed
    layout puts both under runs/<cache stem>/); the run.json key must match."""
    from misgan.runs import RunError, StageRun

    record = results.get("gan_run") or {}
    if not record.get("path"):
        return None
    given = Path(record["path"])
    out: dict[str, Any] = {"path": str(given)}
    for folder in dict.fromkeys((given, Path(run_dir).parent / given.name)):
        try:
            run = StageRun.open(folder)
        except (RunError, MisganError, OSError):
            continue
        if record.get("key") and run.key != record["key"]:
            continue
        cross = results.get("cross_corpus")
        used = {cross["train_fold"]} if cross else set(results.get("folds") or [])
        done = {r["fold"]: float(r["seconds"]) for r in run.log.read() if r.get("event") == "fold_done"}
        folds = sorted(f for f in done if f in used)
        if not folds:
            return {**out, "missing": "its log records no training time for the folds used"}
        return {**out, "seconds": sum(done[f] for f in folds), "folds": folds}
    return {**out, "missing": "folder not found"}


def build_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """(Re)write report.md and its PNGs from run_dir/results.json, into `out_dir` (default: run_dir)."""
    from misgan.report.markdown import render_markdown
    from misgan.report.plots import PLOTS

    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir
    out.mkdir(parents=True, exist_ok=True)
    results = load_results(run_dir)
    plots: dict[str, str] = {}
    for title, name, draw in PLOTS:  # each returns False when there is nothing to draw (one fraction: no curve)
        if draw(results, out / name):
            plots[title] = name
    path = out / "report.md"
    atomic_write(path, render_markdown(results, plots, gan_time=gan_time(run_dir, results)))
    return path
