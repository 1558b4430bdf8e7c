"""Stage 1's learned adapter trained full batch: eq. 7 (L_SER + α·L_CL + β·L_MI) by L-BFGS on every training
row at once, with an L2 penalty ‖θ‖² / (2·C·n) on the weights (biases unpenalised) in place of dropout and
early stopping; C comes from the inner grouped cross-validation of `fullfold.train_fold_fullbatch`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from misgan import metrics
from misgan.alignment.config import AlignConfig


def fit_learned(
    audio: np.ndarray,
    text: np.ndarray | None,
    y: np.ndarray,
    rows: np.ndarray,
    config: AlignConfig,
    n_classes: int,
    c: float,
    score_rows: np.ndarray | None = None,
) -> tuple[float | None, Any, Any, dict[str, np.ndarray]]:
    """Adapter + heads fitted on `rows`. Returns (UAR of W_y on `score_rows` or None, h of every row (torch),
    the heads, the arrays that rebuild h)."""
    import torch
    from torch import nn

    from misgan.alignment.adapter import build_adapter, make_heads, stage1_losses, standardiser
    from misgan.alignment.finish import _np
    from misgan.alignment.fullbatch import balanced_weights

    torch.manual_seed(config.seed)
    mu, sd = standardiser(audio, rows)
    x = torch.from_numpy((audio - mu) / sd).float()
    adapter = build_adapter(x.shape[1], dataclasses.replace(config, dropout=0.0))
    heads = make_heads(config.h_dim, n_classes, 1 if text is None else text.shape[1], config.shared_dim)
    modules = nn.ModuleDict({"adapter": adapter, **heads})
    loss_cfg = config if text is not None else dataclasses.replace(config, alpha=0.0, beta=0.0)
    t_raw = t_std = None
    if text is not None:
        t_mu, t_sd = standardiser(text, rows)
        t_raw = torch.from_numpy(text[rows]).float()
        t_std = torch.from_numpy((text[rows] - t_mu) / t_sd).float()
    weights = None
    if config.class_weights:
        weights = torch.as_tensor(balanced_weights(y[rows], n_classes), dtype=torch.float32)
    yt = torch.from_numpy(np.asarray(y[rows])).long()
    xr = x[rows]
    penalised = [p for name, p in modules.named_parameters() if not name.endswith("bias")]
    scale = 1.0 / (2 * c * len(rows))
    opt = torch.optim.LBFGS(
        list(modules.parameters()), lr=1, max_iter=config.lbfgs_iter, line_search_fn="strong_wolfe"
    )

    def closure() -> torch.Tensor:
        opt.zero_grad()
        out = stage1_losses(heads, adapter(xr), t_raw, t_std, yt, loss_cfg, weights)
        loss = out["loss"] + scale * sum((p * p).sum() for p in penalised)
        loss.backward()
        return loss

    modules.train()
    opt.step(closure)
    modules.eval()
    with torch.no_grad():
        h = adapter(x)
        score = None
        if score_rows is not None:
            pred = heads["head_y"](h[score_rows]).argmax(1).numpy()
            score = metrics.uar(y[score_rows], pred)
    extras = {"audio_mean": mu, "audio_std": sd}
    extras.update({f"adapter.{k}": _np(v) for k, v in adapter.state_dict().items()})
    return score, h, heads, extras
