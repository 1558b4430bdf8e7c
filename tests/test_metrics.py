"""Metrics against scikit-learn, statistics against scipy and hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import wilcoxon
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score

from misgan import metrics


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
    got = metrics.wilcoxon_paired(a, b)
    ref = wilcoxon(a, b)
    assert got["p_value"] == pytest.approx(ref.pvalue)
    assert got["p_value"] < 0.01
    same = metrics.wilcoxon_paired(a, a)
    assert same == {"statistic": 0.0, "p_value": 1.0, "n": 24, "n_nonzero": 0}


def test_bootstrap_ci_seeded_and_covers_mean():
    rng = np.random.default_rng(1)
    d = 0.03 + 0.01 * rng.standard_normal(24)
    base = np.zeros(24)
    ci = metrics.bootstrap_ci(d, base, seed=3, n_boot=2000)
    assert ci["ci_low"] < ci["mean_diff"] < ci["ci_high"]
    assert ci["mean_diff"] == pytest.approx(d.mean())
    assert ci["ci_low"] > 0  # a clear positive shift excludes zero
    assert metrics.bootstrap_ci(d, base, seed=3, n_boot=2000) == ci
    assert metrics.bootstrap_ci(d, base, seed=4, n_boot=2000) != ci
