"""Stage-2 settings (GanConfig): the generator, its losses (eq. 9-14), training and checkpoint selection."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from misgan.alignment.losses import DEFAULT_TAU
from misgan.errors import ConfigError

TEXT_MODES = ("paired", "class", "none")

SELECT_BY = ("consistent_cfd", "cfd", "fd", "consistency", "mi", "tstr")
DISCRIMINATORS = ("plain", "projection")


@dataclass(frozen=True)
class GanConfig:
    SECTION: ClassVar[str] = "gan"
    NOT_IN_KEY: ClassVar[tuple[str, ...]] = ("folds", "threads", "device", "jobs")

    noise_dim: int = 100  # width of z
    arch: str = "linear"  # "linear" (paper: one linear layer, no activation) | "mlp" (one hidden layer)
    hidden: int = 512  # hidden width of the mlp arch
    epochs: int = 300  # upper bound; early stopping on the quality metric usually ends sooner
    batch_size: int = 256  # clipped to the number of training rows
    min_steps: int = 20  # steps per epoch at least (small corpora: an epoch spans several passes)
    lr: float = 1e-4  # Adam, paper §4.2.3
    betas: tuple[float, float] = (0.5, 0.999)  # DCGAN's Adam betas (the paper does not say)
    lambda_y: float = 1.0  # weight of L_Iy (eq. 14; paper: 1)
    lambda_t: float = 1.0  # weight of L_It (eq. 14; paper: 1)
    tau: float = DEFAULT_TAU  # InfoNCE temperature, as stage 1
    mixup: bool = True  # mixup when training G and D (§4.2.1)
    mixup_alpha: float = 0.2  # λ ~ Beta(α, α); the mixup paper's GAN setting
    use_mi: bool = True  # False: no L_Iy / L_It (the "without MI" ablation; G still gets c and t)
    use_text: bool = True  # False: G gets no t and there is no L_It (the "without text" ablation)
    text_mode: str = "paired"  # conditioning text in training: paired | class | none
    seed: int = 0  # G, D, the noise and the batches
    patience: int = 50  # epochs without a better quality metric before stopping (0: never stop early)
    select_by: str = "consistent_cfd"  # kept checkpoint: see Selector; or cfd, fd (lowest), consistency, mi
    select_tolerance: float = 0.02  # consistent_cfd: consistency within this of the best seen qualifies
    eval_rows: int = 2048  # at most this many rows in the per-epoch evaluation
    init_from_data: bool = True  # G starts at the data's mean and within-class covariance (gan_models)
    collapse_std: float = 0.02  # an epoch whose generated/real std ratio is below this counts as collapsed
    collapse_epochs: int = 20  # consecutive collapsed (or D-saturated) epochs that stop the run
    manifold: bool = False  # G generates coefficients in the top-k PCA basis of the training h (+ mean); class
    # columns start at the class means, text columns at a ridge fit of h on t (initialise.init_on_manifold)
    manifold_variance: float = 0.99  # k = fewest principal components covering this share of the variance
    manifold_rank: int = 0  # k itself when > 0 (capped at the data's rank)
    text_ridge: float = 1.0  # ridge strength (relative to the mean eigenvalue of t'T) of the text-column init
    disc: str = "plain"  # plain D(h) | projection D(h, c) = psi(phi(h)) + embed(c).phi(h) (Miyato & Koyama 2018)
    eval_every: int = 10  # evaluate (and judge for selection) every this many epochs, and at the last one
    select_auc_max: float = 0.9  # tstr selection: real-vs-generated AUC (training rows) must not exceed this
    warn_margin: float = 0.05  # warn when the kept consistency is within this of chance (1/C)
    threads: int = 0  # torch/BLAS threads (0: the thread policy, misgan.runtime.resolve_threads)
    jobs: int = 1  # folds trained in parallel processes (misgan.parallel.map_folds); 1 = serial
    device: str = "cpu"  # cpu or cuda
    folds: tuple[str, ...] = ()  # only these folds of the stage-1 run; () = all

    def __post_init__(self) -> None:
        if self.arch not in ("linear", "mlp"):
            raise ConfigError(f"gan: arch must be linear or mlp (got {self.arch!r})")
        if self.text_mode not in TEXT_MODES:
            raise ConfigError(f"gan: text_mode must be one of {', '.join(TEXT_MODES)} (got {self.text_mode!r})")
        if self.use_text == (self.text_mode == "none"):
            raise ConfigError("gan: text_mode 'none' goes with use_text False (--no-text), and only with it")
        if self.select_by not in SELECT_BY:
            raise ConfigError(f"gan: select_by must be one of {', '.join(SELECT_BY)} (got {self.select_by!r})")
        if self.disc not in DISCRIMINATORS:
            raise ConfigError(f"gan: disc must be one of {', '.join(DISCRIMINATORS)} (got {self.disc!r})")
        if not 0 < self.manifold_variance <= 1 or self.manifold_rank < 0 or self.text_ridge < 0:
            raise ConfigError("gan: need 0 < manifold_variance <= 1, manifold_rank >= 0 and text_ridge >= 0")
        if not 0.5 <= self.select_auc_max <= 1 or not 0 <= self.warn_margin < 1:
            raise ConfigError("gan: need select_auc_max in [0.5, 1] and warn_margin in [0, 1)")
        names = ("noise_dim", "hidden", "epochs", "batch_size", "min_steps", "eval_rows", "collapse_epochs")
        for name in (*names, "eval_every"):
            if getattr(self, name) < 1:
                raise ConfigError(f"gan: {name} must be >= 1 (got {getattr(self, name)})")
        if not 0 <= self.select_tolerance <= 1:
            raise ConfigError(f"gan: select_tolerance must lie in [0, 1] (got {self.select_tolerance})")
        if self.lr <= 0 or self.tau <= 0 or self.mixup_alpha <= 0 or min(self.lambda_y, self.lambda_t) < 0:
            raise ConfigError("gan: need lr > 0, tau > 0, mixup_alpha > 0 and lambda_y, lambda_t >= 0")
        if self.patience < 0 or self.threads < 0:
            raise ConfigError("gan: patience and threads must be >= 0")

    def for_text(self, has_text: bool) -> GanConfig:
        """The config a cache with (or without) text features trains: an audio-only cache gets G(z, c) without
        L_It (use_text False, text_mode "none"). One switch, used by train_gan, stage 3 and misgan run's keys."""
        if has_text or not self.use_text:
            return self
        import dataclasses

        return dataclasses.replace(self, use_text=False, text_mode="none")

    @classmethod
    def paper(cls, **overrides: object) -> GanConfig:
        """The paper-faithful configuration (§4.2.1): linear G and D, conditioning learned from torch's init,
        plain D, epochs kept by consistent_cfd. Every field not overridden keeps its paper value."""
        base = dict(arch="linear", manifold=False, disc="plain", select_by="consistent_cfd", epochs=300)
        return cls(**{**base, **overrides})  # type: ignore[arg-type]

    @classmethod
    def on_manifold(cls, **overrides: object) -> GanConfig:
        """G in the principal subspace of the training h with its conditioning in place from step 0, a
        projection discriminator, and the kept epoch chosen by train-on-synthetic-test-on-real UAR subject to
        the real-vs-generated AUC and consistency not above real data's (docs/stage2.md)."""
        # conditioning is in place at step 0, so far fewer epochs are needed (RAVDESS: kept epoch 5 of 60)
        base = dict(manifold=True, disc="projection", select_by="tstr", epochs=60, patience=20, eval_every=5)
        return cls(**{**base, **overrides})  # type: ignore[arg-type]
