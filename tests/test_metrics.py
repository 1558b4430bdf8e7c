"""Metrics and paired statistics: our wrappers of scikit-learn and scipy, their conventions and edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wilcoxon
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

from misgan import metrics, stats
from misgan.augmentation import summary


@pytest.mark.filterwarnings("ignore:y_pred contains classes not in y_true")
@pytest.mark.parametrize("seed", range(6))
def test_metrics_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    n_classes = 4
    y = rng.integers(0, n_classes, 80)
    p = np.where(rng.random(80) < 0.6, y, rng.integers(0, n_classes, 80))
    if seed == 5:  # a test speaker without one class (and a prediction of it): UAR over present classes
        y[y == 3] = 0
    assert metrics.uar(y, p) == pytest.approx(balanced_accuracy_score(y, p), abs=1e-12)
    assert metrics.wa(y, p) == pytest.approx(accuracy_score(y, p), abs=1e-12)
    assert metrics.macro_f1(y, p) == pytest.approx(f1_score(y, p, average="macro", zero_division=0), abs=1e-12)
    np.testing.assert_array_equal(metrics.confusion(y, p, n_classes), confusion_matrix(y, p, labels=range(4)))


def test_hand_computed_uar_differs_from_wa():
    y = [0, 0, 0, 0, 1]
    p = [0, 0, 0, 0, 0]
    assert metrics.wa(y, p) == pytest.approx(0.8)
    assert metrics.uar(y, p) == pytest.approx(0.5)
    m = metrics.classification_metrics(y, p, 2)
    assert m["confusion"] == [[4, 0], [1, 0]]


def test_bad_inputs_raise():
    with pytest.raises(metrics.MetricError, match="2 reference labels but 3"):
        metrics.uar([0, 1], [0, 1, 1])
    with pytest.raises(metrics.MetricError):
        metrics.wa([], [])


def test_mean_std_sample_std():
    m, s = metrics.mean_std([1.0, 2.0, 3.0, 4.0])
    assert m == pytest.approx(2.5)
    assert s == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert metrics.mean_std([0.7]) == (0.7, 0.0)


def test_wilcoxon_matches_scipy_and_handles_ties():
    rng = np.random.default_rng(0)
    a = rng.random(24)
    b = a - 0.02 + 0.01 * rng.standard_normal(24)
    got = stats.wilcoxon_paired(a, b)
    ref = wilcoxon(a, b)
    assert got["p_value"] == pytest.approx(ref.pvalue)
    assert got["p_value"] < 0.01
    same = stats.wilcoxon_paired(a, a)
    assert same == {"statistic": 0.0, "p_value": 1.0, "n": 24, "n_nonzero": 0}


def test_bootstrap_ci_seeded_and_covers_mean():
    rng = np.random.default_rng(1)
    d = 0.03 + 0.01 * rng.standard_normal(24)
    base = np.zeros(24)
    ci = stats.bootstrap_ci(d, base, seed=3, n_boot=2000)
    assert ci["ci_low"] < ci["mean_diff"] < ci["ci_high"]
    assert ci["mean_diff"] == pytest.approx(d.mean())
    assert ci["ci_low"] > 0  # a clear positive shift excludes zero
    assert stats.bootstrap_ci(d, base, seed=3, n_boot=2000) == ci
    assert stats.bootstrap_ci(d, base, seed=4, n_boot=2000) != ci


# ---- our use of scikit-learn / scipy: the conventions the wrappers add --------------------------------


def test_uar_counts_only_true_classes_and_stays_quiet_about_extra_predictions():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # sklearn's "y_pred contains classes not in y_true" is expected here
        # class 2 is predicted but absent from the test speaker: recalls 1/2 (class 0) and 1 (class 1)
        assert metrics.uar([0, 0, 1], [0, 2, 1]) == pytest.approx(0.75)
        # a true class never predicted counts with recall 0
        assert metrics.uar([0, 0, 1, 1], [0, 0, 0, 0]) == pytest.approx(0.5)
        assert metrics.uar([1, 1], [1, 1]) == 1.0  # one class on both sides (sklearn warns about the shape)
        # macro-F1 over the classes seen on either side; F1 of never-predicted class 1 is 0, without a warning
        assert metrics.macro_f1([0, 0, 1, 1], [0, 0, 0, 0]) == pytest.approx((2 * 2 / (2 * 2 + 2) + 0) / 2)


def test_macro_f1_ignores_classes_absent_from_both_sides():
    # 4 classes exist, this speaker shows only 0 and 1, perfectly predicted: 1.0, not 0.5
    assert metrics.macro_f1([0, 1, 0, 1], [0, 1, 0, 1]) == pytest.approx(1.0)
    assert metrics.classification_metrics([0, 1], [0, 1], 4)["macro_f1"] == pytest.approx(1.0)


def test_confusion_has_every_class_of_n_classes():
    m = metrics.confusion([0, 1, 1], [0, 1, 0], n_classes=4)
    assert m.shape == (4, 4) and m.sum() == 3
    assert m.tolist() == [[1, 0, 0, 0], [1, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    assert metrics.confusion([0, 2], [2, 2]).shape == (3, 3)  # no n_classes: the largest label seen + 1
    with pytest.raises(metrics.MetricError, match=r"outside 0\.\.1"):
        metrics.confusion([0, 2], [0, 1], n_classes=2)  # sklearn would silently drop label 2
    assert len(metrics.classification_metrics([0], [0], 3)["confusion"]) == 3


def test_bootstrap_ci_is_the_percentile_interval_of_resampled_mean_differences():
    rng = np.random.default_rng(7)
    treated, control = rng.normal(0.6, 0.05, 12), rng.normal(0.55, 0.05, 12)
    d = treated - control
    ci = stats.bootstrap_ci(treated, control, n_boot=20000, seed=0)
    # an independent percentile bootstrap of the fold differences (other resamples): the same interval
    means = d[np.random.default_rng(99).integers(0, 12, (20000, 12))].mean(1)
    lo, hi = np.quantile(means, [0.025, 0.975])
    width = hi - lo
    assert ci["ci_low"] == pytest.approx(lo, abs=0.05 * width)
    assert ci["ci_high"] == pytest.approx(hi, abs=0.05 * width)
    assert ci["level"] == 0.95 and ci["mean_diff"] == pytest.approx(d.mean())
    narrow = stats.bootstrap_ci(treated, control, n_boot=20000, seed=0, level=0.5)
    assert ci["ci_low"] < narrow["ci_low"] < narrow["ci_high"] < ci["ci_high"]


def test_bootstrap_ci_edge_cases():
    # one fold: no spread to resample, the interval is the difference itself (scipy refuses one sample)
    assert stats.bootstrap_ci([0.7], [0.6]) == {
        "mean_diff": pytest.approx(0.1),
        "ci_low": pytest.approx(0.1),
        "ci_high": pytest.approx(0.1),
        "level": 0.95,
    }
    same = stats.bootstrap_ci([0.5, 0.6, 0.7], [0.5, 0.6, 0.7])
    assert same["ci_low"] == same["ci_high"] == same["mean_diff"] == 0.0
    with pytest.raises(metrics.MetricError, match="differ in shape"):
        stats.bootstrap_ci([0.5, 0.6], [0.5])
    with pytest.raises(metrics.MetricError, match="no paired values"):
        stats.bootstrap_ci([], [])
    out = stats.compare_paired([0.7, 0.8, 0.75], [0.6, 0.7, 0.7], seed=1, n_boot=500)
    assert set(out) == {"wilcoxon", "bootstrap"} and out["bootstrap"]["ci_low"] > 0


def test_holm_matches_hand_computed_values():
    # sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.02 0.03 0.06 0.06
    assert stats.holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])  # capped at 1
    assert stats.holm([0.2]) == pytest.approx([0.2])
    assert stats.holm([]) == []
    try:
        from statsmodels.stats.multitest import multipletests
    except ImportError:
        return
    p = np.random.default_rng(0).uniform(size=9)
    assert stats.holm(p) == pytest.approx(multipletests(p, method="holm")[1].tolist())


def test_holm_rejects_bad_p_values():
    with pytest.raises(metrics.MetricError):
        stats.holm([0.1, 1.5])
    with pytest.raises(metrics.MetricError):
        stats.holm([float("nan")])


def _run(fold, seed, variant, fraction, uar):
    return {
        "fold": fold,
        "seed": seed,
        "variant": variant,
        "ratio": 1.0,
        "fraction": fraction,
        "metrics": {"uar": uar, "wa": uar, "macro_f1": uar},
    }


def test_fraction_summary_pairs_folds_times_seeds_and_holm_corrects():
    rng = np.random.default_rng(1)
    runs = []
    base = {}
    for f in ("a", "b", "c", "d"):
        for s in (0, 1, 2):
            for frac in (0.25, 1.0):
                b = rng.uniform(0.5, 0.7)
                base[(f, s, frac)] = b
                runs.append(_run(f, s, "none", frac, b))
                runs.append(_run(f, s, "reference", frac, b + 0.03))
                runs.append(_run(f, s, "noise", frac, b - 0.02 - 0.001 * s))  # worse in every unit
                runs.append(_run(f, s, "mixup", frac, b + rng.normal(0, 0.01)))
    out = summary.fraction_summary({"runs": runs, "config": {"ratio": 1.0}})
    assert set(out) == {"0.25", "1.0"}
    row = out["0.25"]["noise"]["vs_none"]
    assert row["n_units"] == 12 and row["worse"] == 12
    units = sorted(k for k in base if k[2] == 0.25)
    diffs = [-0.02 - 0.001 * s for _, s, _ in units]
    assert row["delta"] == pytest.approx(np.mean(diffs))
    noise_p = wilcoxon([base[u] + d for u, d in zip(units, diffs, strict=True)], [base[u] for u in units]).pvalue
    assert row["p"] == pytest.approx(noise_p)
    mix = out["0.25"]["mixup"]["vs_none"]
    assert [row["p_holm"], mix["p_holm"]] == pytest.approx(stats.holm([row["p"], mix["p"]]))
    assert out["1.0"]["none"]["vs_reference"]["delta"] == pytest.approx(-0.03)
    assert "p_holm" not in (out["1.0"]["reference"].get("vs_none") or {})
    # the classical tables describe the largest fraction only
    s = summary.summarise({"runs": runs, "config": {"ratio": 1.0, "seed": 0}})
    assert s["methods"]["noise"]["n_folds"] == 4 and "fractions" in s
    assert s["methods"]["none"]["vs_reference"]["bootstrap"]["mean_diff"] == pytest.approx(-0.03)
