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
- `frechet_distance`: ||μ1 − μ2||² + tr(Σ1 + Σ2 − 2 (Σ1^½ Σ2 Σ1^½)^½), computed with symmetric eigen-
  decompositions (Σ1^½ Σ2 Σ1^½ is symmetric PSD), which stays real and stable where sqrtm of the
  non-symmetric Σ1·Σ2 returns complex noise.
- `class_frechet_distance`: the class-frequency-weighted mean of per-class Fréchet distances (realism
  and conditioning at once; used by stage 2's default checkpoint selection).
- `real_vs_fake_auc`: cross-validated ROC AUC of a logistic regression telling real rows from generated
  ones; about 0.5 means indistinguishable to a linear probe, 1.0 trivially separable. Stage 2 scores it
  against the fold's *training* rows (`auc_train`): validation speakers differ from them anyway.
- `relative_consistency`: generated consistency over the real rows' (1 = as class-consistent as real data;
  above 1 = pushed past the class means, which the tstr selection rejects).
- `tstr_uar`: train on synthetic, test on real: UAR on real rows of a class-balanced logistic regression
  trained on generated rows only.
- `knn_precision_recall`: Kynkäänniemi et al. 2019: precision = share of generated rows inside some real
  row's k-NN ball (radius = distance to its k-th nearest real neighbour), recall = the converse.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from scipy.special import log_softmax

LN2 = math.log(2.0)


def entropy_bits(labels: np.ndarray, n_classes: int) -> float:
    """H(c) of the empirical label distribution, in bits (`scipy.stats.entropy` of the class counts;
    0 for no labels)."""
    from scipy.stats import entropy

    counts = np.bincount(np.asarray(labels, np.int64), minlength=n_classes)
    return float(entropy(counts, base=2)) if counts.sum() else 0.0


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


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


class FrechetReference:
    """The real side of a Fréchet distance, prepared once (mean, covariance, its square root), so that
    scoring a generated set costs one `eigvalsh` instead of two full eigen-decompositions."""

    def __init__(self, mu: np.ndarray, cov: np.ndarray) -> None:
        self.mu = np.asarray(mu, np.float64)
        self.cov = np.asarray(cov, np.float64)
        self.root = _sqrt_psd(self.cov)
        self.trace = float(np.trace(self.cov))

    @classmethod
    def from_rows(cls, x: np.ndarray) -> FrechetReference:
        x = np.asarray(x, np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise ValueError(f"frechet_distance: need an (n>=2, D) array, got {x.shape}")
        return cls(x.mean(0), np.cov(x, rowvar=False))

    def distance_to_moments(self, mu: np.ndarray, cov: np.ndarray) -> float:
        cov = np.asarray(cov, np.float64)
        w = np.linalg.eigvalsh(self.root @ cov @ self.root)
        tr_cross = float(np.sqrt(np.clip(w, 0, None)).sum())
        diff = self.mu - np.asarray(mu, np.float64)
        return float(max(diff @ diff + self.trace + np.trace(cov) - 2.0 * tr_cross, 0.0))

    def distance(self, y: np.ndarray) -> float:
        y = np.asarray(y, np.float64)
        if y.ndim != 2 or y.shape[1] != len(self.mu) or len(y) < 2:
            raise ValueError(f"frechet_distance: need an (n>=2, {len(self.mu)}) array, got {y.shape}")
        return self.distance_to_moments(y.mean(0), np.cov(y, rowvar=False))


def frechet_from_moments(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """Fréchet (2-Wasserstein²) distance between N(mu1, s1) and N(mu2, s2)."""
    return FrechetReference(mu1, s1).distance_to_moments(mu2, s2)


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to the rows of x and y (same width)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"frechet_distance: need two (n>=2, D) arrays, got {x.shape} and {y.shape}")
    return FrechetReference.from_rows(x).distance(y)


class ClassFrechetReference:
    """Per-class `FrechetReference`s of the real rows (classes with >= 2 rows), weighted by class count."""

    def __init__(self, real: np.ndarray, y_real: np.ndarray) -> None:
        y_real = np.asarray(y_real)
        self.refs = {
            int(k): (FrechetReference.from_rows(real[y_real == k]), int((y_real == k).sum()))
            for k in np.unique(y_real)
            if (y_real == k).sum() >= 2
        }

    def distance(self, fake: np.ndarray, y_fake: np.ndarray) -> float:
        y_fake = np.asarray(y_fake)
        total, weight = 0.0, 0
        for k, (ref, count) in self.refs.items():
            f = fake[y_fake == k]
            if len(f) >= 2:
                total += count * ref.distance(f)
                weight += count
        return total / weight if weight else float("nan")


def class_frechet_distance(real: np.ndarray, y_real: np.ndarray, fake: np.ndarray, y_fake: np.ndarray) -> float:
    """Class-conditional Fréchet distance: Σ_k p(k)·FD(real rows of k, generated rows of k), p(k) the
    real class frequencies; classes with fewer than 2 rows on either side are skipped. It is high when
    generated rows match the pooled distribution but not their requested class."""
    return ClassFrechetReference(real, y_real).distance(fake, y_fake)


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


def _kth_radius(x: np.ndarray, k: int) -> np.ndarray:
    """Distance of each row of x to its k-th nearest other row of x."""
    from scipy.spatial.distance import cdist

    d = cdist(x, x)
    np.fill_diagonal(d, np.inf)
    k = min(k, len(x) - 1)
    return np.partition(d, k - 1, axis=1)[:, k - 1]


def knn_precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN balls, Euclidean distance."""
    from scipy.spatial.distance import cdist

    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    if len(real) < 2 or len(fake) < 2:
        return {"precision": float("nan"), "recall": float("nan")}
    cross = cdist(fake, real)  # (n_fake, n_real)
    precision = float((cross <= _kth_radius(real, k)[None, :]).any(axis=1).mean())
    recall = float((cross <= _kth_radius(fake, k)[:, None]).any(axis=0).mean())
    return {"precision": precision, "recall": recall}


def std_ratio(real: np.ndarray, fake: np.ndarray) -> float:
    """Mean per-dimension std of generated rows over that of real rows (≈0 = collapsed generator)."""
    return float(np.asarray(fake).std(axis=0).mean() / max(np.asarray(real).std(axis=0).mean(), 1e-12))


class Selector:
    """Which epoch's generator to keep.

    consistent_cfd (default): among epochs whose consistency reaches the target, the lowest
    class-conditional FD. The target is min(best consistency seen so far, `reference`) − `tolerance`,
    `reference` being the frozen head's accuracy on the *real* evaluation rows: a generator as
    class-consistent as real data, and otherwise as realistic as possible. (The CE term keeps pushing
    ĥ past the real class means, so consistency and MI overshoot real data while FD grows; FD alone
    prefers an early, barely conditioned G.) When the target rises past the kept epoch's consistency,
    the current epoch replaces it. cfd / fd: lowest; consistency / mi: highest.

    tstr: the highest train-on-synthetic-test-on-real UAR among epochs whose real-vs-generated AUC
    (training rows) is at most `auc_max` and whose relative consistency is at most 1 + `tolerance`; until
    an epoch qualifies, the one closest to qualifying (least AUC excess + overshoot) is kept.
    Records without metrics (epochs between evaluations) are never taken."""

    def __init__(self, how: str, tolerance: float, reference: float = 1.0, auc_max: float = 1.0) -> None:
        self.how, self.tolerance, self.reference, self.auc_max = how, tolerance, reference, auc_max
        self.best: dict[str, Any] | None = None
        self.top_consistency = -math.inf

    def _tstr_score(self, rec: dict[str, Any]) -> tuple[int, float]:
        auc = rec.get("auc_train", math.nan)
        rel = rec.get("relative_consistency", math.nan)
        excess = max(auc - self.auc_max, 0.0) + max(rel - 1.0 - self.tolerance, 0.0)
        if not math.isfinite(excess):
            return (0, -math.inf)
        tstr = rec.get("tstr_uar", math.nan)
        return (1, tstr if math.isfinite(tstr) else -math.inf) if excess == 0 else (0, -excess)

    def offer(self, rec: dict[str, Any]) -> bool:
        """True when `rec` (an epoch record) becomes the kept epoch."""
        needs = {"cfd": "cfd", "fd": "fd", "mi": "mi_bits"}.get(self.how, "consistency")
        if needs not in rec:  # an epoch between evaluations
            return False
        best = self.best
        if self.how == "tstr":
            score = self._tstr_score(rec)
            take = score[1] > -math.inf and (best is None or score > best["_score"])
            rec = {**rec, "_score": score}
        elif self.how == "consistent_cfd":
            self.top_consistency = max(self.top_consistency, rec["consistency"])
            floor = min(self.top_consistency, self.reference) - self.tolerance
            dist = rec["cfd"] if math.isfinite(rec["cfd"]) else rec["fd"]
            if rec["consistency"] < floor or not math.isfinite(dist):
                return False
            take = best is None or best["consistency"] < floor or dist < best["_dist"]
            rec = {**rec, "_dist": dist}
        else:
            sign = -1.0 if self.how in ("cfd", "fd") else 1.0
            key = {"cfd": "cfd", "fd": "fd", "consistency": "consistency", "mi": "mi_bits"}[self.how]
            score = sign * rec[key]
            take = math.isfinite(score) and (best is None or score > best["_score"])
            rec = {**rec, "_score": score}
        if take:
            self.best = rec
        return take
