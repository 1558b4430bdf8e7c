"""Stage 1's adapter mode, the paper's loop (`optimizer="adam"`): adapter + heads trained by mini-batch AdamW
on `fold.train` with eq. 7 on every batch, early stopping on `fold.valid` (`train_minibatch`); the validation
score and patience rule and the batching it shares with `misgan.alignment.finetune`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from misgan import metrics
from misgan.alignment.adapter import AlignResult, build_adapter, make_heads, stage1_losses, standardiser
from misgan.alignment.config import AlignConfig
from misgan.alignment.finish import _np, finish_fold
from misgan.data.folds import Fold

if TYPE_CHECKING:
    import torch


def train_minibatch(
    audio: np.ndarray,
    text: np.ndarray | None,
    y: np.ndarray,
    fold: Fold,
    config: AlignConfig,
    n_classes: int,
    log: Any,
    progress: bool | None,
) -> AlignResult:
    """The paper's loop: adapter + heads on `fold.train`, mini-batch AdamW, early stopping on `fold.valid`."""
    import dataclasses

    import torch
    from torch import nn

    from misgan.alignment.losses import class_weights_from_labels, cross_entropy
    from misgan.callbacks import BestState, JsonlLogger, Progress
    from misgan.training import fit

    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    if text is None:  # audio only: eq. 7 is L_SER alone; a one-column dummy keeps the batch code uniform
        config = dataclasses.replace(config, alpha=0.0, beta=0.0)
    tx = np.zeros((len(y), 1), np.float32) if text is None else text

    a_mu, a_sd = standardiser(audio, fold.train)
    t_mu, t_sd = standardiser(tx, fold.train)
    x = torch.from_numpy((audio - a_mu) / a_sd).float()
    t_raw = torch.from_numpy(tx).float()
    t_std = torch.from_numpy((tx - t_mu) / t_sd).float()
    yt = torch.from_numpy(y).long()

    adapter = build_adapter(x.shape[1], config)
    heads = make_heads(config.h_dim, n_classes, tx.shape[1], config.shared_dim)
    modules = nn.ModuleDict({"adapter": adapter, **heads})
    opt = torch.optim.AdamW(modules.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    weights = None
    if config.class_weights:
        weights = torch.as_tensor(class_weights_from_labels(y[fold.train], n_classes), dtype=torch.float32)
    valid_rows = fold.valid if len(fold.valid) else fold.train

    def step(epoch: int) -> dict[str, Any]:
        modules.train()
        sums: dict[str, float] = {}
        for rows in batches(fold.train, config.batch_size, gen):
            out = stage1_losses(heads, adapter(x[rows]), t_raw[rows], t_std[rows], yt[rows], config, weights)
            opt.zero_grad()
            out["loss"].backward()
            opt.step()
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(rows)
        record = {"fold": fold.name, "epoch": epoch, **{k: v / len(fold.train) for k, v in sums.items()}}
        modules.eval()
        with torch.no_grad():
            logits = heads["head_y"](adapter(x[valid_rows]))
            val_loss = float(cross_entropy(logits, yt[valid_rows], weights))
        record.update(val_uar=metrics.uar(y[valid_rows], logits.argmax(1).numpy()), val_ser=val_loss)
        return record

    best = BestState(modules, monitor_score(config.monitor), "max", trainable_only=True)
    progress_bar = Progress(f"align {fold.name}", progress, leave=False)
    callbacks = [JsonlLogger(log), progress_bar, best, early_stopping(best, config)]
    history = fit(step, epochs=config.epochs, callbacks=callbacks).history
    modules.eval()
    with torch.no_grad():
        h = adapter(x)
    extras = {"audio_mean": a_mu, "audio_std": a_sd}
    extras.update({f"adapter.{k}": _np(v) for k, v in adapter.state_dict().items()})
    return finish_fold(h, heads, text, y, fold, config, n_classes, extras, history, best.best_epoch)


def monitor_score(monitor: str) -> Callable[[dict[str, Any]], tuple[float, float]]:
    """Stage 1's validation score, higher is better: UAR then lower CE ("uar"), or the reverse ("loss")."""
    if monitor == "uar":
        return lambda r: (r["val_uar"], -r["val_ser"])
    return lambda r: (-r["val_ser"], r["val_uar"])


def early_stopping(best: Any, config: Any) -> Any:
    """Stage 1 tolerates `config.patience` epochs without a better score and stops at the next one."""
    from misgan.callbacks import EarlyStopping

    return EarlyStopping(best, patience=config.patience + 1, name=f"validation {config.monitor}")


def batches(rows: np.ndarray, size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Shuffled mini-batches of `rows`; a last batch of one row joins the previous (InfoNCE needs >= 2)."""
    import torch

    perm = torch.from_numpy(np.asarray(rows))[torch.randperm(len(rows), generator=gen)]
    out = [perm[i : i + size] for i in range(0, len(perm), size)]
    if len(out) > 1 and len(out[-1]) < 2:
        out[-2] = torch.cat(out[-2:])
        out.pop()
    return out
