"""results.json -> report.md + PNG plots, laid out like the paper's Tables II-V and Fig. 2.

`build_report(run_dir)` needs nothing but run_dir/results.json (no store, no retraining), so a report
can be rebuilt or restyled at any time with `misgan report RUN`. Plots use matplotlib's Agg backend.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from misgan.errors import MisganError


class ReportError(MisganError):
    """A run folder has no (readable) results.json."""


def load_results(run_dir: str | Path) -> dict[str, Any]:
    path = Path(run_dir) / "results.json"
    if not path.is_file():
        raise ReportError(f"{path}: not found; run `misgan augment --run-dir {run_dir}` first")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ReportError(f"{path}:{exc.lineno}: invalid JSON ({exc.msg})") from exc
    if not isinstance(data, dict) or "runs" not in data:
        raise ReportError(f"{path}: not a misgan results file (no 'runs')")
    return data


def _pct(stat: dict[str, Any] | None, key: str = "uar") -> str:
    if not stat or key not in stat:
        return "–"
    s = stat[key]
    return f"{100 * s['mean']:.2f} ± {100 * s['std']:.2f}"


def _p(test: dict[str, Any] | None) -> str:
    if not test:
        return "–"
    p = test["wilcoxon"]["p_value"]
    return f"{p:.3g}" if p >= 1e-4 else f"{p:.1e}"


def _ci(test: dict[str, Any] | None) -> str:
    if not test:
        return "–"
    b = test["bootstrap"]
    return f"{100 * b['mean_diff']:+.2f} [{100 * b['ci_low']:+.2f}, {100 * b['ci_high']:+.2f}]"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


# ---------------------------------------------------------------- markdown


def render_markdown(results: dict[str, Any], plots: dict[str, str]) -> str:
    from misgan.augmentation.evaluate import ABLATION_TITLES, METHOD_TITLES
    from misgan.metrics import fold_scores, summarise

    summary = summarise(results)  # recomputed: the report never trusts a stale summary
    cfg = results.get("config", {})
    lines = [
        "# Stage 3: augmentation results",
        "",
        f"- cache: `{results.get('cache', '?')}`; classes: {', '.join(results.get('label_names', []))}",
        f"- folds: {len(results.get('folds', []))}; seeds: {results.get('seeds')}; ratio: {cfg.get('ratio')}"
        f"{'; --balance' if cfg.get('balance') else ''}",
        f"- GAN settings: {cfg.get('gan') or 'defaults'}"
        f"{'; generators from ' + cfg['gan_run'] if cfg.get('gan_run') else ''}",
        f"- classifier: {cfg.get('classifier')}",
        "- scores: mean ± std over folds (percent) of the seed-averaged per-fold score; p: two-sided Wilcoxon "
        "signed-rank over folds; Δ: mean paired difference with a 95 % bootstrap CI.",
    ]
    if "stage1_baseline" in summary:
        lines.append(f"- stage-1 head as stored (no fine-tuning): UAR {_pct(summary['stage1_baseline'])}")
    timing = results.get("timing") or {}
    if timing:
        lines.append(f"- wall time: {timing.get('total_s', 0):.0f} s")
    methods = summary["methods"]
    if methods:
        none = methods.get("none")
        lines += [
            "",
            "## Table II: augmentation methods (UAR, %)",
            "",
            "| Method | Without augmentation | With augmentation | WA | macro-F1 | Δ UAR [95 % CI] | p |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, stat in methods.items():
            if key == "none":
                continue
            lines.append(
                f"| {METHOD_TITLES.get(key, key)} | {_pct(none)} | {_pct(stat)} | {_pct(stat, 'wa')} | "
                f"{_pct(stat, 'macro_f1')} | {_ci(stat.get('vs_none'))} | {_p(stat.get('vs_none'))} |"
            )
        if none:
            lines.append(
                f"| {METHOD_TITLES['none']} | {_pct(none)} | – | {_pct(none, 'wa')} | "
                f"{_pct(none, 'macro_f1')} | – | – |"
            )
    if summary["ablation"]:
        lines += [
            "",
            "## Table III: ablation (UAR, %)",
            "",
            "| Methods | UAR | WA | macro-F1 | Δ vs full [95 % CI] | p vs full | p vs no augmentation |",
            "|---|---|---|---|---|---|---|",
        ]
        for key, stat in summary["ablation"].items():
            lines.append(
                f"| {ABLATION_TITLES[key]} | {_pct(stat)} | {_pct(stat, 'wa')} | {_pct(stat, 'macro_f1')} | "
                f"{_ci(stat.get('vs_full'))} | {_p(stat.get('vs_full'))} | {_p(stat.get('vs_noaug'))} |"
            )
    mm = summary["multimodal"]
    if mm:
        hidden = cfg.get("mm_hidden") or []
        arch = "linear" if not hidden else "MLP " + "-".join(str(h) for h in hidden)
        lines += [
            "",
            f"## Tables IV-V: multimodal SER (UAR, %; classifier: {arch} on standardised features)",
            "",
            "| Model | Audio | Text | Audio + Text |",
            "|---|---|---|---|",
        ]
        names = {"none": "Without augmentation", "augmented": "Ours (h, t, ĥ, t′: four combinations)"}
        for key in ("none", "augmented"):
            if key in mm:
                cols = mm[key]
                lines.append(
                    f"| {names[key]} | "
                    + " | ".join(
                        f"{100 * cols[c]['mean']:.2f} ± {100 * cols[c]['std']:.2f}"
                        for c in ("audio", "text", "audio_text")
                    )
                    + " |"
                )
        if "augmented" in mm and "vs_none" in mm["augmented"]["audio"]:
            lines.append(
                "| p (ours vs without) | "
                + " | ".join(_p(mm["augmented"][c].get("vs_none")) for c in ("audio", "text", "audio_text"))
                + " |"
            )
    if summary["ratios"]:
        lines += [
            "",
            "## UAR against the synthetic ratio (ours)",
            "",
            "| ratio | UAR | WA | macro-F1 |",
            "|---|---|---|---|",
        ]
        for r, stat in summary["ratios"].items():
            lines.append(f"| {r} | {_pct(stat)} | {_pct(stat, 'wa')} | {_pct(stat, 'macro_f1')} |")
    counts = results.get("class_counts") or {}
    if counts:
        names = results.get("label_names", [])
        first = next(iter(counts))
        lines += [
            "",
            f"## Training class counts (fold {first}; all folds in results.json)",
            "",
            "| | " + " | ".join(names) + " |",
            "|---|" + "---|" * len(names),
            "| before | " + " | ".join(str(v) for v in counts[first]["before"]) + " |",
            "| after | " + " | ".join(str(v) for v in counts[first]["after"]) + " |",
        ]
    variants = [v for v in dict.fromkeys(r["variant"] for r in results["runs"])]
    if variants:
        ratio = float(cfg.get("ratio", 1.0))
        per = {v: fold_scores(results, v, "uar", ratio if v == "ours" else None) for v in variants}
        lines += [
            "",
            "## Per-fold UAR (%, mean over seeds)",
            "",
            "| fold | " + " | ".join(variants) + " |",
            "|---|" + "---|" * len(variants),
        ]
        for f in results.get("folds", []):
            cells = [f"{100 * per[v][f]:.1f}" if f in per[v] else "–" for v in variants]
            lines.append(f"| {f} | " + " | ".join(cells) + " |")
    if plots:
        lines += ["", "## Figures", ""]
        for title, name in plots.items():
            lines += [f"### {title}", "", f"![{title}]({name})", ""]
    return "\n".join(lines).rstrip() + "\n"


# ---------------------------------------------------------------- plots


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    os.replace(tmp, path)


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


def build_report(run_dir: str | Path) -> Path:
    """(Re)write run_dir/report.md and its PNGs from run_dir/results.json."""
    run_dir = Path(run_dir)
    results = load_results(run_dir)
    plots: dict[str, str] = {}
    for title, name, fn in (
        ("t-SNE of real and generated features (Fig. 2)", "tsne.png", plot_tsne),
        ("Confusion matrices (summed over folds and seeds)", "confusion.png", plot_confusions),
        ("GAN losses and MI curves", "gan_curves.png", plot_gan_curves),
        ("UAR against the synthetic ratio", "uar_vs_ratio.png", plot_ratios),
    ):
        if fn(results, run_dir / name):
            plots[title] = name
    path = run_dir / "report.md"
    _write(path, render_markdown(results, plots))
    return path
