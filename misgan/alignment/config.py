"""Stage-1 settings: the adapter on cached features (AlignConfig) and encoder fine-tuning (FinetuneConfig)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from misgan.alignment.losses import DEFAULT_TAU
from misgan.errors import ConfigError

TEXT_HEADS = ("infonce", "lstsq")
ADAPTERS = ("pca", "identity", "learned")
OPTIMIZERS = ("lbfgs", "adam")

MONITORS = ("uar", "loss")


@dataclass(frozen=True)
class AlignConfig:
    SECTION: ClassVar[str] = "align"
    NOT_IN_KEY: ClassVar[tuple[str, ...]] = ("folds", "threads", "jobs")

    protocol: str = "loso-speaker"  # folds: loso-speaker | loso-session | split | kfold | file (misgan.data.folds)
    k: int = 5  # number of folds of protocol kfold
    fold_file: str | None = None  # fold assignment for protocol file (CSV/TSV utt_id,fold, JSON lines, EmoBox)
    # h = standardised features ("identity"), their top-h_dim principal components ("pca"), or a trained
    # linear/MLP map ("learned", shaped by eq. 5-7); identity and pca are frozen: alpha/beta do not change h
    adapter: str = "pca"
    # "lbfgs": full batch on all training speakers, C by inner grouped CV (fullbatch.py); "adam": the paper's
    # mini-batch loop with dropout, AdamW and early stopping on the validation speakers (learned adapter only)
    optimizer: str = "lbfgs"
    c_grid: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0, 10.0)  # lbfgs: inverse L2 strength, as sklearn's C
    inner_folds: int = 4  # lbfgs: GroupKFold splits over the training speakers that choose C
    lbfgs_iter: int = 500  # lbfgs: iteration cap per fit
    reference: bool = True  # also score the logistic-regression reference per fold (misgan.reference)
    # width of h (the GAN's feature space); pca: at most the training rows' rank, so 1024 keeps every direction
    # of eGeMAPS (88), Whisper-base (512), ComParE (the ~640 training rows' span) and 768/1024-dim encoders:
    # a lossless rotation, and the head matches the logistic-regression reference (RAVDESS, 24 folds: -0.13,
    # +0.26, -0.26 UAR; truncating cost parity: Whisper -0.52 at 256, ComParE -0.65 at 384; bench/parity.py).
    # The paper's learned adapter (AlignConfig.paper) keeps its 256.
    h_dim: int = 1024
    hidden: int = 0  # learned adapter: 0 = linear projection of the features; > 0: MLP with this hidden width
    dropout: float = 0.5  # dropout on the standardised input (and the hidden layer)
    alpha: float = 1.0  # weight of L_CL (eq. 5)
    beta: float = 1.0  # weight of L_MI (eq. 6)
    tau: float = DEFAULT_TAU  # InfoNCE temperature (eq. 5, 6)
    symmetric: bool = False  # eq. 5 in CLAP's symmetric form (text->audio and audio->text)
    shared_dim: int = 128  # width of the shared space of eq. 5
    # frozen adapters (identity, pca): eq. 5 cannot move h there, it only trains the two shared-space
    # projections that the retrieval diagnostic reads (nothing in stages 2-3 uses them), at about half of
    # stage 1's CPU: fit them only on request
    fit_shared: bool = False
    epochs: int = 200  # upper bound; early stopping usually ends sooner
    batch_size: int = 64
    lr: float = 1e-4  # the paper's rate (§4.2.3); 1e-3 overfits within a few epochs on wide features
    weight_decay: float = 1e-2  # AdamW decoupled weight decay: features are wide, folds are small
    patience: int = 30  # epochs without a better validation score before stopping
    monitor: str = "loss"  # early stopping on the validation speakers' CE "loss" or "uar" (ties: lower loss)
    class_weights: bool = True  # inverse-frequency class weights in L_SER (§4.2.3; the reference's "balanced")
    seed: int = 0  # folds (kfold), initialisation and batches
    threads: int = 0  # torch/BLAS threads (0: the thread policy, misgan.runtime.resolve_threads)
    jobs: int = 1  # folds trained in parallel processes (misgan.parallel.map_folds); 1 = serial
    folds: tuple[str, ...] = ()  # only these folds (names as `misgan info` lists them); () = all
    text_head: str = "infonce"  # how W_t is fitted on frozen h when beta == 0: "infonce" | "lstsq"
    text_head_epochs: int = 100
    ridge: float = 1e-2  # L2 of the least-squares text head

    def shared_space(self) -> bool:
        """Whether eq. 5's projections are trained (α > 0, and a learned adapter or `fit_shared`)."""
        return self.alpha > 0 and (self.adapter not in ("identity", "pca") or self.fit_shared)

    @classmethod
    def paper(cls, **overrides: object) -> AlignConfig:
        """The paper-faithful stage 1 (§3.1, §4.2.3): learned linear adapter to h_dim 256, α = β = 1, mini-batch
        (64) Adam 1e-4 with dropout 0.5 and weight decay, early stopping on the validation speakers, no class
        weights. Also configs/paper.yaml."""
        return cls(
            **{"adapter": "learned", "optimizer": "adam", "class_weights": False, "h_dim": 256, **overrides}
        )

    def __post_init__(self) -> None:
        from misgan.data.folds import PROTOCOLS

        if self.protocol not in PROTOCOLS:
            raise ConfigError(f"align: protocol must be one of {', '.join(PROTOCOLS)} (got {self.protocol!r})")
        if self.protocol == "file" and not self.fold_file:
            raise ConfigError("align: protocol 'file' needs fold_file")
        if self.k < 2 or self.threads < 0:
            raise ConfigError(f"align: need k >= 2 and threads >= 0 (got k {self.k}, threads {self.threads})")
        if self.text_head not in TEXT_HEADS:
            raise ConfigError(f"align: text_head must be one of {', '.join(TEXT_HEADS)} (got {self.text_head!r})")
        if self.adapter not in ADAPTERS or self.optimizer not in OPTIMIZERS:
            raise ConfigError(
                f"align: adapter must be one of {', '.join(ADAPTERS)}, optimizer one of {', '.join(OPTIMIZERS)} "
                f"(got {self.adapter!r}, {self.optimizer!r})"
            )
        if self.optimizer == "adam" and self.adapter != "learned":
            raise ConfigError("align: optimizer 'adam' trains the learned adapter only (set adapter: learned)")
        if not self.c_grid or min(self.c_grid) <= 0 or self.inner_folds < 2 or self.lbfgs_iter < 1:
            raise ConfigError("align: need a non-empty c_grid of values > 0, inner_folds >= 2 and lbfgs_iter >= 1")
        if self.monitor not in MONITORS:
            raise ConfigError(f"align: monitor must be one of {', '.join(MONITORS)} (got {self.monitor!r})")
        for name in ("h_dim", "shared_dim", "epochs", "batch_size"):
            if getattr(self, name) < 1:
                raise ConfigError(f"align: {name} must be >= 1 (got {getattr(self, name)})")
        if min(self.alpha, self.beta, self.weight_decay, self.hidden, self.patience) < 0:
            raise ConfigError("align: alpha, beta, weight_decay, hidden and patience must be >= 0")
        if not 0 <= self.dropout < 1 or self.tau <= 0 or self.lr <= 0:
            raise ConfigError("align: need 0 <= dropout < 1, tau > 0 and lr > 0")


TEXT_FINETUNE = ("none", "full", "lora")


@dataclass(frozen=True)
class FinetuneConfig:
    SECTION: ClassVar[str] = "finetune"
    NOT_IN_KEY: ClassVar[tuple[str, ...]] = ("device", "checkpointing")

    lora: bool = False  # LoRA adapters (peft) instead of updating the encoder's weights
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    encoder_lr: float = 1e-5  # full fine-tuning of a pretrained transformer; LoRA uses head_lr
    head_lr: float = 1e-4  # the paper's Adam 1e-4 (heads, eq. 5 projections, LoRA weights)
    epochs: int = 10
    batch_size: int = 8
    accumulate: int = 1  # batches per optimiser step (effective batch = batch_size * accumulate)
    max_seconds: float = 8.0  # training clips are randomly cropped to this length
    checkpointing: bool = True  # gradient checkpointing where the model supports it (training only)
    device: str | None = None  # None: cuda when available, else cpu
    seed: int = 0  # crops, batches and head initialisation
    text_finetune: str = "none"  # "none" | "full" | "lora": emotion fine-tuning of the text encoder first
    text_epochs: int = 3
    text_lr: float = 2e-5
    save_encoder: bool = False  # save each fold's fine-tuned encoder (or LoRA adapter) in the run folder

    def __post_init__(self) -> None:
        if self.text_finetune not in TEXT_FINETUNE:
            raise ConfigError(f"finetune: text_finetune must be one of {', '.join(TEXT_FINETUNE)}")
        if min(self.epochs, self.batch_size, self.accumulate, self.lora_r) < 1 or self.max_seconds <= 0:
            raise ConfigError("finetune: epochs, batch_size, accumulate and lora_r must be >= 1, max_seconds > 0")
