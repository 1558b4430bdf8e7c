"""misgan.alignment.fullbatch.fit_softmax against scikit-learn's LogisticRegression (the objective it states)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from misgan.alignment.fullbatch import balanced_weights, fit_softmax
from misgan.errors import MisganError


def data(k: int, n: int = 240, d: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, n)
    y[:k] = np.arange(k)  # every class present
    z = rng.normal(size=(n, d))
    z[:, :2] += np.c_[y, -y] * 0.7
    return z, y


def sk_rows(m: LogisticRegression) -> tuple[np.ndarray, np.ndarray]:
    """sklearn's coefficients as one row per class (its binary model keeps one row: class 1 against 0)."""
    if len(m.classes_) == 2:
        return np.vstack([-m.coef_ / 2, m.coef_ / 2]), np.r_[-m.intercept_ / 2, m.intercept_ / 2]
    return m.coef_, m.intercept_


@pytest.mark.parametrize("k", [2, 4])
@pytest.mark.parametrize("c", [0.01, 1.0, 10.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_fit_softmax_follows_sklearns_path(k: int, c: float, weighted: bool) -> None:
    z, y = data(k)
    sw = np.random.default_rng(1).uniform(0.25, 2.0, len(y)) if weighted else None
    w, b = fit_softmax(z, y, k, c, sample_weight=sw)
    # the same objective, scaling and L-BFGS settings: the same iterates, so equal to rounding at sklearn's tol
    m = LogisticRegression(C=c, class_weight="balanced", max_iter=500, tol=1e-4).fit(z, y, sample_weight=sw)
    rw, rb = sk_rows(m)
    np.testing.assert_allclose(w, rw, atol=1e-9)
    np.testing.assert_allclose(b, rb, atol=1e-9)
    assert np.array_equal((z @ w.T + b).argmax(1), m.predict(z))


def test_fit_softmax_unweighted_and_warm_start_reach_the_optimum() -> None:
    z, y = data(3, seed=2)
    m = LogisticRegression(C=0.5, max_iter=5000, tol=1e-10).fit(z, y)
    w, b = fit_softmax(z, y, 3, 0.5, class_weights=False)
    np.testing.assert_allclose(w, m.coef_, atol=2e-3)
    np.testing.assert_allclose(b, m.intercept_, atol=2e-3)
    # a start near the optimum changes the path, not the optimum
    w2, b2 = fit_softmax(z, y, 3, 0.5, class_weights=False, init=(m.coef_ * 0.9, m.intercept_))
    np.testing.assert_allclose(w2, m.coef_, atol=2e-3)
    np.testing.assert_allclose(b2, m.intercept_, atol=2e-3)


def test_fit_softmax_absent_class_and_single_class() -> None:
    z, y = data(3, seed=3)
    y = np.where(y == 1, 2, y)  # class 1 absent out of 4
    w, b = fit_softmax(z, y, 4, 1.0)
    assert np.all(w[[1, 3]] == 0) and b[1] == b[3] == -30.0
    m = LogisticRegression(C=1.0, class_weight="balanced", max_iter=500, tol=1e-4).fit(z, y)
    np.testing.assert_allclose(w[[0, 2]], sk_rows(m)[0], atol=1e-9)
    with pytest.raises(MisganError, match="single class"):
        fit_softmax(z, np.zeros(len(z), int), 4, 1.0)


def test_balanced_weights_with_row_weights() -> None:
    y = np.array([0, 0, 0, 1])
    np.testing.assert_allclose(balanced_weights(y, 3), [4 / 6, 2.0, 0.0])
    # weighted counts: class 0 weighs 3 x 0.5, class 1 weighs 1.5; total 3 -> 3 / (2 * 1.5) = 1 each
    np.testing.assert_allclose(balanced_weights(y, 2, np.array([0.5, 0.5, 0.5, 1.5])), [1.0, 1.0])
