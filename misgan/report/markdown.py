"""report.md from results.json: the tables laid out like the paper's Tables II-V, per-fold scores, figures."""

from __future__ import annotations

from typing import Any

from misgan.report.header import header_lines


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


def render_markdown(results: dict[str, Any], plots: dict[str, str], gan_time: dict[str, Any] | None = None) -> str:
    """`gan_time`: the generators' training time (misgan.report.build.gan_time), for the time line."""
    from misgan.augmentation.results import ABLATION_TITLES, METHOD_TITLES, method_title
    from misgan.augmentation.summary import fold_scores, summarise

    summary = summarise(results)  # recomputed: the report never trusts a stale summary
    cfg = results.get("config", {})
    lines = header_lines(results, summary, gan_time)
    methods = summary["methods"]
    if methods:
        none = methods.get("none")
        lines += [
            "",
            "## Table II: augmentation methods (UAR, %)",
            "",
            "| Method | Without augmentation | With augmentation | WA | macro-F1 | Δ UAR vs none [95 % CI] | p "
            "| Δ UAR vs reference [95 % CI] | p |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for key, stat in methods.items():
            if key in ("none", "reference"):
                continue
            lines.append(
                f"| {method_title(key)} | {_pct(none)} | {_pct(stat)} | {_pct(stat, 'wa')} | "
                f"{_pct(stat, 'macro_f1')} | {_ci(stat.get('vs_none'))} | {_p(stat.get('vs_none'))} | "
                f"{_ci(stat.get('vs_reference'))} | {_p(stat.get('vs_reference'))} |"
            )
        if none:
            lines.append(
                f"| {METHOD_TITLES['none']} | {_pct(none)} | – | {_pct(none, 'wa')} | "
                f"{_pct(none, 'macro_f1')} | – | – | {_ci(none.get('vs_reference'))} | "
                f"{_p(none.get('vs_reference'))} |"
            )
        ref = methods.get("reference")
        if ref:
            lines.append(
                f"| {METHOD_TITLES['reference']} | {_pct(ref)} | – | {_pct(ref, 'wa')} | {_pct(ref, 'macro_f1')} "
                f"| {_ci(ref.get('vs_none'))} | {_p(ref.get('vs_none'))} | – | – |"
            )
        else:
            lines.append(
                f"| {METHOD_TITLES['reference']} | not computed (config reference: false) | | | | | | | |"
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
    fractions = summary.get("fractions") or {}
    lines += low_resource_table(fractions) if len(fractions) > 1 else []  # one fraction: Table II says it all
    lines += gate_table(results.get("gates") or [])
    lines += weak_lines(results.get("weak_generators") or [])
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


def low_resource_table(fractions: dict[str, Any]) -> list[str]:
    """The Δ table of the low-resource protocol: per variant and training fraction, Δ UAR against none
    (Holm-corrected Wilcoxon p over folds × seeds) and the number of paired units."""
    from misgan.augmentation.results import method_title

    if not fractions:
        return []
    keys = sorted(fractions, key=float)
    variants = list(dict.fromkeys(v for f in keys for v in fractions[f]))
    lines = [
        "",
        "## Low-resource protocol: Δ UAR vs none (percentage points; Holm-corrected p over augmenters; n = "
        "paired units, folds × seeds)",
        "",
        "| Method | " + " | ".join(f"{100 * float(f):g} % rows" for f in keys) + " |",
        "|---|" + "---|" * len(keys),
    ]
    for v in variants:
        cells = []
        for f in keys:
            row = fractions[f].get(v)
            if not row:
                cells.append("–")
            elif v in ("none", "reference") or not row.get("vs_none"):
                cells.append(f"UAR {100 * row['uar']['mean']:.2f} (n {row['n_units']})")
            else:
                d = row["vs_none"]
                p = d.get("p_holm", d["p"])
                cells.append(f"{100 * d['delta']:+.2f} (p {p:.3g}, n {d['n_units']}, {d['worse']} worse)")
        lines.append(f"| {method_title(v)} | " + " | ".join(cells) + " |")
    return lines


def gate_table(gates: list[dict[str, Any]]) -> list[str]:
    """Per fold, seed and fraction: what the cross-fitted validation gate chose and the UARs it compared."""
    if not gates:
        return []
    lines = [
        "",
        "## Validation-gated augmentation: per-fold decisions (validation speakers only; UAR %)",
        "",
        "The gate augments only when the candidate chosen on one half of the validation rows beats none on the "
        "other half by more than the margin, both ways round (the gain column is their mean).",
        "",
        "| fold | seed | fraction | method | halves | valid UAR none | best valid UAR (ratio, weight) "
        "| cross-fitted gain (pp) | decision |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for g in gates:
        best = max(g["grid"], key=lambda c: c["valid_uar"]) if g["grid"] else None
        cand = f"{100 * best['valid_uar']:.1f} ({best['ratio']:g}, {best['weight']:g})" if best else "–"
        what = f"augment: ratio {g['ratio']:g}, weight {g['weight']:g}" if g["augmented"] else "no augmentation"
        gain = g.get("crossfit_gain", float("nan"))
        halves = f"{g.get('halves', '?')} {'/'.join(str(n) for n in g.get('half_rows', []))}"
        lines.append(
            f"| {g['fold']} | {g['seed']} | {g['fraction']:g} | {g['method']} | {halves} "
            f"| {100 * g['valid_uar_none']:.1f} | {cand} | {100 * gain:+.1f} | {what} |"
        )
    kept = sum(bool(g["augmented"]) for g in gates)
    lines += ["", f"Augmentation kept in {kept} of {len(gates)} gated fold runs."]
    return lines


def weak_lines(weak: list[dict[str, Any]]) -> list[str]:
    """Folds whose generator stage 2 flagged as weak, and whether this run augmented with it."""
    if not weak:
        return []
    lines = ["", "## Weak generators", ""]
    for w in weak:
        how = "augmented with it" if w["augmented"] else "not used for augmentation (gate fell back)"
        lines.append(
            f"- fold {w['fold']} seed {w['seed']} ({100 * w['fraction']:g} % rows), {w['method']}: {how}: "
            + "; ".join(w["warnings"])
        )
    return lines
