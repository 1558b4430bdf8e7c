"""The report's UAR figures: UAR against the synthetic ratio, per test speaker, and the learning curve
over training fractions (mean and 95 % CI over the paired fold × seed units)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from misgan.report.figure import _ci95, _main_runs, _plt, _save, _title


def plot_ratios(results: dict[str, Any], path: Path) -> bool:
    """UAR of ours against the synthetic ratio (mean ± 95 % CI over folds × seeds), none as a reference."""
    runs = [r for r in results.get("runs") or [] if float(r.get("fraction", 1.0)) == 1.0 or "fraction" not in r]
    ratios = sorted({float(r["ratio"]) for r in runs if r["variant"] == "ours"})
    if len(ratios) < 2:
        return False
    plt = _plt()
    stats = [
        _ci95([100 * r["metrics"]["uar"] for r in runs if r["variant"] == "ours" and np.isclose(r["ratio"], x)])
        for x in ratios
    ]
    fig, ax = plt.subplots(figsize=(5.5, 3.8), layout="constrained")
    ax.errorbar(
        ratios, [s[0] for s in stats], yerr=[s[1] for s in stats], marker="o", capsize=3, label=_title("ours")
    )
    none = [100 * r["metrics"]["uar"] for r in runs if r["variant"] == "none"]
    if none:
        ax.axhline(float(np.mean(none)), color="grey", ls="--", label=_title("none"))
    ax.set_xlabel("synthetic rows per real training row")
    ax.set_ylabel("UAR (%)")
    ax.set_title("UAR against the synthetic ratio (mean, 95 % CI)")
    ax.legend(fontsize=8)
    _save(fig, path)
    return True


def plot_per_speaker(results: dict[str, Any], path: Path) -> bool:
    """Test UAR per fold (the held-out speaker(s)) and method, folds sorted by the no-augmentation UAR."""
    runs = _main_runs(results)
    if not runs:
        return False
    per: dict[str, dict[str, list[float]]] = {}
    for r in runs:
        per.setdefault(r["variant"], {}).setdefault(r["fold"], []).append(100 * r["metrics"]["uar"])
    folds = list(dict.fromkeys(r["fold"] for r in runs))
    anchor = per.get("none") or next(iter(per.values()))
    folds.sort(key=lambda f: np.mean(anchor.get(f, [np.nan])))
    plt = _plt()
    fig, ax = plt.subplots(figsize=(max(6, 0.38 * len(folds) + 3), 4.2), layout="constrained")
    markers = "os^Dv<>PX*"
    x = np.arange(len(folds))
    for i, (variant, scores) in enumerate(per.items()):
        y = [np.mean(scores[f]) if f in scores else np.nan for f in folds]
        ax.plot(
            x,
            y,
            ls="",
            marker=markers[i % len(markers)],
            ms=6,
            alpha=0.85,
            label=f"{_title(variant)} (mean {np.nanmean(y):.1f})",
        )
    ax.set_xticks(x, folds, rotation=60, ha="right", fontsize=7)
    ax.set_xlabel("test fold (its held-out speaker or speakers), sorted by the no-augmentation UAR")
    ax.set_ylabel("UAR (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.set_title("UAR per test speaker (mean over seeds)")
    ax.legend(fontsize=7, loc="lower right")
    _save(fig, path)
    return True


def plot_learning_curve(results: dict[str, Any], path: Path) -> bool:
    """The low-resource protocol: UAR against the share of training rows, none vs each augmenter.

    Reads results["runs"]: records with "variant", "fold", "seed", "fraction" (share of each training
    speaker's rows used, misgan augment --train-fraction) and "metrics"["uar"] (docs/stage3.md). Per
    (variant, fraction): mean over the fold × seed units and a shaded 95 % t-interval. Ablation records and
    ours at extra ratios are left out. False when the run has fewer than two fractions.
    """
    runs = [
        r
        for r in results.get("runs") or []
        if not str(r["variant"]).startswith("ablation:")
        and (
            r["variant"] != "ours"
            or np.isclose(float(r["ratio"]), float(results.get("config", {}).get("ratio", 1.0)))
        )
    ]
    fractions = sorted({float(r.get("fraction", 1.0)) for r in runs})
    if len(fractions) < 2:
        return False
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6.5, 4.4), layout="constrained")
    colors = plt.get_cmap("tab10")
    variants = list(dict.fromkeys(r["variant"] for r in runs))
    variants.sort(key=lambda v: (v != "reference", v != "none"))
    units = 0
    for i, v in enumerate(variants):
        xs, ms, hs = [], [], []
        for f in fractions:
            vals = [
                100 * r["metrics"]["uar"] for r in runs if r["variant"] == v and float(r.get("fraction", 1.0)) == f
            ]
            if vals:
                m, h = _ci95(vals)
                xs.append(f), ms.append(m), hs.append(h)
                units = max(units, len(vals))
        style = {"ls": "--", "color": "black"} if v == "none" else {"color": colors(i % 10)}
        ax.plot(xs, ms, marker="o", label=_title(v), **style)
        ax.fill_between(xs, np.subtract(ms, hs), np.add(ms, hs), alpha=0.15, color=style["color"])
    ax.set_xscale("log")
    ax.set_xticks(fractions, [f"{100 * f:g}%" for f in fractions])
    ax.minorticks_off()
    ax.set_xlabel("share of each training speaker's rows used (log scale)")
    ax.set_ylabel("test UAR (%)")
    ax.set_title(f"Learning curve: mean and 95 % CI over {units} fold × seed units")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    _save(fig, path)
    return True
