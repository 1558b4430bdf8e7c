"""Quality metrics of a feature generator (paper §3.2: "MI as a regulariser and a measurable metric").

All functions take numpy arrays and return plain floats / dicts, so they serve training logs, tests and
reports alike.

- `mi_class_bound`: Barber–Agakov lower bound I(c; ĥ) >= H(c) − CE, in bits, where CE is the
  cross-entropy of the frozen head q(c | ĥ) = softmax(W_y·ĥ + b_y) on generated rows. Per class k the
  pointwise term is −log2 p(k) − CE_k (CE_k = mean CE over rows generated for class k); the p(k)-weighted
  mean of the per-class terms is the overall bound. The bound is at most H(c) (log2 C for balanced c).
- `infonce_bound`: I(t; ĥ) >= log B − L_It (van den Oord et al.), in bits, with L_It the InfoNCE loss of
  eq. 13 averaged over batches of B rows. It can never exceed log2 B.
- `consistency`: accuracy of the frozen head on generated rows (does ĥ carry the class it was asked for?).
- `real_vs_fake_auc`: cross-validated ROC AUC of a logistic regression telling real rows from generated
  ones; about 0.5 means indistinguishable to a linear probe, 1.0 trivially separable. Stage 2 scores it
  against the fold's *training* rows (`auc_train`): validation speakers differ from them anyway.
- `relative_consistency`: generated consistency over the real rows' (1 = as class-consistent as real data;
  above 1 = pushed past the class means, which the tstr selection rejects).
- `tstr_uar`: train on synthetic, test on real: UAR on real rows of a class-balanced logistic regression
  trained on generated rows only.
- `knn_precision_recall`: Kynkäänniemi et al. 2019: precision = share of generated rows inside some real
  row's k-NN ball (radius = distance to its k-th nearest real neighbour), recall = the converse.

Fréchet distances: `misgan.gan.frechet`; the kept epoch: `misgan.gan.selection.Selector`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.special import log_softmax

LN2 = math.log(2.0)


def entropy_bits(labels: np.ndarray, n_classes: int) -> float:
    """H(c) of the empirical label distribution, in bits (0 for no labels). Computed here: importing
    scipy.stats for `entropy` costs ~0.7 s per process, more than a stage-2 fold's evaluations."""
    counts = np.bincount(np.asarray(labels, np.int64), minlength=n_classes)
    if not counts.sum():
        return 0.0
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def mi_class_bound(logits: np.ndarray, labels: np.ndarray) -> dict[str, object]:
    """Lower bound on I(c; ĥ) in bits from head logits on generated rows and the requested classes.

    Returns {"mi_bits", "h_c_bits", "ce_bits", "per_class": [bits or None per class]}."""
    logits = np.asarray(logits, np.float64)
    labels = np.asarray(labels, np.int64)
    n, n_classes = logits.shape
    nll = -log_softmax(logits, axis=1)[np.arange(n), labels] / LN2  # bits
    counts = np.bincount(labels, minlength=n_classes)
    prior = counts / n
    per_class: list[float | None] = []
    for k in range(n_classes):
        per_class.append(None if counts[k] == 0 else float(-np.log2(prior[k]) - nll[labels == k].mean()))
    h_c = entropy_bits(labels, n_classes)
    ce = float(nll.mean())
    return {"mi_bits": h_c - ce, "h_c_bits": h_c, "ce_bits": ce, "per_class": per_class}


def consistency(logits: np.ndarray, labels: np.ndarray) -> dict[str, object]:
    """Accuracy of argmax(logits) against the requested classes, overall and per class."""
    labels = np.asarray(labels, np.int64)
    pred = np.asarray(logits).argmax(axis=1)
    n_classes = np.asarray(logits).shape[1]
    per_class = [float((pred[labels == k] == k).mean()) if (labels == k).any() else None for k in range(n_classes)]
    return {"accuracy": float((pred == labels).mean()), "per_class": per_class}


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a / np.maximum(np.linalg.norm(a, axis=1, keepdims=True), 1e-8)
    b = b / np.maximum(np.linalg.norm(b, axis=1, keepdims=True), 1e-8)
    return a @ b.T


def infonce_bound(t: np.ndarray, t_hat: np.ndarray, tau: float, batch_size: int) -> dict[str, float]:
    """log B − InfoNCE(t, t̂) in bits, InfoNCE averaged over consecutive batches of `batch_size` rows
    (a trailing partial batch is dropped unless it is the only one)."""
    t = np.asarray(t, np.float64)
    t_hat = np.asarray(t_hat, np.float64)
    n = len(t)
    b = min(batch_size, n)
    losses = []
    for start in range(0, n - b + 1, b):
        s = _cosine(t[start : start + b], t_hat[start : start + b]) / tau
        losses.append(float(-np.diag(log_softmax(s, axis=1)).mean()))
    loss = float(np.mean(losses))
    return {"infonce_bits": (math.log(b) - loss) / LN2, "infonce_loss": loss, "batch": float(b)}


def real_vs_fake_auc(
    real: np.ndarray, fake: np.ndarray, *, folds: int = 5, seed: int = 0, max_rows: int = 2000
) -> float:
    """Cross-validated ROC AUC of a standardised logistic regression separating real from generated rows
    (equal numbers of each, at most `max_rows` per side, subsampled with `seed`). With fewer rows than
    `folds` per side the folds shrink to the row count; below 2 rows the AUC is undefined (NaN), which
    a tiny validation set (one held-out speaker with few clips) must not turn into a crash."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(seed)
    n = min(len(real), len(fake), max_rows)
    if n < 2:
        return float("nan")
    folds = min(folds, n)
    r = np.asarray(real, np.float64)[rng.choice(len(real), n, replace=False)]
    f = np.asarray(fake, np.float64)[rng.choice(len(fake), n, replace=False)]
    x = np.concatenate([r, f])
    y = np.r_[np.ones(n), np.zeros(n)]
    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    proba = cross_val_predict(clf, x, y, cv=cv, method="predict_proba")[:, 1]
    return float(roc_auc_score(y, proba))


def relative_consistency(consistency_value: float, real_consistency: float) -> float:
    """Generated consistency over the real rows' (NaN when the real one is 0)."""
    return float(consistency_value / real_consistency) if real_consistency > 0 else float("nan")


def tstr_uar(
    fake: np.ndarray, y_fake: np.ndarray, real: np.ndarray, y_real: np.ndarray, *, c: float = 1.0
) -> float:
    """Train on synthetic, test on real: balanced accuracy (UAR) on (real, y_real) of a standardised,
    class-balanced logistic regression fitted to the generated rows only. NaN with fewer than 2 classes."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y_fake = np.asarray(y_fake)
    if len(np.unique(y_fake)) < 2 or len(real) == 0:
        return float("nan")
    clf = make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=300))
    clf.fit(np.asarray(fake, np.float64), y_fake)
    return float(balanced_accuracy_score(np.asarray(y_real), clf.predict(np.asarray(real, np.float64))))


def _sq_dist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances between the rows of a and b through one matrix product (BLAS), ~50x faster
    than scipy's cdist at 768 dims; clipped at 0 against rounding."""
    d = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.maximum(d, 0.0)


def kth_radius(x: np.ndarray, k: int) -> np.ndarray:
    """Squared distance of each row of x to its k-th nearest other row of x."""
    d = _sq_dist(x, x)
    np.fill_diagonal(d, np.inf)
    k = min(k, len(x) - 1)
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def knn_precision_recall(
    real: np.ndarray, fake: np.ndarray, k: int = 3, real_radius: np.ndarray | None = None
) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN balls, Euclidean distance (compared
    squared: the same balls). `real_radius`: `kth_radius(real, k)` computed once by a caller whose real rows
    are fixed (the GAN's periodic evaluation), one of the three n x n distance products."""
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if len(real) < 2 or len(fake) < 2:
        return {"precision": float("nan"), "recall": float("nan")}
    cross = _sq_dist(fake, real)  # (n_fake, n_real)
    radius = kth_radius(real, k) if real_radius is None else real_radius
    precision = float((cross <= radius[None, :]).any(axis=1).mean())
    recall = float((cross <= kth_radius(fake, k)[:, None]).any(axis=0).mean())
    return {"precision": precision, "recall": recall}


def std_ratio(real: np.ndarray, fake: np.ndarray) -> float:
    """Mean per-dimension std of generated rows over that of real rows (≈0 = collapsed generator)."""
    return float(np.asarray(fake).std(axis=0).mean() / max(np.asarray(real).std(axis=0).mean(), 1e-12))
