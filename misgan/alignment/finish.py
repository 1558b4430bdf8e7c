"""The end of stage 1 on one fold, whatever trained it: W_t fitted on the frozen h when β = 0
(`_fit_text_head`: InfoNCE or ridge), W_y scored on the test rows, the fold's arrays and retrieval collected
into an `AlignResult` (`finish_fold`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from misgan import metrics
from misgan.alignment.adapter import AlignResult, standardiser
from misgan.alignment.retrieval import fold_retrieval
from misgan.data.folds import Fold

if TYPE_CHECKING:
    import torch
    from torch import nn


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
