"""Fig. 2 of the report: t-SNE of real and generated features, coloured by class."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from misgan.report.figure import _names, _plt, _save


def plot_tsne(results: dict[str, Any], path: Path) -> bool:
    """Fig. 2: real and generated / generated / real, coloured by class, one legend for all panels."""
    ts = results.get("tsne")
    if not ts:
        return False
    plt = _plt()
    from matplotlib.lines import Line2D

    xy, lab, src = np.asarray(ts["coords"]), np.asarray(ts["labels"]), np.asarray(ts["source"])
    names = _names(results, int(lab.max()) + 1)
    colors = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, 3, figsize=(13, 4.6), sharex=True, sharey=True, layout="constrained")
    markers = {"real": "o", "generated": "x"}
    for ax, (title, keep) in zip(
        axes, (("real and generated", None), ("generated", "generated"), ("real", "real")), strict=True
    ):
        for c in np.unique(lab):
            for s, marker in markers.items():
                m = (lab == c) & (src == s)
                if keep in (None, s) and m.any():
                    ax.scatter(
                        xy[m, 0], xy[m, 1], s=12, marker=marker, color=colors(int(c) % 10), alpha=0.7, linewidths=1
                    )
        ax.set_title(title)
        ax.set_xlabel("t-SNE 1")
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].set_ylabel("t-SNE 2")
    fold = ts.get("fold") or (results.get("folds") or ["?"])[0]
    seed = ts.get("seed", (results.get("seeds") or [0])[0])
    fig.suptitle(f"t-SNE of stage-1 features h (real training rows) and generated ĥ: fold {fold}, seed {seed}")
    handles = [Line2D([], [], ls="", marker="s", color=colors(i % 10), label=n) for i, n in enumerate(names)]
    handles += [Line2D([], [], ls="", marker=mk, color="black", label=s) for s, mk in markers.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=len(handles), frameon=False)
    _save(fig, path)
    return True
