"""results.json -> report.md + PNG plots, laid out like the paper's Tables II-V and Fig. 2.

`build_report(run_dir)` needs nothing but run_dir/results.json (no store, no retraining), so a report
can be rebuilt or restyled at any time with `misgan report RUN`. The tables are rendered by
misgan.report.markdown, the figures by misgan.report.plots; every file is written atomically.
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


def build_report(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """(Re)write report.md and its PNGs from run_dir/results.json, into `out_dir` (default: run_dir)."""
    from misgan.report.markdown import render_markdown
    from misgan.report.plots import PLOTS

    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir
    out.mkdir(parents=True, exist_ok=True)
    results = load_results(run_dir)
    plots: dict[str, str] = {}
    for title, name, draw in PLOTS:
        if draw(results, out / name):
            plots[title] = name
    from misgan.report import uar as plot_module

    # the low-resource learning curve (helper F's plot), drawn when the run has several training fractions
    curve = getattr(plot_module, "plot_learning_curve", None)
    fractions = {float(r.get("fraction", 1.0)) for r in results.get("runs") or []}
    if curve is not None and len(fractions) > 1 and curve(results, out / "learning_curve.png"):
        plots["Learning curve: UAR against the share of training rows"] = "learning_curve.png"
    path = out / "report.md"
    atomic_write(path, render_markdown(results, plots))
    return path
