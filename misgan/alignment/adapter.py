"""Stage 1, adapter mode: align cached frozen-encoder features and train the heads (eq. 1-7).

Per fold, on the training speakers only:
  x  = (audio - μ_a) / σ_a                 statistics of the fold's training rows
  h  = adapter(x)                          linear (hidden=0) or one-hidden-layer MLP -> (N, h_dim)
  ŷ  = softmax(W_y·h + b_y)                eq. 2, L_SER = cross-entropy (eq. 3)
  L_CL = InfoNCE(P_t(t_std), P_h(h))       eq. 5 in a learned shared space (t and h differ in width)
  t̂  = W_t·h + b_t,  L_MI = InfoNCE(t, t̂)  eq. 6 against the cache's raw text features t
  L  = L_SER + α·L_CL + β·L_MI             eq. 7
W_t maps into the *raw* text space so stage 2 can compare W_t·ĥ + b_t with `store.read("text")` as is.
With β = 0 (the paper's "without cross-modal alignment" ablation when α = 0 too) W_t is fitted
afterwards on the frozen h (`config.text_head`: InfoNCE, or ridge least squares).
Early stopping on the validation speakers (Fold.valid), CE or UAR; the best epoch's weights are kept.
`run_align` runs every fold of a cache and writes `folds/<fold>/` (docs/stage1.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from misgan import metrics
from misgan.alignment.config import AlignConfig
from misgan.alignment.retrieval import fold_retrieval
from misgan.data.folds import Fold
from misgan.errors import MisganError

if TYPE_CHECKING:
    import torch
    from torch import nn


@dataclass
class AlignResult:
    h: np.ndarray  # (N, h_dim) for every row of the store
    heads: dict[str, np.ndarray]  # W_y (C, Dh), b_y (C,), W_t (Dt, Dh), b_t (Dt,)
    history: list[dict[str, float]]  # one record per epoch
    baseline: dict[str, Any]  # uar, wa, macro_f1 (+ confusion) of W_y on the test rows
    extras: dict[str, np.ndarray] = field(default_factory=dict)  # standardisation + adapter weights
    retrieval: dict[str, float] = field(default_factory=dict)  # text -> audio on the test rows
    best_epoch: int = 0
    selection: dict[str, Any] = field(default_factory=dict)  # full batch: chosen C and inner-CV UAR per C
    reference: dict[str, Any] = field(default_factory=dict)  # logistic-regression reference on the same fold


def standardiser(x: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over `rows`; constant columns get std 1 so they map to 0 instead of NaN."""
    mu = x[rows].mean(axis=0, dtype=np.float64)
    sd = x[rows].std(axis=0, dtype=np.float64)
    sd[sd < 1e-8] = 1.0
    return mu.astype(np.float32), sd.astype(np.float32)


def build_adapter(d_in: int, config: AlignConfig) -> nn.Module:
    from torch import nn

    if config.hidden == 0:
        return nn.Sequential(nn.Dropout(config.dropout), nn.Linear(d_in, config.h_dim))
    return nn.Sequential(
        nn.Dropout(config.dropout),
        nn.Linear(d_in, config.hidden),
        nn.GELU(),
        nn.Dropout(config.dropout),
        nn.Linear(config.hidden, config.h_dim),
    )


def recompute_h(arrays: dict[str, np.ndarray], audio: np.ndarray, config: AlignConfig | dict) -> np.ndarray:
    """h from raw audio features and a fold's stored arrays (standardisation + `adapter.*` weights);
    `config` may be the fold's `attrs["config"]` dict."""
    import torch

    from misgan.config import from_dict

    if isinstance(config, dict):
        config = from_dict(AlignConfig, config, "fold config")
    x = (audio - arrays["audio_mean"]) / arrays["audio_std"]
    if config.adapter == "identity":
        return x.astype(np.float32)
    if config.adapter == "pca":
        return (x.astype(np.float64) @ np.asarray(arrays["adapter.basis"], np.float64)).astype(np.float32)
    adapter = build_adapter(audio.shape[1], config)
    prefix = "adapter."
    adapter.load_state_dict(
        {k[len(prefix) :]: torch.from_numpy(np.asarray(v)) for k, v in arrays.items() if k.startswith(prefix)}
    )
    adapter.eval()
    with torch.no_grad():
        return adapter(torch.from_numpy(x.astype(np.float32))).numpy()


def train_fold(
    audio: np.ndarray,
    text: np.ndarray | None,
    y: np.ndarray,
    fold: Fold,
    config: AlignConfig,
    n_classes: int | None = None,
    log: Any = None,
    progress: bool | None = None,
    *,
    groups: np.ndarray | None = None,
) -> AlignResult:
    """Stage 1 on one fold; W_y scored on `fold.test`. `optimizer="lbfgs"`: full batch on `fold.train_all`, C by
    inner grouped CV over `groups` (speaker per row; without them the fold's train/valid split), see fullfold.py.
    `optimizer="adam"`: train on `fold.train`, stop early on `fold.valid`. `text=None` (audio-only cache): no
    alignment terms (α = β = 0), no W_t. `log` gets one dict per epoch / selection step via `.write`;
    `progress` None shows a bar only on a TTY. With `config.reference` the fold's logistic-regression
    reference (misgan.reference) is scored too (`AlignResult.reference`)."""
    n_classes = int(y.max()) + 1 if n_classes is None else n_classes
    _check_inputs(audio, text, y, fold)
    if config.optimizer == "lbfgs":
        from misgan.alignment.fullfold import train_fold_fullbatch

        result = train_fold_fullbatch(audio, text, y, fold, config, n_classes, groups, log)
    else:
        result = _train_minibatch(audio, text, y, fold, config, n_classes, log, progress)
    if config.reference:
        from misgan.reference import lr_reference

        ref = lr_reference(audio, y, fold, groups=groups, grid=config.c_grid)
        result.reference = {k: ref[k] for k in ("uar", "wa", "macro_f1", "c")}
    return result


def _train_minibatch(
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


def make_heads(h_dim: int, n_classes: int, dim_t: int, shared_dim: int) -> nn.ModuleDict:
    """W_y (eq. 2), W_t (eq. 6) and eq. 5's two projections to the shared space."""
    from torch import nn

    return nn.ModuleDict(
        {
            "head_y": nn.Linear(h_dim, n_classes),
            "head_t": nn.Linear(h_dim, dim_t),
            "proj_t": nn.Linear(dim_t, shared_dim),
            "proj_h": nn.Linear(h_dim, shared_dim),
        }
    )


def stage1_losses(
    heads: Any,
    h: torch.Tensor,
    t_raw: torch.Tensor,
    t_std: torch.Tensor,
    y: torch.Tensor,
    config: Any,
    weights: Any,
) -> dict[str, torch.Tensor]:
    """Eq. 7: L_SER + α·L_CL + β·L_MI on one batch (terms with weight 0 are skipped)."""
    from misgan.alignment.losses import contrastive_alignment, cross_entropy, info_nce

    out = {"ser": cross_entropy(heads["head_y"](h), y, weights)}
    if config.alpha > 0:
        out["cl"] = contrastive_alignment(t_std, h, heads["proj_t"], heads["proj_h"], config.tau, config.symmetric)
    if config.beta > 0:
        out["mi"] = info_nce(t_raw, heads["head_t"](h), config.tau)
    out["loss"] = out["ser"] + config.alpha * out.get("cl", 0.0) + config.beta * out.get("mi", 0.0)
    return out


def batches(rows: np.ndarray, size: int, gen: torch.Generator) -> list[torch.Tensor]:
    """Shuffled mini-batches of `rows`; a last batch of one row joins the previous (InfoNCE needs >= 2)."""
    import torch

    perm = torch.from_numpy(np.asarray(rows))[torch.randperm(len(rows), generator=gen)]
    out = [perm[i : i + size] for i in range(0, len(perm), size)]
    if len(out) > 1 and len(out[-1]) < 2:
        out[-2] = torch.cat(out[-2:])
        out.pop()
    return out


def finish_fold(
    h: torch.Tensor,
    heads: Any,
    text: np.ndarray,
    y: np.ndarray,
    fold: Fold,
    config: Any,
    n_classes: int,
    extras: dict[str, np.ndarray],
    history: list[dict[str, float]],
    best_epoch: int,
    rows: np.ndarray | None = None,
    text_head_done: bool = False,
    shared: bool | None = None,
) -> AlignResult:
    """After training: fit W_t on frozen h when β = 0, score W_y on the test rows, collect arrays. `rows`: the
    rows the heads were trained on (default `fold.train`). `text=None`: no W_t, projections or retrieval.
    `shared`: eq. 5's projections were trained (kept, and used for retrieval); default α > 0."""
    import torch

    rows = fold.train if rows is None else rows
    with torch.no_grad():
        pred = heads["head_y"](h).argmax(1).numpy()
    baseline = metrics.classification_metrics(y[fold.test], pred[fold.test], n_classes)
    head_arrays = {"W_y": _np(heads["head_y"].weight), "b_y": _np(heads["head_y"].bias)}
    if text is None:
        return AlignResult(_np(h), head_arrays, history, baseline, dict(extras), best_epoch=best_epoch)
    t_raw = torch.from_numpy(text).float()
    if config.beta == 0 and not text_head_done:
        _fit_text_head(heads["head_t"], h[rows], t_raw[rows], config)
    head_arrays.update(W_t=_np(heads["head_t"].weight), b_t=_np(heads["head_t"].bias))
    t_mu, t_sd = standardiser(text, rows)
    extras = {**extras, "text_mean": t_mu, "text_std": t_sd}
    shared = config.alpha > 0 if shared is None else shared
    for prefix in ("proj_t", "proj_h") if shared else ():
        extras.update({f"{prefix}.{k}": _np(v) for k, v in heads[prefix].state_dict().items()})
    result = AlignResult(_np(h), head_arrays, history, baseline, extras, best_epoch=best_epoch)
    result.retrieval = fold_retrieval(result, text, fold.test, shared=shared)
    return result


def _check_inputs(audio: np.ndarray, text: np.ndarray | None, y: np.ndarray, fold: Fold) -> None:
    n_text = len(audio) if text is None else len(text)
    if not (len(audio) == n_text == len(y)):
        raise MisganError(f"align: audio ({len(audio)}), text ({n_text}) and labels ({len(y)}) differ in rows")
    if len(fold.train) < 2:
        raise MisganError(f"align: fold {fold.name} has fewer than 2 training rows")
    for name, arr in (("audio", audio), ("text", audio if text is None else text)):
        if not np.isfinite(arr[fold.train_all]).all():
            raise MisganError(f"align: fold {fold.name}: {name} features contain NaN or inf")


def _np(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy().astype(np.float32).copy()


def _fit_text_head(head: nn.Linear, h: torch.Tensor, t: torch.Tensor, config: Any) -> None:
    """W_t on frozen h, for runs without L_MI: by InfoNCE (eq. 6, as stage 2 uses it) or ridge."""
    import torch

    from misgan.alignment.losses import info_nce
    from misgan.training import fit

    if config.text_head == "lstsq":
        from sklearn.linear_model import Ridge

        # sklearn's objective ||t - h·W' - b||² + alpha·||W||² (bias unpenalised) is the mean-squared one
        # with L2 `config.ridge` scaled by the row count
        x, target = h.detach().cpu().double().numpy(), t.detach().cpu().double().numpy()
        fitted = Ridge(alpha=config.ridge * len(h)).fit(x, target)
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(np.atleast_2d(fitted.coef_)).float())
            head.bias.copy_(torch.from_numpy(np.atleast_1d(fitted.intercept_)).float())
        return
    gen = torch.Generator().manual_seed(config.seed + 1)
    opt = torch.optim.Adam(head.parameters(), lr=1e-2)

    def step(epoch: int) -> dict[str, Any]:
        perm = torch.randperm(len(h), generator=gen)
        total = 0.0
        for i in range(0, len(perm) - 1, config.batch_size):
            rows = perm[i : i + config.batch_size]
            loss = info_nce(t[rows], head(h[rows]), config.tau)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(rows)
        return {"epoch": epoch, "text_head_loss": total / len(h)}

    fit(step, epochs=config.text_head_epochs)
