"""Stage-3 settings: the classifier (ClassifierConfig) and the evaluation driver (AugmentConfig)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from misgan.errors import ConfigError
from misgan.gan.config import GanConfig


@dataclass(frozen=True)
class ClassifierConfig:
    hidden: tuple[int, ...] = ()  # () = linear head; (256,) or (256, 128) for the multimodal MLPs
    # linear head: "lbfgs" = full batch, L2 penalty with inverse strength C (as sklearn's LogisticRegression;
    # stage 1's choice for the fold, or chosen from c_grid); "adam" = the mini-batch loop below (early stopping),
    # fine-tuned from W_y. MLPs always use Adam.
    optimizer: str = "lbfgs"
    c_grid: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0, 10.0)
    c_default: float = 1.0  # lbfgs without a given C, speakers or validation rows
    inner_folds: int = 4
    lbfgs_iter: int = 500
    lr: float = 1e-3  # Adam; larger than the paper's 1e-4 because we train full-batch
    weight_decay: float = 1e-4
    max_epochs: int = 300
    patience: int = 30  # epochs without a better validation loss before stopping
    # Early stopping only picks among epochs >= min_epochs: stage 1 chose W_y on the same validation
    # speakers, so epoch 0 is often already the validation optimum and nothing would be fine-tuned.
    min_epochs: int = 20
    batch_size: int = 4096  # rows per step; >= the training size means full batch
    class_weights: bool = True  # inverse class frequency in the cross-entropy (paper §4.2.3)
    dropout: float = 0.0
    standardize: bool = False  # z-score inputs with training statistics (used for concat features)

    def __post_init__(self) -> None:
        if self.optimizer not in ("lbfgs", "adam"):
            raise ConfigError(f"classifier.optimizer must be lbfgs or adam (got {self.optimizer!r})")
        if not self.c_grid or min(self.c_grid) <= 0 or self.c_default <= 0 or self.inner_folds < 2:
            raise ConfigError("classifier: need c_grid values > 0, c_default > 0 and inner_folds >= 2")


@dataclass(frozen=True)
class AugmentConfig:
    SECTION: ClassVar[str] = "augment"
    NOT_IN_KEY: ClassVar[tuple[str, ...]] = ("folds", "threads", "jobs")

    methods: tuple[str, ...] = ("none", "ours")  # Table II rows; --compare runs all of METHODS
    ratio: float = 1.0  # synthetic rows per real training row (class distribution of the training set)
    ratios: tuple[float, ...] = ()  # extra ratios for the UAR-vs-ratio curve (ours)
    balance: bool = False  # generate for minority classes only, up to the majority count
    multimodal: bool = False
    mm_hidden: tuple[int, ...] = (256,)  # () linear, (256,), (256, 128): the paper's three MLPs
    mm_max_epochs: int = 100  # the multimodal MLPs train on 4x the rows; they converge in tens of epochs
    mm_patience: int = 10
    ablation: bool = False
    seeds: int = 1  # repeats; seed i uses seed + i
    seed: int = 0  # first seed of the repeats (classifiers, augmenters)
    threads: int = 0  # torch/BLAS threads (0: the thread policy, misgan.runtime.resolve_threads)
    jobs: int = 1  # folds trained in parallel processes (misgan.parallel.map_folds); 1 = serial
    folds: tuple[str, ...] = ()  # subset of the stage-1 run's folds; () = all
    classifier: ClassifierConfig = field(default_factory=ClassifierConfig)
    # the generators' settings: `misgan augment` uses the `misgan gan` run trained with exactly these (and
    # trains its own otherwise); the cgan comparison and the ablation GANs use them too
    gan: GanConfig = field(default_factory=GanConfig)
    noise_sigma: float = 0.1
    mixup_alpha: float = 0.2
    smote_k: int = 5
    cgauss_covariance: str = "full"  # class-conditional Gaussians: "full" (Ledoit-Wolf shrunk) or "diag"
    tsne: bool = True
    tsne_rows: int = 600  # at most this many real rows (and as many generated) in the t-SNE plot
    # Low-resource protocol: each fraction keeps that share of every training speaker's rows of each class
    # (nested: the 10 % rows are inside the 25 % rows ...); the test rows never change (augmentation.subsets).
    train_fractions: tuple[float, ...] = (1.0,)
    # below fraction 1, stage 1 (adapter, C, W_y, W_t) is refitted on the fraction's rows in each job: the align
    # run's saw every training row (misgan.augmentation.subsets.refit_stage1); False: the align run's, leaky
    refit_stage1: bool = True
    # Validation-gated augmentation: the method "<m>-gated" (or every method when gate_all) picks the ratio
    # and synthetic-row weight from this grid on one half of the validation rows and keeps no augmentation
    # unless that choice beats none on the other half by gate_margin, both ways round (gating.py).
    gate_ratios: tuple[float, ...] = (0.25, 0.5, 1.0)
    gate_weights: tuple[float, ...] = (0.25, 1.0)
    gate_margin: float = 0.005
    gate_all: bool = False
    # The logistic-regression reference ("logistic regression, same features and folds") on the cache's raw
    # audio features, computed in the same run (misgan.reference.lr_reference).
    reference: bool = True
    # Outside information for "ours" (misgan.augmentation.sources): other corpora's caches (same encoders) the
    # generator is also trained on, mapped through each fold's stage 1; a CSV of text-only sentences
    # (text + emotion|label) that condition G(z, c, t); a cache of another corpus to test on (cross-corpus).
    source_caches: tuple[str, ...] = ()
    text_source: str = ""
    test_cache: str = ""

    def __post_init__(self) -> None:
        if self.seeds < 1 or self.threads < 0:
            raise ConfigError("augment: need seeds >= 1 and threads >= 0")
        bad = [r for r in (self.ratio, *self.ratios, *self.gate_ratios) if not r > 0]
        if bad:
            raise ConfigError(
                f"augment.ratio/ratios/gate_ratios: {bad[0]} is not a positive ratio; use --methods none "
                "for no augmentation"
            )
        if any(not w > 0 for w in self.gate_weights) or self.gate_margin < 0:
            raise ConfigError("augment.gate_weights must be > 0 and augment.gate_margin >= 0")
        if not self.train_fractions or any(not 0 < f <= 1 for f in self.train_fractions):
            raise ConfigError(f"augment.train_fractions: need values in (0, 1], got {list(self.train_fractions)}")

    def seed_list(self) -> list[int]:
        """The seeds of the run's jobs: seed, seed + 1, ... (`seeds` of them)."""
        return [self.seed + i for i in range(self.seeds)]
