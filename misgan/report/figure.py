"""What every figure of the report shares: matplotlib on the Agg backend, the atomic PNG write, readable
method and class names, the main-fraction records and the 95 % t-interval. The figures themselves:
misgan.report.tsne, .confusion, .gan_curves, .uar; the list of them: misgan.report.plots.

Every figure is meant to go into a paper as it is: axes labelled with units, readable method names (not
internal keys), colour scales with a colorbar, normalisation stated, constrained layout so titles never
overlap tick labels. Spread is a 95 % t-interval over the paired units (fold × seed) where shown.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from misgan.io import atomic_write


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=130, bbox_inches="tight")
    _plt().close(fig)
    atomic_write(path, buf.getvalue())


def _title(variant: str) -> str:
    try:
        from misgan.augmentation.results import method_title

        return method_title(variant)
    except ImportError:  # the report only needs results.json
        return variant


def _names(results: dict[str, Any], n: int) -> list[str]:
    names = list(results.get("label_names") or [])
    return [names[i] if i < len(names) else str(i) for i in range(n)]


def _main_runs(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Records of the largest training fraction at the run's main ratio (the classical tables' rows)."""
    runs = results.get("runs") or []
    top = max((float(r.get("fraction", 1.0)) for r in runs), default=1.0)
    ratio = float(results.get("config", {}).get("ratio", 1.0))
    return [
        r
        for r in runs
        if float(r.get("fraction", 1.0)) == top
        and not str(r["variant"]).startswith("ablation:")
        and (r["variant"] != "ours" or np.isclose(float(r["ratio"]), ratio))
    ]


def _ci95(values: list[float]) -> tuple[float, float]:
    """(mean, half-width of the 95 % t-interval); half-width 0 for a single value."""
    from scipy import stats

    v = np.asarray(values, dtype=np.float64)
    if len(v) < 2:
        return float(v.mean()), 0.0
    return float(v.mean()), float(stats.t.ppf(0.975, len(v) - 1) * v.std(ddof=1) / np.sqrt(len(v)))
