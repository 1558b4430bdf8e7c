"""The comparison augmenters of Table II that need no generator: none, Gaussian noise, mixup, SMOTE and
class-conditional Gaussians (cgauss). The interface they share, the GAN augmenters and `make_augmenter`:
misgan.augmentation.augmenters.
"""

from __future__ import annotations

import numpy as np

from misgan.augmentation.fold_data import AugmentError, TrainView, _check_view


class NoAugmenter:
    name = "none"

    def fit(self, view: TrainView, seed: int) -> None:
        self.dim = view.h.shape[1]

    def sample(self, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        return np.zeros((0, self.dim), dtype=np.float32), np.zeros(0, dtype=np.int64)


def rows_of_class(y: np.ndarray, labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """For each requested label, a training row of that class drawn uniformly with replacement."""
    rows = np.empty(len(labels), dtype=np.int64)
    for c in np.unique(labels):
        at = labels == c
        rows[at] = rng.choice(np.flatnonzero(y == c), size=int(at.sum()))
    return rows


class NoiseAugmenter:
    """Copies of random training rows of the class plus Gaussian noise of `sigma` x the feature's std."""

    name = "noise"

    def __init__(self, sigma: float = 0.1) -> None:
        self.sigma = sigma

    def fit(self, view: TrainView, seed: int) -> None:
        self.view = view
        self.std = view.h.std(axis=0).astype(np.float32)

    def sample(self, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.asarray(labels, dtype=np.int64)
        _check_view(self.view, labels)
        rng = np.random.default_rng(seed)
        src = rows_of_class(self.view.y, labels, rng)
        noise = rng.standard_normal((len(labels), self.view.h.shape[1])).astype(np.float32)
        return self.view.h[src] + self.sigma * self.std * noise, labels


class MixupAugmenter:
    """Hard-label mixup: x = λ·x_c + (1-λ)·x_any with λ ~ Beta(α, α) folded to >= 0.5, label c.

    Folding keeps the row of the requested class dominant, so a hard label stays meaningful
    (classic mixup mixes soft labels, which a (X, y) augmenter cannot return).
    """

    name = "mixup"

    def __init__(self, alpha: float = 0.2) -> None:
        self.alpha = alpha

    def fit(self, view: TrainView, seed: int) -> None:
        self.view = view

    def sample(self, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.asarray(labels, dtype=np.int64)
        _check_view(self.view, labels)
        rng = np.random.default_rng(seed)
        a = rows_of_class(self.view.y, labels, rng)
        b = rng.integers(0, len(self.view.y), size=len(labels))
        lam = rng.beta(self.alpha, self.alpha, size=len(labels))
        lam = np.maximum(lam, 1 - lam).astype(np.float32)[:, None]
        return lam * self.view.h[a] + (1 - lam) * self.view.h[b], labels


class SmoteAugmenter:
    """imbalanced-learn's SMOTE with per-class targets n_c + requested; returns only the new rows."""

    name = "smote"

    def __init__(self, k_neighbors: int = 5) -> None:
        self.k_neighbors = k_neighbors

    def fit(self, view: TrainView, seed: int) -> None:
        self.view = view

    def sample(self, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        from imblearn.over_sampling import SMOTE

        labels = np.asarray(labels, dtype=np.int64)
        _check_view(self.view, labels)
        if len(labels) == 0:
            return np.zeros((0, self.view.h.shape[1]), dtype=np.float32), labels
        counts = np.bincount(self.view.y, minlength=self.view.n_classes)
        extra = np.bincount(labels, minlength=self.view.n_classes)
        smallest = int(counts[extra > 0].min())
        if smallest < 2:
            raise AugmentError("SMOTE needs at least 2 training rows of every class it oversamples")
        k = min(self.k_neighbors, smallest - 1)
        strategy = {int(c): int(counts[c] + extra[c]) for c in np.flatnonzero(counts)}
        sm = SMOTE(sampling_strategy=strategy, k_neighbors=k, random_state=seed % (2**32))
        x_res, y_res = sm.fit_resample(self.view.h, self.view.y)
        n = len(self.view.y)
        # SMOTE appends the new rows class by class; restore the requested order of labels
        x_new, y_new = np.asarray(x_res[n:], dtype=np.float32), np.asarray(y_res[n:], dtype=np.int64)
        order = np.argsort(y_new, kind="stable")
        return x_new[order][np.argsort(np.argsort(labels, kind="stable"))], labels


class GaussianAugmenter:
    """Class-conditional Gaussians fitted on the training rows: per class the mean and a Ledoit-Wolf shrunk
    full covariance (scikit-learn `LedoitWolf`), or the diagonal (`covariance="diag"`); a class with a single
    row gets the pooled within-class diagonal. The "ideal" in-fold generator issue 11 compares against."""

    name = "cgauss"

    def __init__(self, covariance: str = "full") -> None:
        if covariance not in ("full", "diag"):
            raise AugmentError(f"cgauss covariance must be 'full' or 'diag' (got {covariance!r})")
        self.covariance = covariance

    def fit(self, view: TrainView, seed: int) -> None:
        from sklearn.covariance import LedoitWolf

        self.view = view
        h = view.h.astype(np.float64)
        centred = np.concatenate([h[view.y == c] - h[view.y == c].mean(axis=0) for c in np.unique(view.y)])
        pooled = centred.var(axis=0) + 1e-8
        self.params: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for c in np.unique(view.y):
            rows = h[view.y == c]
            mean = rows.mean(axis=0)
            if len(rows) < 2:
                cov = np.diag(pooled)
            elif self.covariance == "diag":
                cov = np.diag(rows.var(axis=0, ddof=1) + 1e-8)
            else:
                cov = LedoitWolf().fit(rows).covariance_ + 1e-8 * np.eye(h.shape[1])
            self.params[int(c)] = (mean, np.linalg.cholesky(cov))

    def sample(self, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.asarray(labels, dtype=np.int64)
        _check_view(self.view, labels)
        rng = np.random.default_rng(seed)
        out = np.empty((len(labels), self.view.h.shape[1]), dtype=np.float32)
        for c in np.unique(labels):
            at = labels == c
            mean, chol = self.params[int(c)]
            out[at] = mean + rng.standard_normal((int(at.sum()), len(mean))) @ chol.T
        return out, labels
