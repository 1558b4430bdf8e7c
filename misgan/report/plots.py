"""The report's figures (matplotlib, Agg backend), each written atomically; a plot function returns False
when results.json holds nothing to draw.

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

# readable names of the GAN's logged quantities (the keys are misgan.gan.train's record fields)
GAN_LOSSES = {
    "d_loss": "discriminator loss",
    "g_adv": "generator adversarial loss",
    "l_iy": "class information loss (L_Iy)",
    "l_it": "text information loss (L_It)",
}
GAN_BITS = {
    "mi_bits": "MI lower bound I(c; ĥ)",
    "infonce_bits": "InfoNCE bound I(t; ĥ)",
    "h_c_bits": "H(c), the maximum",
}
GAN_FRACTIONS = {"consistency": "class consistency of ĥ", "std_ratio": "std(ĥ) / std(h)"}


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


def plot_gan_curves(results: dict[str, Any], path: Path) -> bool:
    """Stage-2 curves per epoch: each fold thin, the mean over folds bold; losses, bits and fractions apart."""
    hist = {f: recs for f, recs in (results.get("gan_history") or {}).items() if recs}
    if not hist:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), layout="constrained")
    colors = plt.get_cmap("tab10")
    panels = ((axes[0], GAN_LOSSES, "loss"), (axes[1], GAN_BITS, "bits"), (axes[2], GAN_FRACTIONS, "fraction"))
    for ax, keys, unit in panels:
        for i, (key, label) in enumerate(keys.items()):
            curves = [
                (np.asarray([r["epoch"] for r in recs]), np.asarray([r.get(key, np.nan) for r in recs], float))
                for recs in hist.values()
                if any(key in r for r in recs)
            ]
            if not curves:
                continue
            for ep, v in curves:
                ax.plot(ep, v, color=colors(i), alpha=0.25, lw=0.8)
            n = min(len(ep) for ep, _ in curves)
            stack = np.stack([v[:n] for _, v in curves])
            # metrics are evaluated every `eval_every` epochs: average only the epochs some fold evaluated
            seen = np.isfinite(stack).any(axis=0)
            if seen.any():
                mean = np.nanmean(stack[:, seen], axis=0)
                ax.plot(curves[0][0][:n][seen], mean, color=colors(i), lw=2, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel("fraction or ratio" if unit == "fraction" else unit)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    axes[2].set_ylim(0, None)
    axes[0].set_title("losses")
    axes[1].set_title("mutual-information bounds (bits)")
    axes[2].set_title("fractions")
    fig.suptitle(f"GAN training, {len(hist)} fold(s): thin lines per fold, bold the mean over folds")
    _save(fig, path)
    return True


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
    ax.set_xlabel("test fold (held-out speaker), sorted by the no-augmentation UAR")
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


PLOTS = (
    ("t-SNE of real and generated features (Fig. 2)", "tsne.png", plot_tsne),
    ("Confusion matrices (row-normalised, summed over folds and seeds)", "confusion.png", plot_confusions),
    ("GAN losses, MI bounds and class consistency per fold", "gan_curves.png", plot_gan_curves),
    ("UAR against the synthetic ratio", "uar_vs_ratio.png", plot_ratios),
    ("UAR per test speaker", "per_speaker.png", plot_per_speaker),
    ("Learning curve (UAR against the share of training rows)", "learning_curve.png", plot_learning_curve),
)
