"""The statistics used to compare augmenters over folds: scipy's paired Wilcoxon signed-rank test and
percentile bootstrap CI of the mean paired difference, and Holm's step-down correction across augmenters.
Numbers only: no torch, no I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from misgan.metrics import MetricError


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
