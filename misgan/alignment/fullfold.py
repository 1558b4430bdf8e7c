"""Stage 1, full batch (`optimizer="lbfgs"`, the default): one fold in well under a second on cached features.

Per fold, on every row of the training speakers (`Fold.train_all`; the test speaker is never used):
  x = (audio - μ) / σ                         statistics of the training rows
  h = x                                       adapter "identity"
    = x · V_k                                 adapter "pca": the top-k principal directions (k = h_dim, at most
                                              the rank), i.e. the principal subspace of the training x
    = adapter(x)                              adapter "learned": linear / MLP trained with eq. 7 (α, β)
  W_y, b_y                                    L2-penalised class-balanced softmax regression (fullbatch.py)
The regularisation C is chosen by inner grouped cross-validation over the training speakers (`groups`), then
everything is refitted on all of them. With a frozen adapter (identity, pca) h does not depend on α, β: eq. 7
then splits into W_y (the L_SER term), W_t (eq. 6 on frozen h, `text_head`) and eq. 5's projections (fitted on
frozen h when α > 0 and `fit_shared`: only the retrieval diagnostic reads them), so α = β = 0 gives the
same h and W_y. Without text features W_t and the projections are
absent (α = β = 0).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from misgan.alignment.config import AlignConfig
from misgan.alignment.fullbatch import fit_softmax, pca_basis, select_c, softmax_scorer
from misgan.data.folds import Fold
from misgan.errors import MisganError

FROZEN = ("identity", "pca")


def selection_groups(fold: Fold, groups: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
    """Speaker of every training row (the inner folds); without speakers, the fold's own train/valid split."""
    if groups is not None:
        return np.asarray(groups).astype(str)[rows]
    if not len(fold.valid):
        raise MisganError(f"align: fold {fold.name}: choosing C needs the speakers or validation rows")
    return np.where(np.isin(rows, fold.valid), "valid", "train")


def frozen_h(audio: np.ndarray, rows: np.ndarray, config: AlignConfig) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """h for every row and the arrays that rebuild it (`audio_mean`, `audio_std`, `adapter.basis` for pca)."""
    from misgan.alignment.adapter import standardiser

    mu, sd = standardiser(audio, rows)
    x = (np.asarray(audio, np.float64) - mu) / sd
    extras: dict[str, np.ndarray] = {"audio_mean": mu, "audio_std": sd}
    if config.adapter == "pca":
        basis = pca_basis(x[rows], config.h_dim)
        extras["adapter.basis"] = basis.astype(np.float32)
        x = x @ basis
    return x, extras


def train_fold_fullbatch(
    audio: np.ndarray,
    text: np.ndarray | None,
    y: np.ndarray,
    fold: Fold,
    config: AlignConfig,
    n_classes: int,
    groups: np.ndarray | None = None,
    log: Any = None,
) -> Any:
    """Full-batch stage 1 on one fold (see the module docstring) -> AlignResult."""
    import torch

    from misgan.alignment.adapter import make_heads
    from misgan.alignment.finish import finish_fold

    rows = np.asarray(fold.train_all)
    g = selection_groups(fold, groups, rows)
    kw = {"class_weights": config.class_weights, "max_iter": config.lbfgs_iter}
    history: list[dict[str, Any]] = []
    if config.adapter in FROZEN:
        h, extras = frozen_h(audio, rows, config)
        c, inner = _choose(softmax_scorer(h[rows], y[rows], n_classes, **kw), g, config)
        w, b = fit_softmax(h[rows], y[rows], n_classes, c, **kw)
        h_t = torch.from_numpy(h).float()
        torch.manual_seed(config.seed)  # the heads' initial weights: the same in any process (--jobs)
        heads = make_heads(h.shape[1], n_classes, 1 if text is None else text.shape[1], config.shared_dim)
        with torch.no_grad():
            heads["head_y"].weight.copy_(torch.from_numpy(w).float())
            heads["head_y"].bias.copy_(torch.from_numpy(b).float())
        if text is not None:
            _fit_text_side(heads, h_t[rows], text, rows, config)
        done = text is not None
    else:
        from misgan.alignment.learned import fit_learned

        def score(cc: float, tr: np.ndarray, te: np.ndarray) -> float:
            return fit_learned(audio, text, y, rows[tr], config, n_classes, cc, score_rows=rows[te])[0]

        c, inner = _choose(score, g, config)
        _, h_t, heads, extras = fit_learned(audio, text, y, rows, config, n_classes, c)
        done = False  # finish_fold fits W_t on the frozen h when β = 0
    history = [{"fold": fold.name, "c": k, "inner_uar": v} for k, v in inner.items()]
    history.append({"fold": fold.name, "event": "refit", "c": c, "rows": len(rows)})
    for rec in history:
        if log is not None:
            log.write(rec)
    result = finish_fold(
        h_t,
        heads,
        text,
        y,
        fold,
        config,
        n_classes,
        extras,
        history,
        0,
        rows=rows,
        text_head_done=done,
        shared=config.shared_space(),
    )
    result.selection = {"c": c, "inner_uar": inner}
    return result


def _choose(score: Any, groups: np.ndarray, config: AlignConfig) -> tuple[float, dict[float, float]]:
    if len(config.c_grid) == 1:
        return float(config.c_grid[0]), {}
    return select_c(score, groups, config.c_grid, config.inner_folds)


def _fit_text_side(heads: Any, h: Any, text: np.ndarray, rows: np.ndarray, config: AlignConfig) -> None:
    """W_t (eq. 6 alone, or ridge with `text_head="lstsq"` and β = 0) and, when α > 0, eq. 5's projections, on
    frozen h: full-batch Adam (lr 1e-2, `text_head_epochs` steps, seeded)."""
    import torch

    from misgan.alignment.adapter import standardiser
    from misgan.alignment.finish import _fit_text_head
    from misgan.alignment.losses import contrastive_alignment, info_nce_linear

    t_raw = torch.from_numpy(text[rows]).float()
    fit_mi = not (config.beta == 0 and config.text_head == "lstsq")
    if not fit_mi:
        _fit_text_head(heads["head_t"], h, t_raw, config)
    mu, sd = standardiser(text, rows)
    t_std = torch.from_numpy((text[rows] - mu) / sd).float()
    torch.manual_seed(config.seed)
    params = list(heads["head_t"].parameters()) if fit_mi else []
    shared = config.shared_space()
    if shared:
        params += list(heads["proj_t"].parameters()) + list(heads["proj_h"].parameters())
    if not params:
        return
    opt = torch.optim.Adam(params, lr=1e-2)
    for _ in range(config.text_head_epochs):
        head_t = heads["head_t"]  # eq. 6 without forming t̂ (info_nce_linear)
        loss = info_nce_linear(t_raw, h, head_t.weight, head_t.bias, config.tau) if fit_mi else 0.0
        if shared:
            proj = contrastive_alignment(t_std, h, heads["proj_t"], heads["proj_h"], config.tau, config.symmetric)
            loss = loss + proj
        opt.zero_grad()
        loss.backward()
        opt.step()
