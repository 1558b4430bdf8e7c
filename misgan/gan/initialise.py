"""Data-dependent initialisation of stage 2's generator: the paper configuration's noise columns
(`init_output_from_data`) and the on-manifold generator's principal basis and conditioning in place from
step 0 (`principal_basis`, `init_on_manifold`; issue 11). Split from misgan.gan.models for size.
"""

from __future__ import annotations

import torch
from torch import nn

from misgan.gan.models import Generator


def init_output_from_data(
    G: Generator, h: torch.Tensor, onehot: torch.Tensor, t_std: torch.Tensor | None, gen: torch.Generator
) -> None:
    """Data-dependent init of G's last layer from the training rows.

    linear: the noise columns W_z become the top `noise_dim` principal directions of the *within-class*
    covariance, scaled by their standard deviations, so z ~ N(0, I) starts with the data's within-class
    covariance (up to rank noise_dim). With the paper's linear D this matters: a linear logistic D only
    sees differences of means along one direction, so the adversarial loss cannot shape ĥ's covariance
    and it would stay at its random init. mlp: the whole last layer is rescaled so ĥ has the mean
    within-class std. Either way the bias then makes ĥ's mean the data's mean. Class and text columns
    keep torch's init: the conditioning must still be learned, so the MI ablations stay meaningful."""
    with torch.no_grad():
        class_means = (onehot.T @ h) / onehot.sum(0).clamp_min(1).unsqueeze(1)
        resid = h - onehot @ class_means
        z = torch.randn(len(h), G.noise_dim, generator=gen, device=h.device)
        if isinstance(G.net, torch.nn.Linear):
            _, s, vh = torch.linalg.svd(resid.double() / max(len(h) - 1, 1) ** 0.5, full_matrices=False)
            k = min(G.noise_dim, len(s))
            w_z = torch.zeros(G.out_dim, G.noise_dim, dtype=torch.float64, device=h.device)
            w_z[:, :k] = vh[:k].T * s[:k]
            G.net.weight[:, : G.noise_dim] = w_z.to(G.net.weight.dtype)
            last = G.net
        else:
            last = G.net[-1]
            last.weight.mul_(resid.std(0).mean() / G(z, onehot, t_std).std(0).mean().clamp_min(1e-8))
        last.bias.add_(h.mean(0) - G(z, onehot, t_std).mean(0))


def principal_basis(h: torch.Tensor, variance: float, rank: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(center (D,), basis (k, D)) of the training rows: their mean and top-k principal directions, k the
    fewest covering `variance` of the total (or `rank` when > 0), capped at the data's numerical rank."""
    center = h.double().mean(0)
    _, s, vh = torch.linalg.svd(h.double() - center, full_matrices=False)
    var = s**2
    keep = int((var > var[0] * 1e-10).sum()) if len(var) and var[0] > 0 else 1
    if rank:
        k = min(rank, keep)
    else:
        share = torch.cumsum(var, 0) / var.sum().clamp_min(1e-300)
        k = min(int((share < variance - 1e-12).sum()) + 1, keep)
    return center.float(), vh[: max(k, 1)].float()


def init_on_manifold(
    G: Generator,
    h: torch.Tensor,
    onehot: torch.Tensor,
    t_std: torch.Tensor | None,
    basis: tuple[torch.Tensor, torch.Tensor],
    ridge: float,
) -> None:
    """On-manifold init (issue 11): G emits coefficients a in the principal basis of the training h, and
    its linear map starts with the conditioning in place. In coefficient space a = (h − mean)·basisᵀ:
    class columns = the class means of a (the class-mean offsets), text columns = ridge regression of the
    within-class residual on the standardised text, noise columns = the top principal directions of what
    is left, scaled by their std (so z ~ N(0, I) reproduces that covariance), bias = what centres it.
    An mlp G's nonlinear part starts near zero (its last layer scaled by 1e-2) on top of the linear skip."""
    center, basis = basis
    if basis.shape[0] != G.subspace_k:
        raise ValueError(f"generator has {G.subspace_k} coefficients but the basis has {basis.shape[0]}")
    with torch.no_grad():
        G.center.copy_(center)
        G.basis.copy_(basis)
        a = ((h - center) @ basis.T).double()
        x1 = onehot.double()
        means = (x1.T @ a) / x1.sum(0).clamp_min(1).unsqueeze(1)  # (C, k)
        resid = a - x1 @ means
        w_t = None
        if t_std is not None and G.use_text:
            t = t_std.double() - t_std.double().mean(0)
            gram = t.T @ t
            alpha = ridge * float(torch.trace(gram)) / max(gram.shape[0], 1) + 1e-12
            w_t = torch.linalg.solve(gram + alpha * torch.eye(len(gram), dtype=gram.dtype), t.T @ resid)
            resid = resid - t @ w_t
        n = max(len(h) - 1, 1)
        _, s, vh = torch.linalg.svd(resid / n**0.5, full_matrices=False)
        k = min(G.noise_dim, len(s))
        w_z = torch.zeros(G.subspace_k, G.noise_dim, dtype=torch.float64)
        w_z[:, :k] = vh[:k].T * s[:k]
        lin = G.linear_map()
        lin.weight.zero_()
        lin.weight[:, : G.noise_dim] = w_z.float()
        lin.weight[:, G.noise_dim : G.noise_dim + G.n_classes] = means.T.float()
        bias = torch.zeros(G.subspace_k, dtype=torch.float64)
        if w_t is not None:
            lin.weight[:, G.noise_dim + G.n_classes :] = w_t.T.float()
            bias -= t_std.double().mean(0) @ w_t  # the ridge fit was on centred text
        lin.bias.copy_(bias.float())
        if lin is not G.net and isinstance(G.net, nn.Sequential):
            G.net[-1].weight.mul_(1e-2)
            G.net[-1].bias.zero_()
