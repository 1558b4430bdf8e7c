"""The report's figures (matplotlib, Agg backend), each written atomically; a plot function returns False
when results.json holds nothing to draw."""

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
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    _plt().close(fig)
    atomic_write(path, buf.getvalue())


def plot_tsne(results: dict[str, Any], path: Path) -> bool:
    """Fig. 2: combined / generated / real, coloured by class."""
    ts = results.get("tsne")
    if not ts:
        return False
    plt = _plt()
    xy = np.asarray(ts["coords"])
    lab = np.asarray(ts["labels"])
    src = np.asarray(ts["source"])
    names = results.get("label_names", [])
    colors = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8), sharex=True, sharey=True)
    panels = (("real and generated", None), ("generated", "generated"), ("real", "real"))
    for ax, (title, keep) in zip(axes, panels, strict=True):
        for c in np.unique(lab):
            for s, marker in (("real", "o"), ("generated", "x")):
                if keep is not None and s != keep:
                    continue
                m = (lab == c) & (src == s)
                name = names[c] if c < len(names) else str(c)
                ax.scatter(
                    xy[m, 0],
                    xy[m, 1],
                    s=10,
                    marker=marker,
                    color=colors(int(c) % 10),
                    alpha=0.7,
                    label=f"{name} ({s})" if keep is None else name,
                )
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0].legend(fontsize=7, markerscale=1.5, loc="best")
    _save(fig, path)
    return True


def plot_confusions(results: dict[str, Any], path: Path) -> bool:
    """Row-normalised confusion matrices summed over folds and seeds, one panel per variant."""
    ratio = float(results.get("config", {}).get("ratio", 1.0))
    totals: dict[str, np.ndarray] = {}
    for r in results["runs"]:
        if r["variant"] == "ours" and not np.isclose(r["ratio"], ratio):
            continue
        cm = np.asarray(r["metrics"]["confusion"], dtype=np.float64)
        totals[r["variant"]] = totals.get(r["variant"], 0) + cm
    if not totals:
        return False
    plt = _plt()
    names = results.get("label_names", [])
    n = len(totals)
    cols = min(n, 4)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.4 * rows), squeeze=False)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    for ax, (variant, cm) in zip(axes.ravel(), totals.items(), strict=False):
        norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        for i in range(len(cm)):
            for j in range(len(cm)):
                ax.text(
                    j,
                    i,
                    f"{norm[i, j]:.2f}",
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if norm[i, j] > 0.5 else "black",
                )
        ticks = range(len(cm))
        ax.set_xticks(ticks, [names[i] if i < len(names) else str(i) for i in ticks], fontsize=7, rotation=45)
        ax.set_yticks(ticks, [names[i] if i < len(names) else str(i) for i in ticks], fontsize=7)
        ax.set_title(variant, fontsize=9)
        ax.set_xlabel("predicted", fontsize=7)
    _save(fig, path)
    return True


def plot_gan_curves(results: dict[str, Any], path: Path) -> bool:
    """Stage-2 losses and MI quality metrics per epoch (first fold's GAN of the first seed)."""
    hist = results.get("gan_history") or {}
    if not hist:
        return False
    fold, records = next(iter(hist.items()))
    if not records:
        return False
    plt = _plt()
    ep = [r["epoch"] for r in records]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    for key in ("d_loss", "g_adv", "l_iy", "l_it"):
        if any(key in r for r in records):
            a1.plot(ep, [r.get(key, np.nan) for r in records], label=key)
    a1.set_xlabel("epoch")
    a1.set_title(f"GAN losses (fold {fold})")
    a1.legend(fontsize=8)
    for key in ("mi_bits", "infonce_bits", "consistency"):
        if any(key in r for r in records):
            a2.plot(ep, [r.get(key, np.nan) for r in records], label=key)
    a2.set_xlabel("epoch")
    a2.set_title("MI bounds (bits) and class consistency")
    a2.legend(fontsize=8)
    _save(fig, path)
    return True


def plot_ratios(results: dict[str, Any], path: Path) -> bool:
    from misgan.metrics import summarise

    ratios = summarise(results)["ratios"]
    if not ratios:
        return False
    plt = _plt()
    xs = [float(r) for r in ratios]
    ms = [100 * s["uar"]["mean"] for s in ratios.values()]
    sd = [100 * s["uar"]["std"] for s in ratios.values()]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.errorbar(xs, ms, yerr=sd, marker="o", capsize=3)
    none = summarise(results)["methods"].get("none")
    if none:
        ax.axhline(100 * none["uar"]["mean"], color="grey", ls="--", label="no augmentation")
        ax.legend(fontsize=8)
    ax.set_xlabel("synthetic rows per real training row")
    ax.set_ylabel("UAR (%)")
    _save(fig, path)
    return True


PLOTS = (
    ("t-SNE of real and generated features (Fig. 2)", "tsne.png", plot_tsne),
    ("Confusion matrices (summed over folds and seeds)", "confusion.png", plot_confusions),
    ("GAN losses and MI curves", "gan_curves.png", plot_gan_curves),
    ("UAR against the synthetic ratio", "uar_vs_ratio.png", plot_ratios),
)
