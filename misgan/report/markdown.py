"""report.md from results.json: the tables laid out like the paper's Tables II-V, per-fold scores, figures."""

from __future__ import annotations

from typing import Any


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


def gan_settings(results: dict[str, Any]) -> str:
    """The settings of the generators "ours" used: the gan run's own config and folder when results.json
    names one (the run may have been trained by `misgan gan` with other settings than augment's defaults),
    else the augment config's `gan` section (cgan and the ablation GANs are trained with it)."""
    run = results.get("gan_run")
    if run:
        how = "trained by this augment run" if run.get("trained") else "found by key"
        return f"{run.get('config')}, run {run.get('path')} ({how}, key {str(run.get('key', ''))[:12]})"
    return str((results.get("config") or {}).get("gan") or "defaults")


def render_markdown(results: dict[str, Any], plots: dict[str, str]) -> str:
    from misgan.augmentation.results import ABLATION_TITLES, METHOD_TITLES
    from misgan.metrics import fold_scores, summarise

    summary = summarise(results)  # recomputed: the report never trusts a stale summary
    cfg = results.get("config", {})
    lines = [
        "# Stage 3: augmentation results",
        "",
        f"- cache: `{results.get('cache', '?')}`; classes: {', '.join(results.get('label_names', []))}",
        f"- folds: {len(results.get('folds', []))}; seeds: {results.get('seeds')}; ratio: {cfg.get('ratio')}"
        f"{'; --balance' if cfg.get('balance') else ''}",
        f"- GAN settings: {gan_settings(results)}",
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
