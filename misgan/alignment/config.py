"""Stage-1 settings: the adapter on cached features (AlignConfig) and encoder fine-tuning (FinetuneConfig)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from misgan.alignment.losses import DEFAULT_TAU
from misgan.errors import ConfigError

TEXT_HEADS = ("infonce", "lstsq")

MONITORS = ("uar", "loss")


@dataclass(frozen=True)
class AlignConfig:
    SECTION: ClassVar[str] = "align"
    NOT_IN_KEY: ClassVar[tuple[str, ...]] = ("folds", "threads", "jobs")

    protocol: str = "loso-speaker"  # folds: loso-speaker | loso-session | split | kfold | file (misgan.data.folds)
    k: int = 5  # number of folds of protocol kfold
    fold_file: str | None = None  # fold assignment for protocol file (CSV/TSV utt_id,fold, JSON lines, EmoBox)
    h_dim: int = 256  # width of h (the GAN's feature space)
    hidden: int = 0  # 0: h = linear projection of the features; > 0: MLP with this hidden width
    dropout: float = 0.5  # dropout on the standardised input (and the hidden layer)
    alpha: float = 1.0  # weight of L_CL (eq. 5)
    beta: float = 1.0  # weight of L_MI (eq. 6)
    tau: float = DEFAULT_TAU  # InfoNCE temperature (eq. 5, 6)
    symmetric: bool = False  # eq. 5 in CLAP's symmetric form (text->audio and audio->text)
    shared_dim: int = 128  # width of the shared space of eq. 5
    epochs: int = 200  # upper bound; early stopping usually ends sooner
    batch_size: int = 64
    lr: float = 1e-4  # the paper's rate (§4.2.3); 1e-3 overfits within a few epochs on wide features
    weight_decay: float = 1e-2  # AdamW decoupled weight decay: features are wide, folds are small
    patience: int = 30  # epochs without a better validation score before stopping
    monitor: str = "loss"  # early stopping on the validation speakers' CE "loss" or "uar" (ties: lower loss)
    class_weights: bool = False  # inverse-frequency class weights in L_SER (§4.2.3)
    seed: int = 0  # folds (kfold), initialisation and batches
    threads: int = 0  # torch/BLAS threads (0: the thread policy, misgan.runtime.resolve_threads)
    jobs: int = 1  # folds trained in parallel processes (misgan.parallel.map_folds); 1 = serial
    folds: tuple[str, ...] = ()  # only these folds (names as `misgan info` lists them); () = all
    text_head: str = "infonce"  # how W_t is fitted on frozen h when beta == 0: "infonce" | "lstsq"
    text_head_epochs: int = 100
    ridge: float = 1e-2  # L2 of the least-squares text head

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
