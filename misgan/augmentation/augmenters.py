"""Feature-level augmenters compared in Table II: none, Gaussian noise, mixup, SMOTE, class-conditional
Gaussians (cgauss), a label-conditional GAN without MI (cgan) and ours (the MI-regularised InfoGAN conditioned
on text). Any of them as "<name>-gated" is validation-gated (misgan.augmentation.gating).

Each augmenter is fitted on a fold's `TrainView` (training rows only; see augment.FoldData) and asked
for synthetic rows of given classes: `fit(view, seed)` once, then `sample(labels, seed) -> (X_syn, y_syn)` as often
as needed (stage 3 samples every ratio from one fit).
GAN augmenters also keep the conditioning text of the last sample (`last_text`), which the multimodal
classifier pairs with ĥ, and their training history (`history`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from misgan.augmentation.fold_data import AugmentError, TrainView

METHODS = ("none", "noise", "mixup", "smote", "cgauss", "cgan", "ours")
GATED = "-gated"


def base_method(name: str) -> str:
    """ "ours-gated" -> "ours"; a plain name unchanged."""
    return name[: -len(GATED)] if name.endswith(GATED) else name


class Augmenter(Protocol):
    name: str

    def fit(self, view: TrainView, seed: int) -> None: ...

    def sample(self, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]: ...


# ---------------------------------------------------------------- how many rows of which class


def ratio_labels(y: np.ndarray, ratio: float, n_classes: int) -> np.ndarray:
    """Labels for round(ratio * n_c) synthetic rows per class c (the training class distribution)."""
    if ratio < 0:
        raise AugmentError(f"ratio must be >= 0 (got {ratio})")
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes)
    want = np.rint(counts * ratio).astype(np.int64)
    return np.repeat(np.arange(n_classes), want)


def balance_labels(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Labels that bring every class present in y up to the majority count."""
    counts = np.bincount(np.asarray(y, dtype=np.int64), minlength=n_classes)
    want = np.where(counts > 0, counts.max() - counts, 0)
    return np.repeat(np.arange(n_classes), want)


def _check_view(view: TrainView, labels: np.ndarray) -> None:
    missing = sorted(set(np.unique(labels).tolist()) - set(np.unique(view.y).tolist()))
    if missing:
        raise AugmentError(f"cannot synthesise class(es) {missing}: no training rows of them in this fold")


# ---------------------------------------------------------------- simple augmenters


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


# ---------------------------------------------------------------- GAN augmenters


class GanAugmenter:
    """Stage-2 generator as an augmenter: trains `gan.fit_gan` on the fold's training rows
    (or loads a given generator), then samples ĥ = G(z, c, t) for the requested labels.

    text_mode: how conditioning text is drawn (`gan.conditioning_text`): "paired" for the unimodal
    run (each training row's own text), "class" for --balance (texts of the requested class).
    """

    def __init__(
        self,
        name: str,
        gan_config: Any,
        text_mode: str = "paired",
        generator_loader: Callable[[str], Any] | None = None,
        log: Any = None,
    ) -> None:
        self.name = name
        self.gan_config = gan_config
        self.text_mode = text_mode
        self.generator_loader = generator_loader
        self.log = log
        self.history: Any = None
        self.metrics: Any = None
        self.last_text: np.ndarray | None = None
        self.generator: Any = None

    def fit(self, view: TrainView, seed: int) -> None:
        from misgan.config import replace
        from misgan.gan import train as gan

        self.view = view
        if self.generator_loader is not None:
            loaded = self.generator_loader(self.name)
            if loaded is not None:  # (generator, checkpoint dict) as gan.load_generator returns them
                self.generator, ckpt = loaded
                self.history, self.metrics = ckpt.get("history"), ckpt.get("metrics")
                self.warnings = list(ckpt.get("warnings") or [])
                return
        config = replace(self.gan_config, seed=seed)
        valid = None
        if view.valid is not None and len(view.valid[1]) >= 2:
            valid = (view.valid[0], view.valid[1], view.valid[2] if config.use_text else None)
        result = gan.fit_gan(view.h, view.y, view.t, view.heads, config, log=self.log, valid=valid)
        self.generator = result.generator
        self.history = result.history
        self.metrics = result.metrics
        self.warnings = list(getattr(result, "warnings", None) or [])

    @property
    def weak(self) -> list[str]:
        """The weakness warnings of the generator in use (stage 2's: chance-level consistency, MI bound <= 0)."""
        found = list(getattr(self, "warnings", None) or [])
        if isinstance(self.metrics, dict):
            found += [w for w in self.metrics.get("warnings") or [] if w not in found]
        return found

    def sample(self, labels: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
        from misgan.gan import train as gan

        labels = np.asarray(labels, dtype=np.int64)
        _check_view(self.view, labels)
        rng = np.random.default_rng(seed)
        mode = self.text_mode if self.generator.use_text else "none"
        t_cond = gan.conditioning_text(self.view.t, self.view.y, labels, mode, rng)
        h_syn = gan.generate(self.generator, labels, t_cond, seed)
        # the text each ĥ stands for (the multimodal classifier pairs them); class-sampled when G had none
        if t_cond is None:
            t_cond = gan.conditioning_text(self.view.t, self.view.y, labels, "class", rng)
        self.last_text = np.asarray(t_cond, dtype=np.float32)
        return np.asarray(h_syn, dtype=np.float32), labels


def make_augmenter(name: str, gan_config: Any = None, **kwargs: Any) -> Augmenter:
    """Augmenter by method name (see METHODS). GAN methods need a gan.GanConfig."""
    if name == "none":
        return NoAugmenter()
    if name == "noise":
        return NoiseAugmenter(kwargs.get("sigma", 0.1))
    if name == "mixup":
        return MixupAugmenter(kwargs.get("alpha", 0.2))
    if name == "smote":
        return SmoteAugmenter(kwargs.get("k_neighbors", 5))
    if name == "cgauss":
        return GaussianAugmenter(kwargs.get("covariance", "full"))
    if name in ("cgan", "ours"):
        if gan_config is None:
            raise AugmentError(f"augmenter {name!r} needs a GAN config")
        return GanAugmenter(
            name, gan_config, kwargs.get("text_mode", "paired"), kwargs.get("generator_loader"), kwargs.get("log")
        )
    raise AugmentError(f"unknown augmenter {name!r}; choose one of {', '.join(METHODS)}")
