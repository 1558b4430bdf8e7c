"""Full-batch training and honest model selection, shared by stage 1 (W_y on h) and stage 3's classifier.

A fold of cached features fits in memory, so heads are fitted full batch by L-BFGS in float64, on the objective
of scikit-learn's LogisticRegression (`fit_softmax`: its loss, scaling and solver settings, the same iterates):

    C · Σ_i s_i · w_{y_i} · ℓ_i  +  ½ ‖W‖²      (bias unpenalised; w: "balanced" class weights, s: row weights)

(divided by the sum of the row weights, which changes nothing but the tolerance's scale). The regularisation C is
chosen by inner grouped cross-validation over the TRAINING speakers (`select_c`): sklearn GroupKFold on the
speaker of every training row, mean UAR, ties to the smaller C; the test speaker never takes part. Rows
without a group (generated rows) are always on the inner training side.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from misgan import metrics
from misgan.errors import MisganError

C_GRID: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0, 10.0)


def balanced_weights(y: np.ndarray, n_classes: int, sample_weight: np.ndarray | None = None) -> np.ndarray:
    """sklearn's class_weight="balanced" scale: w_c = n / (K · n_c) over the K classes present, 0 if absent;
    with `sample_weight`, n and n_c are sums of row weights (as LogisticRegression computes it)."""
    from sklearn.utils.class_weight import compute_class_weight

    present = np.unique(y)
    w = np.zeros(n_classes)
    w[present] = compute_class_weight("balanced", classes=present, y=y, sample_weight=sample_weight)
    return w


def fit_softmax(
    z: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    c: float,
    *,
    class_weights: bool = True,
    sample_weight: np.ndarray | None = None,
    init: tuple[np.ndarray, np.ndarray] | None = None,
    max_iter: int = 500,
) -> tuple[np.ndarray, np.ndarray]:
    """W (n_classes, D), b (n_classes,) of the L2-penalised multinomial logistic regression above (the binary
    form when two classes are present), fitted from `init` (zeros by default; the objective is strictly
    convex, so the start changes the path, not the optimum). A class absent from `y` gets a zero row and a
    bias of -30.

    The objective, its scaling and the solver settings are scikit-learn's LogisticRegression(solver="lbfgs"):
    (1/S)·(Σ_i a_i ℓ_i + ‖W‖² / 2C), a_i = s_i · w_{y_i}, S = Σ_i a_i, scipy's L-BFGS-B with gtol 1e-4,
    ftol 64·eps, maxls 50 (tests/test_fullbatch.py checks the coefficients against it). The loss and gradient
    are a few NumPy products here, without sklearn's per-call input validation: about 20 % less CPU for the
    20 fits of one RAVDESS fold's C search (88 columns, ~480 rows), which stage 1 and stage 3 both make."""
    from scipy.optimize import minimize

    z = np.asarray(z, dtype=np.float64)
    y = np.asarray(y).astype(np.int64)
    present = np.unique(y)
    if len(present) < 2:
        raise MisganError(f"classifier: the training rows hold a single class ({int(present[0])})")
    k, d = len(present), z.shape[1]
    idx = np.searchsorted(present, y)
    sw = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    a = sw * balanced_weights(y, n_classes, sw)[y] if class_weights else sw
    l2 = 1.0 / (float(c) * a.sum())
    binary = k == 2  # sklearn's binary model: one row for class 1 against class 0
    rows = 1 if binary else k
    theta = np.zeros(rows * (d + 1))
    if init is not None:
        w0, b0 = np.asarray(init[0], np.float64)[present], np.asarray(init[1], np.float64)[present]
        if binary:
            w0, b0 = w0[1:] - w0[:1], b0[1:] - b0[:1]
        theta = np.concatenate([w0.ravel(), b0])
    loss_grad = _binary_loss_grad if binary else _multinomial_loss_grad
    res = minimize(
        loss_grad,
        theta,
        args=(z, idx, a / a.sum(), l2, rows),
        method="L-BFGS-B",
        jac=True,
        options={"maxiter": max_iter, "maxls": 50, "gtol": 1e-4, "ftol": 64 * np.finfo(float).eps},
    )
    coef, icpt = res.x[: rows * d].reshape(rows, d), res.x[rows * d :]
    if binary:
        coef, icpt = np.vstack([-coef / 2, coef / 2]), np.concatenate([-icpt / 2, icpt / 2])
    w = np.zeros((n_classes, d))
    b = np.full(n_classes, -30.0)
    w[present], b[present] = coef, icpt
    return w, b


def _multinomial_loss_grad(
    theta: np.ndarray, z: np.ndarray, idx: np.ndarray, a: np.ndarray, l2: float, k: int
) -> tuple[float, np.ndarray]:
    """Σ a_i (logsumexp(s_i) - s_{i,y_i}) + ½ l2 ‖W‖² and its gradient; s = z W' + b, a sums to 1."""
    d = z.shape[1]
    w, b = theta[: k * d].reshape(k, d), theta[k * d :]
    s = z @ w.T + b
    s -= s.max(axis=1, keepdims=True)
    e = np.exp(s)
    tot = e.sum(axis=1)
    at = np.arange(len(idx))
    loss = float(a @ (np.log(tot) - s[at, idx])) + 0.5 * l2 * float(np.vdot(w, w))
    g = e * (a / tot)[:, None]
    g[at, idx] -= a
    return loss, np.concatenate([(g.T @ z + l2 * w).ravel(), g.sum(axis=0)])


def _binary_loss_grad(
    theta: np.ndarray, z: np.ndarray, idx: np.ndarray, a: np.ndarray, l2: float, k: int
) -> tuple[float, np.ndarray]:
    """Σ a_i (log(1 + e^{s_i}) - y_i s_i) + ½ l2 ‖v‖² and its gradient; s = z v + c, y_i in {0, 1}."""
    v, c = theta[:-1], theta[-1]
    s = z @ v + c
    loss = float(a @ (np.logaddexp(0.0, s) - idx * s)) + 0.5 * l2 * float(v @ v)
    g = a * (0.5 * (1.0 + np.tanh(0.5 * s)) - idx)  # the sigmoid without overflow
    return loss, np.concatenate([z.T @ g + l2 * v, [g.sum()]])


def inner_splits(groups: np.ndarray, n_splits: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """GroupKFold over the rows that have a group ("" / None = always training); positions into `groups`."""
    from sklearn.model_selection import GroupKFold

    g = np.asarray(["" if v is None else str(v) for v in groups])
    has = np.flatnonzero(g != "")
    free = np.flatnonzero(g == "")
    k = min(n_splits, len(set(g[has].tolist())))
    if k < 2:
        raise MisganError("model selection: inner cross-validation needs at least two training speakers")
    out = []
    for tr, te in GroupKFold(n_splits=k).split(has, groups=g[has]):
        out.append((np.sort(np.concatenate([has[tr], free])), has[te]))
    return out


def select_c(
    fit_score: Callable[[float, np.ndarray, np.ndarray], float],
    groups: np.ndarray,
    grid: Sequence[float] = C_GRID,
    n_splits: int = 4,
) -> tuple[float, dict[float, float]]:
    """The C of `grid` with the best mean `fit_score(c, inner_train_rows, inner_test_rows)` over grouped inner
    folds; ties go to the smaller C (stronger regularisation). Returns (C, {C: mean score})."""
    splits = inner_splits(groups, n_splits)
    scores = {float(c): float(np.mean([fit_score(float(c), tr, te) for tr, te in splits])) for c in sorted(grid)}
    return max(scores, key=lambda c: (round(scores[c], 12), -c)), scores


def softmax_scorer(
    z: np.ndarray, y: np.ndarray, n_classes: int, **fit_kw: Any
) -> Callable[[float, np.ndarray, np.ndarray], float]:
    """`fit_score` for `select_c`: UAR on the inner test rows of `fit_softmax` fitted on the inner training rows.
    `sample_weight` in fit_kw is per row of z and is sliced with the rows."""
    sw = fit_kw.pop("sample_weight", None)

    def score(c: float, tr: np.ndarray, te: np.ndarray) -> float:
        w, b = fit_softmax(z[tr], y[tr], n_classes, c, sample_weight=None if sw is None else sw[tr], **fit_kw)
        return metrics.uar(y[te], (z[te] @ w.T + b).argmax(1))

    return score


def pca_basis(x: np.ndarray, k: int) -> np.ndarray:
    """(D, k') orthonormal principal directions of the (already centred) rows x, k' = min(k, rank); computed
    from the smaller of the Gram and covariance matrices. Signs fixed (largest entry positive) for
    reproducibility."""
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    if d <= n:
        vals, vecs = np.linalg.eigh(x.T @ x)
        order = np.argsort(vals)[::-1]
        vals, basis = vals[order], vecs[:, order]
    else:
        vals, u = np.linalg.eigh(x @ x.T)
        order = np.argsort(vals)[::-1]
        vals, u = vals[order], u[:, order]
        pos = vals > 0
        basis = np.zeros((d, len(vals)))
        basis[:, pos] = x.T @ (u[:, pos] / np.sqrt(vals[pos]))
    keep = min(k, int((vals > vals[0] * 1e-10).sum()) if vals[0] > 0 else 1)
    basis = basis[:, :keep]
    sign = np.sign(basis[np.abs(basis).argmax(axis=0), np.arange(keep)])
    return basis * np.where(sign == 0, 1, sign)
