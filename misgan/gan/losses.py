"""Eq. 9-14 of the paper, the objective of the MI-regularised InfoGAN, as one function: `gan_losses`.

    V(D, G) = E[log D(h)] + E[log(1 − D(ĥ))]                  eq. 9 (D maximises, as BCE with logits)
    L_Iy    = CE(softmax(W_y·ĥ + b_y), c)                      eq. 10-11, frozen stage-1 head
    L_It    = InfoNCE(t, W_t·ĥ + b_t)                           eq. 12-13, frozen stage-1 head, raw t
    min_G max_D  V − λ_y·L_Iy − λ_t·L_It                        eq. 14

The L_I are *losses* (negative MI bounds), so G minimises them and MI is maximised: G's loss is the
non-saturating adversarial term plus λ_y·L_Iy + λ_t·L_It. With mixup (§4.2.1; Zhang et al. 2017, §3.6) D
sees x̃ = λ·h + (1−λ)·ĥ, with ĥ the generated row of the same class (and text), and regresses the soft label
λ; G gets the target 1 on the same mixes. The MI terms always use the pure ĥ.

Training alternates the players (D steps first, then G against the updated D), so the step function asks
for one player's losses at a time (`part="D"`, then `part="G"`); `part="both"` gives every term with the
same D (what the equations state; used by tests and diagnostics).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from misgan.alignment import losses as stage1

PARTS = ("D", "G", "both")


def gan_losses(
    D: torch.nn.Module,
    heads: Any,
    h: torch.Tensor,
    fake: torch.Tensor,
    c: torch.Tensor,
    t: torch.Tensor | None,
    lam: torch.Tensor | None,
    config: Any,
    part: str = "both",
) -> dict[str, torch.Tensor]:
    """Eq. 9-14 on one batch of real rows `h` and generated rows `fake` = G(z, c, t) (row i of each shares
    class c_i and text t_i).

    D is called as D(x, c) (a plain D ignores c; a projection D scores x against class c; mixes share c).
    heads: `FrozenHeads` (class_logits = W_y·ĥ + b_y; text_infonce = InfoNCE(t, W_t·ĥ + b_t)); t: raw text (B, Dt)
    or None without text; lam: the per-row mixup weights (B,) when `config.mixup`, else None.
    Returns for D: d_loss, d_real and d_fake (D's mean probability on real and generated rows, detached);
    for G: g_loss = g_adv + λ_y·l_iy + λ_t·l_it and its parts (a term that is switched off is 0)."""
    if part not in PARTS:
        raise ValueError(f"gan_losses: part must be one of {', '.join(PARTS)} (got {part!r})")
    if config.mixup and lam is None:
        raise ValueError("gan_losses: mixup needs the per-row weights lam")
    lam_col = None if lam is None else lam.unsqueeze(1)
    out: dict[str, torch.Tensor] = {}
    if part in ("D", "both"):
        # eq. 9, D's side: BCE(D(h), 1) + BCE(D(ĥ), 0), or with mixup BCE(D(λh + (1−λ)ĥ), λ); ĥ detached
        fixed = fake.detach()
        if config.mixup:
            out["d_loss"] = F.binary_cross_entropy_with_logits(D(lam_col * h + (1 - lam_col) * fixed, c), lam)
            real_logit, fake_logit = D(h, c).detach(), D(fixed, c).detach()  # monitoring only
        else:
            real_logit, fake_logit = D(h, c), D(fixed, c)
            out["d_loss"] = F.binary_cross_entropy_with_logits(
                real_logit, torch.ones_like(real_logit)
            ) + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit))
        out["d_real"] = torch.sigmoid(real_logit.detach()).mean()
        out["d_fake"] = torch.sigmoid(fake_logit.detach()).mean()
    if part in ("G", "both"):
        # eq. 14, G's side: the non-saturating adversarial term and the MI losses through the frozen heads
        g_logit = D(lam_col * h + (1 - lam_col) * fake, c) if config.mixup else D(fake, c)
        g_adv = F.binary_cross_entropy_with_logits(g_logit, torch.ones_like(g_logit))
        g_loss, l_iy, l_it = g_adv, torch.zeros((), device=fake.device), torch.zeros((), device=fake.device)
        if config.use_mi:
            l_iy = stage1.cross_entropy(heads.class_logits(fake), c)  # eq. 10-11
            g_loss = g_loss + config.lambda_y * l_iy
            if config.use_text:
                l_it = heads.text_infonce(t, fake, config.tau)  # eq. 12-13: info_nce(t, W_t·ĥ + b_t)
                g_loss = g_loss + config.lambda_t * l_it
        out.update(g_loss=g_loss, g_adv=g_adv, l_iy=l_iy, l_it=l_it)
    return out
