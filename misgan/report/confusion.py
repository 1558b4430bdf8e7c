"""The report's confusion matrices: one per method, row-normalised, summed over folds and seeds."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from misgan.report.figure import _main_runs, _names, _plt, _save, _title


def plot_confusions(results: dict[str, Any], path: Path) -> bool:
    """Row-normalised confusion matrices summed over folds and seeds, one panel per method, one colorbar."""
    totals: dict[str, np.ndarray] = {}
    for r in _main_runs(results):
        cm = np.asarray(r["metrics"]["confusion"], dtype=np.float64)
        totals[r["variant"]] = totals.get(r["variant"], 0) + cm
    if not totals:
        return False
    plt = _plt()
    n = len(totals)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(
        rows, cols, figsize=(4.3 * cols, 4.2 * rows + 0.6), squeeze=False, layout="constrained"
    )
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    image = None
    for k, (ax, (variant, cm)) in enumerate(zip(axes.ravel(), totals.items(), strict=False)):
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        image = ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        for i in range(len(cm)):
            for j in range(len(cm)):
                color = "white" if norm[i, j] > 0.5 else "black"
                ax.text(j, i, f"{norm[i, j]:.2f}", ha="center", va="center", fontsize=8, color=color)
        labels = _names(results, len(cm))
        ax.set_xticks(range(len(cm)), labels, rotation=30, ha="right", fontsize=8)
        ax.set_yticks(range(len(cm)), labels, fontsize=8)
        ax.set_xlabel("predicted")
        if k % cols == 0:
            ax.set_ylabel("true")
        ax.set_title(_title(variant), fontsize=9, wrap=True)
    fig.colorbar(image, ax=axes.ravel().tolist(), shrink=0.8, label="share of the true class's rows")
    fig.suptitle("Confusion matrices, row-normalised (each row sums to 1), summed over folds and seeds")
    _save(fig, path)
    return True
