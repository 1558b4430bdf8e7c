"""results.json runs -> tables: per variant mean ± std over folds, paired tests against the baselines,
and the low-resource Δ table over training fractions (what the stage-3 report and results.json show).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from misgan.metrics import mean_std
from misgan.stats import compare_paired, holm, wilcoxon_paired

# A run record is {fold, seed, variant, ratio, metrics}: written by the stage-3 driver, read by the report.


def fold_scores(results: dict[str, Any], variant: str, metric: str = "uar", ratio: float | None = None) -> dict:
    """fold -> score averaged over seeds, for one variant (and ratio, when given)."""
    acc: dict[str, list[float]] = {}
    for r in results["runs"]:
        if r["variant"] != variant or (ratio is not None and not np.isclose(r["ratio"], ratio)):
            continue
        acc.setdefault(r["fold"], []).append(float(r["metrics"][metric]))
    return {f: float(np.mean(v)) for f, v in acc.items()}


def seed_spread(results: dict[str, Any], variant: str, metric: str = "uar", ratio: float | None = None) -> float:
    """Std over seeds of the fold-averaged score (0 with one seed)."""
    per_seed: dict[int, list[float]] = {}
    for r in results["runs"]:
        if r["variant"] == variant and (ratio is None or np.isclose(r["ratio"], ratio)):
            per_seed.setdefault(r["seed"], []).append(float(r["metrics"][metric]))
    means = [np.mean(v) for v in per_seed.values()]
    return float(np.std(means, ddof=1)) if len(means) > 1 else 0.0


def _stats(results: dict[str, Any], variant: str, ratio: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for metric in ("uar", "wa", "macro_f1"):
        scores = fold_scores(results, variant, metric, ratio)
        if not scores:
            return {}
        m, s = mean_std(list(scores.values()))
        out[metric] = {"mean": m, "std": s, "seed_std": seed_spread(results, variant, metric, ratio)}
    out["n_folds"] = len(fold_scores(results, variant, "uar", ratio))
    return out


def _paired(results: dict[str, Any], a: str, b: str, seed: int, ratio_a: float | None = None) -> dict | None:
    sa, sb = fold_scores(results, a, ratio=ratio_a), fold_scores(results, b)
    common = sorted(set(sa) & set(sb))
    if not common:
        return None
    return compare_paired([sa[f] for f in common], [sb[f] for f in common], seed=seed)


def main_fraction(results: dict[str, Any]) -> dict[str, Any]:
    """results restricted to the largest training fraction (all rows when records have no fraction):
    the classical tables (Table II, ablation, ratios) describe that one."""
    runs = results.get("runs") or []
    fractions = {float(r.get("fraction", 1.0)) for r in runs}
    if len(fractions) <= 1:
        return results
    top = max(fractions)
    return {**results, "runs": [r for r in runs if float(r.get("fraction", 1.0)) == top]}


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """Tables as numbers: per variant mean ± std over folds and paired tests against the baselines; with
    several training fractions, `fractions` (the low-resource Δ table, see `fraction_summary`)."""
    out = _summarise_main(main_fraction(results))
    fractions = {float(r.get("fraction", 1.0)) for r in results.get("runs") or []}
    if len(fractions) > 1 or any("fraction" in r for r in results.get("runs") or []):
        out["fractions"] = fraction_summary(results)
    return out


def _summarise_main(results: dict[str, Any]) -> dict[str, Any]:
    seed = int(results.get("config", {}).get("seed", 0))
    ratio = float(results.get("config", {}).get("ratio", 1.0))
    variants = list(dict.fromkeys(r["variant"] for r in results["runs"]))
    out: dict[str, Any] = {"methods": {}, "ablation": {}, "ratios": {}, "multimodal": {}}
    for v in variants:
        if v.startswith("ablation:"):
            continue
        entry = _stats(results, v, ratio if v == "ours" else None)
        if v != "none":
            entry["vs_none"] = _paired(results, v, "none", seed, ratio if v == "ours" else None)
        if v != "reference" and "reference" in variants:
            entry["vs_reference"] = _paired(results, v, "reference", seed, ratio if v == "ours" else None)
        out["methods"][v] = entry
    for key in ("full", "noalign", "noalign_notext", "noalign_nomi", "noalign_noaug"):
        v = f"ablation:{key}"
        if v not in variants:
            continue
        entry = _stats(results, v)
        if key != "full":
            entry["vs_full"] = _paired(results, v, "ablation:full", seed)
        if key != "noalign_noaug":
            entry["vs_noaug"] = _paired(results, v, "ablation:noalign_noaug", seed)
        out["ablation"][key] = entry
    ratios = sorted({float(r["ratio"]) for r in results["runs"] if r["variant"] == "ours"})
    if len(ratios) > 1:
        out["ratios"] = {str(r): _stats(results, "ours", r) for r in ratios}
    mm = results.get("multimodal") or []
    for augmented in (False, True):
        rows = [r for r in mm if r["augmented"] == augmented]
        if not rows:
            continue
        cols = {}
        for col in ("audio", "text", "audio_text"):
            per_fold: dict[str, list[float]] = {}
            for r in rows:
                per_fold.setdefault(r["fold"], []).append(r[col]["uar"])
            m, s = mean_std([float(np.mean(v)) for v in per_fold.values()])
            cols[col] = {"mean": m, "std": s, "per_fold": {f: float(np.mean(v)) for f, v in per_fold.items()}}
        out["multimodal"]["augmented" if augmented else "none"] = cols
    if "none" in out["multimodal"] and "augmented" in out["multimodal"]:
        for col in ("audio", "text", "audio_text"):
            a = out["multimodal"]["augmented"][col]["per_fold"]
            b = out["multimodal"]["none"][col]["per_fold"]
            common = sorted(set(a) & set(b))
            out["multimodal"]["augmented"][col]["vs_none"] = compare_paired(
                [a[f] for f in common], [b[f] for f in common], seed=seed
            )
    base = [v for v in (results.get("stage1_baseline") or {}).values() if v]
    if base:
        m, s = mean_std([float(b["uar"]) for b in base])
        out["stage1_baseline"] = {"uar": {"mean": m, "std": s}}
    return out


def unit_scores(
    results: dict[str, Any], variant: str, fraction: float, metric: str = "uar", ratio: float | None = None
) -> dict[str, float]:
    """ "fold.seedK" -> score of one variant at one training fraction: the paired units of the Δ table."""
    out: dict[str, float] = {}
    for r in results["runs"]:
        if r["variant"] != variant or not np.isclose(float(r.get("fraction", 1.0)), fraction):
            continue
        if ratio is not None and not np.isclose(r["ratio"], ratio):
            continue
        out[f"{r['fold']}.seed{r['seed']}"] = float(r["metrics"][metric])
    return out


def _delta(a: dict[str, float], b: dict[str, float]) -> dict[str, Any] | None:
    common = sorted(set(a) & set(b))
    if not common:
        return None
    x, y = [a[u] for u in common], [b[u] for u in common]
    w = wilcoxon_paired(x, y)
    diff = np.asarray(x) - np.asarray(y)
    return {
        "delta": float(diff.mean()),
        "p": w["p_value"],
        "n_units": len(common),
        "better": int(np.sum(diff > 0)),
        "worse": int(np.sum(diff < 0)),
    }


def fraction_summary(results: dict[str, Any]) -> dict[str, Any]:
    """Per training fraction: each variant's mean ± std over paired units (fold × seed), its Δ against "none"
    and against the reference (Wilcoxon over the units), and the Δ-vs-none p-values Holm-corrected across the
    augmenters of that fraction (`p_holm`). Keys are the fractions as strings ("0.1", "1.0")."""
    ratio = float(results.get("config", {}).get("ratio", 1.0))
    variants = [
        v for v in dict.fromkeys(r["variant"] for r in results["runs"]) if not str(v).startswith("ablation:")
    ]
    fractions = sorted({float(r.get("fraction", 1.0)) for r in results["runs"]})
    out: dict[str, Any] = {}
    for f in fractions:
        scores = {v: unit_scores(results, v, f, ratio=ratio if v == "ours" else None) for v in variants}
        rows: dict[str, Any] = {}
        for v, sc in scores.items():
            if not sc:
                continue
            m, s = mean_std(list(sc.values()))
            row: dict[str, Any] = {"uar": {"mean": m, "std": s}, "n_units": len(sc)}
            if v != "none" and "none" in scores:
                row["vs_none"] = _delta(sc, scores["none"])
            if v != "reference" and scores.get("reference"):
                row["vs_reference"] = _delta(sc, scores["reference"])
            rows[v] = row
        augmenters = [v for v in rows if v not in ("none", "reference") and rows[v].get("vs_none")]
        for v, p in zip(augmenters, holm([rows[v]["vs_none"]["p"] for v in augmenters]), strict=True):
            rows[v]["vs_none"]["p_holm"] = p
        out[str(f)] = rows
    return out
