"""Classification metrics and the statistics used to compare augmenters over folds.

UAR (unweighted average recall) is the primary figure, as in the paper; WA is plain accuracy.
UAR, WA, macro-F1 and the confusion matrix are scikit-learn's (`balanced_accuracy_score`, `accuracy_score`,
`f1_score` with average="macro", `confusion_matrix`), so a class absent from a test speaker's rows does not
count towards UAR; the paired statistics are scipy's (`wilcoxon`, `bootstrap`). These wrappers add the
checks and the conventions misgan relies on. Numbers only: no torch, no I/O.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from misgan.errors import MisganError


class MetricError(MisganError):
    """Predictions and references do not match up (length, empty input)."""


def _check(y_true: Any, y_pred: Any) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true).astype(np.int64).ravel()
    p = np.asarray(y_pred).astype(np.int64).ravel()
    if len(t) != len(p):
        raise MetricError(f"metrics: {len(t)} reference labels but {len(p)} predictions")
    if len(t) == 0:
        raise MetricError("metrics: no rows to score")
    return t, p


def confusion(y_true: Any, y_pred: Any, n_classes: int | None = None) -> np.ndarray:
    """Counts (C, C): row = true class, column = predicted class (`sklearn.metrics.confusion_matrix` over
    the labels 0..C-1, so a class absent from both sides still gets its row and column)."""
    from sklearn.metrics import confusion_matrix

    t, p = _check(y_true, y_pred)
    c = int(max(t.max(), p.max()) + 1) if n_classes is None else int(n_classes)
    if t.max() >= c or p.max() >= c or min(t.min(), p.min()) < 0:
        raise MetricError(f"metrics: labels outside 0..{c - 1}")
    return confusion_matrix(t, p, labels=np.arange(c))


def uar(y_true: Any, y_pred: Any) -> float:
    """Mean per-class recall over the classes present in y_true (`sklearn.metrics.balanced_accuracy_score`).
    A predicted class absent from y_true (a test speaker without one emotion) and a single class on both
    sides are expected here, so sklearn's warnings about them are silenced."""
    from sklearn.metrics import balanced_accuracy_score

    t, p = _check(y_true, y_pred)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        warnings.filterwarnings("ignore", message="A single label was found")
        return float(balanced_accuracy_score(t, p))


def wa(y_true: Any, y_pred: Any) -> float:
    """Weighted accuracy: the fraction of rows predicted correctly (`sklearn.metrics.accuracy_score`)."""
    from sklearn.metrics import accuracy_score

    t, p = _check(y_true, y_pred)
    return float(accuracy_score(t, p))


def macro_f1(y_true: Any, y_pred: Any) -> float:
    """Unweighted mean F1 (`sklearn.metrics.f1_score`, average="macro") over the classes seen in y_true or
    y_pred (scikit-learn's default labels: a class absent from both does not pull the mean to 0); a class
    never predicted, or never present, scores 0 without a warning (zero_division=0)."""
    from sklearn.metrics import f1_score

    t, p = _check(y_true, y_pred)
    return float(f1_score(t, p, average="macro", zero_division=0))


def classification_metrics(y_true: Any, y_pred: Any, n_classes: int) -> dict[str, Any]:
    """UAR, WA, macro-F1 and the confusion matrix (as nested lists, ready for JSON)."""
    return {
        "uar": uar(y_true, y_pred),
        "wa": wa(y_true, y_pred),
        "macro_f1": macro_f1(y_true, y_pred),
        "confusion": confusion(y_true, y_pred, n_classes).tolist(),
    }


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1; 0.0 for a single value)."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise MetricError("mean_std: no values")
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def wilcoxon_paired(treated: Sequence[float], control: Sequence[float]) -> dict[str, float | int]:
    """Two-sided Wilcoxon signed-rank test of treated against control, paired by fold.

    All-zero differences (identical results) give p = 1 rather than scipy's error/NaN: there is no
    evidence of a difference. Zero differences are dropped ("wilcox"), as is usual for this test.
    """
    from scipy.stats import wilcoxon

    a = np.asarray(treated, dtype=np.float64)
    b = np.asarray(control, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise MetricError(f"wilcoxon: paired inputs differ in shape ({a.shape} vs {b.shape})")
    d = a - b
    nonzero = int(np.sum(d != 0))
    if nonzero == 0:
        return {"statistic": 0.0, "p_value": 1.0, "n": int(d.size), "n_nonzero": 0}
    res = wilcoxon(a, b, zero_method="wilcox", alternative="two-sided")
    return {
        "statistic": float(res.statistic),
        "p_value": float(res.pvalue),
        "n": int(d.size),
        "n_nonzero": nonzero,
    }


def bootstrap_ci(
    treated: Sequence[float], control: Sequence[float], *, n_boot: int = 10000, level: float = 0.95, seed: int = 0
) -> dict[str, float]:
    """Percentile bootstrap CI (`scipy.stats.bootstrap`, seeded) of the mean paired difference
    (treated − control), resampling folds. One pair has no spread to resample: its CI is the difference."""
    from scipy.stats import bootstrap

    a = np.asarray(treated, dtype=np.float64)
    b = np.asarray(control, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise MetricError(f"bootstrap: paired inputs differ in shape ({a.shape} vs {b.shape})")
    d = a - b
    if d.size == 0:
        raise MetricError("bootstrap: no paired values")
    if d.size == 1:
        lo = hi = float(d[0])
    else:
        res = bootstrap(
            (d,),
            np.mean,
            n_resamples=n_boot,
            confidence_level=level,
            method="percentile",
            vectorized=True,
            rng=np.random.default_rng(seed),
        )
        lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return {"mean_diff": float(d.mean()), "ci_low": lo, "ci_high": hi, "level": level}


def compare_paired(
    treated: Sequence[float], control: Sequence[float], *, seed: int = 0, n_boot: int = 10000
) -> dict[str, Any]:
    """Wilcoxon p-value and bootstrap CI in one record (what results.json stores per method)."""
    return {
        "wilcoxon": wilcoxon_paired(treated, control),
        "bootstrap": bootstrap_ci(treated, control, seed=seed, n_boot=n_boot),
    }


# ---------------------------------------------------------------- results.json runs -> tables
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


# ---------------------------------------------------------------- multiple comparisons, low-resource table


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error control), in the input order.

    Sorted ascending, p_(i) is multiplied by (m − i) (i from 0), a running maximum keeps the adjusted values
    monotone, and they are capped at 1: the same as statsmodels' `multipletests(method="holm")`."""
    p = np.asarray(pvalues, dtype=np.float64)
    if p.ndim != 1:
        raise MetricError("holm: expected a flat list of p-values")
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise MetricError("holm: p-values must lie in [0, 1]")
    m = p.size
    order = np.argsort(p, kind="stable")
    adj = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adj
    return out.tolist()


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
