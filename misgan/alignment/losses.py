"""Losses of the paper (eq. 3, 5, 6, 11, 13), shared by stage 1 (align) and stage 2 (gan).

- `cross_entropy` (eq. 3 / 11) with optional per-class weights (`class_weights_from_labels`, §4.2.3).
- `info_nce` (eq. 6 / 13): row i of `anchors` is the positive of row i of `candidates`; every other row
  of the batch is a negative; sim = cosine; temperature `tau`.
- `contrastive_alignment` (eq. 5): InfoNCE between the text feature t and the audio feature h after
  each is mapped to a shared space (`SharedProjection`), because t and h have different widths.

All functions take torch tensors and return a 0-dim tensor (mean over the batch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

DEFAULT_TAU = 0.07  # CLIP/CLAP's initial temperature; the paper does not state its value


def class_weights_from_labels(y: np.ndarray | torch.Tensor, n_classes: int) -> np.ndarray:
    """Inverse-frequency ("balanced") class weights w_c ∝ 1 / n_c (sklearn's `compute_class_weight`),
    rescaled so the weights of the classes present in `y` average 1 (a balanced set gets all ones).
    A class absent from `y` gets weight 0. The one class-weight recipe of stage 1 and stage 3."""
    from sklearn.utils.class_weight import compute_class_weight

    labels = np.asarray(y.detach().cpu() if hasattr(y, "detach") else y).astype(np.int64).ravel()
    if labels.size == 0:
        raise ValueError("class_weights_from_labels: no labels")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"class_weights_from_labels: labels must lie in [0, {n_classes - 1}]")
    present = np.unique(labels)
    w = np.zeros(n_classes)
    w[present] = compute_class_weight("balanced", classes=present, y=labels)
    return w * (len(present) / w.sum())


def cross_entropy(
    logits: torch.Tensor, y: torch.Tensor, class_weights: torch.Tensor | np.ndarray | None = None
) -> torch.Tensor:
    """Eq. 3: mean of -log softmax(logits)[y]. With `class_weights` w it is the weighted mean
    Σ_i w_{y_i}·ℓ_i / Σ_i w_{y_i} (torch's convention), so the scale does not depend on the batch mix."""
    import torch
    import torch.nn.functional as F

    weight = None
    if class_weights is not None:
        weight = torch.as_tensor(class_weights, dtype=logits.dtype, device=logits.device)
    return F.cross_entropy(logits, y.long(), weight=weight)


def cosine_sim(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """(n, m) matrix of cosine similarities between the rows of a (n, D) and b (m, D)."""
    a = a / a.norm(dim=1, keepdim=True).clamp_min(eps)
    b = b / b.norm(dim=1, keepdim=True).clamp_min(eps)
    return a @ b.T


def info_nce(
    anchors: torch.Tensor,
    candidates: torch.Tensor,
    tau: float = DEFAULT_TAU,
    symmetric: bool = False,
) -> torch.Tensor:
    """Eq. 6: mean over i of -log exp(s_ii/τ) / Σ_j exp(s_ij/τ), s_ij = cos(anchors_i, candidates_j).

    For eq. 6/13 pass anchors = t and candidates = t̂ = W_t·h + b_t (same width). `symmetric=True`
    averages it with the candidates -> anchors direction (CLIP/CLAP form)."""
    import torch
    import torch.nn.functional as F

    if anchors.shape != candidates.shape:
        raise ValueError(f"info_nce: anchors {tuple(anchors.shape)} and candidates {tuple(candidates.shape)}")
    if tau <= 0:
        raise ValueError(f"info_nce: tau must be > 0 (got {tau})")
    logits = cosine_sim(anchors, candidates) / tau
    target = torch.arange(len(logits), device=logits.device)
    loss = F.cross_entropy(logits, target)
    if symmetric:
        loss = 0.5 * (loss + F.cross_entropy(logits.T, target))
    return loss


def info_nce_linear(
    t: torch.Tensor,
    h: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor,
    tau: float = DEFAULT_TAU,
    gram: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Eq. 6/13 for a linear map: `info_nce(t, h @ weight.T + bias, tau)` without forming t̂ (B, Dt).

    With u = t/|t|, the cosine's numerator <u_i, W·h_j + b> = (u_i·W)·h_j + u_i·b and its squared norm
    |W·h_j + b|² = h_j'(W'W)h_j + 2·(W'b)·h_j + |b|², so the B x B similarities cost B·B·Dh instead of B·B·Dt
    multiply-adds and no (B, Dt) tensor is normalised or back-propagated (text is 384-768 wide, h 88-256).
    `gram` = (W'W, W'b, |b|²) when W is frozen (stage 2 precomputes it). Gradients reach h, W and b as in the
    plain form; equal to it up to float rounding (tests/test_losses.py)."""
    if t.shape[1] <= h.shape[1]:  # the plain form is no dearer
        return info_nce(t, h @ weight.T + bias, tau)
    if tau <= 0:
        raise ValueError(f"info_nce: tau must be > 0 (got {tau})")
    u = t / t.norm(dim=1, keepdim=True).clamp_min(1e-8)  # cosine_sim's clamp on the norm
    gw, gb, bb = gram if gram is not None else (weight.T @ weight, weight.T @ bias, bias @ bias)
    return info_nce_keys(u @ weight, u @ bias, h, (gw, gb, bb), tau)


def info_nce_keys(
    uw: torch.Tensor,
    ub: torch.Tensor,
    h: torch.Tensor,
    gram: tuple[torch.Tensor, torch.Tensor, torch.Tensor],
    tau: float,
) -> torch.Tensor:
    """`info_nce_linear` from its text side already multiplied out: uw = u·W (B, Dh), ub = u·b (B,) with
    u = t/|t|, gram = (W'W, W'b, |b|²). With W frozen these depend on the text rows only, so stage 2 computes
    them once for every row (`FrozenHeads.text_keys`) instead of a (B, Dt) x (Dt, Dh) product per step."""
    import torch
    import torch.nn.functional as F

    if tau <= 0:
        raise ValueError(f"info_nce: tau must be > 0 (got {tau})")
    gw, gb, bb = gram
    sq = ((h @ gw) * h).sum(1) + 2 * (h @ gb) + bb
    logits = (uw @ h.T + ub[:, None]) / sq.clamp_min(1e-16).sqrt()[None, :] / tau
    return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))


def contrastive_alignment(
    t: torch.Tensor,
    h: torch.Tensor,
    proj_t: Callable[[torch.Tensor], torch.Tensor],
    proj_h: Callable[[torch.Tensor], torch.Tensor],
    tau: float = DEFAULT_TAU,
    symmetric: bool = False,
) -> torch.Tensor:
    """Eq. 5 with sim(t, h) = cos(proj_t(t), proj_h(h)): t (B, Dt) and h (B, Dh) differ in width, so both
    are mapped to a shared space first (CLAP's projections). Text is the anchor as in eq. 5;
    `symmetric=True` adds the audio -> text direction (CLAP's symmetric loss)."""
    return info_nce(proj_t(t), proj_h(h), tau=tau, symmetric=symmetric)


def shared_projection(dim_t: int, dim_h: int, shared_dim: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    """The two learned linear maps (text -> shared, audio -> shared) used for sim(t, h) in eq. 5."""
    from torch import nn

    return nn.Linear(dim_t, shared_dim), nn.Linear(dim_h, shared_dim)
