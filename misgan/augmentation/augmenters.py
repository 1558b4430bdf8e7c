"""Feature-level augmenters compared in Table II: none, Gaussian noise, mixup, SMOTE, class-conditional
Gaussians (cgauss), a label-conditional GAN without MI (cgan) and ours (the MI-regularised InfoGAN conditioned
on text). Any of them as "<name>-gated" is validation-gated (misgan.augmentation.gating).

Each augmenter is fitted on a fold's `TrainView` (training rows only; see augment.FoldData) and asked
for synthetic rows of given classes: `fit(view, seed)` once, then `sample(labels, seed) -> (X_syn, y_syn)` as often
as needed (stage 3 samples every ratio from one fit).
GAN augmenters also keep the conditioning text of the last sample (`last_text`), which the multimodal
classifier pairs with ĥ, and their training history (`history`). The others: misgan.augmentation.baselines.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from misgan.augmentation.baselines import (
    GaussianAugmenter,
    MixupAugmenter,
    NoAugmenter,
    NoiseAugmenter,
    SmoteAugmenter,
)
from misgan.augmentation.fold_data import AugmentError, TrainView, _check_view

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
