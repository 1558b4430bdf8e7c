"""Networks of stage 2 (paper §3.2, §4.2.1): generator G(z, c, t), discriminator D, and the frozen stage-1 heads.

The paper's choice is the simplest one: G and D are single linear layers without activation (D outputs a
logit; the sigmoid lives inside BCE-with-logits). `arch="mlp"` adds one hidden layer with LeakyReLU for
features that a linear map of Gaussian noise cannot fit.

torch is imported at module level here, so `misgan/__init__.py` must not import this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from misgan.alignment.losses import info_nce_keys, info_nce_linear
from misgan.errors import MisganError

ARCHS = ("linear", "mlp")
HEAD_KEYS = ("W_y", "b_y", "W_t", "b_t")
# Stage 1 stores the text standardisation it used under these names in the fold group (optional).
TEXT_STAT_KEYS = ("text_mean", "text_std")


class GanError(MisganError):
    """Stage 2 cannot train or load a generator (bad inputs, divergence before any good epoch, bad file)."""


def _net(in_dim: int, out_dim: int, arch: str, hidden: int) -> nn.Module:
    if arch == "linear":
        return nn.Linear(in_dim, out_dim)
    if arch == "mlp":
        return nn.Sequential(nn.Linear(in_dim, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, out_dim))
    raise ValueError(f"arch must be one of {', '.join(ARCHS)} (got {arch!r})")


class Generator(nn.Module):
    """ĥ = G(z, c, t): input is [z ; one-hot(c) ; standardised t / √Dt] (no t when `use_text` is False).

    The text standardisation (mean, std) is a buffer, so a saved generator standardises raw text
    embeddings exactly as it did during training."""

    def __init__(
        self,
        noise_dim: int,
        n_classes: int,
        text_dim: int,
        out_dim: int,
        arch: str = "linear",
        hidden: int = 512,
        use_text: bool = True,
        text_mean: np.ndarray | None = None,
        text_std: np.ndarray | None = None,
        subspace_k: int = 0,
    ) -> None:
        super().__init__()
        self.noise_dim, self.n_classes, self.text_dim, self.out_dim = noise_dim, n_classes, text_dim, out_dim
        self.arch, self.hidden, self.use_text, self.subspace_k = arch, hidden, use_text, subspace_k
        in_dim = noise_dim + n_classes + (text_dim if use_text else 0)
        width = subspace_k or out_dim  # on-manifold: the network emits k principal coefficients
        self.net = _net(in_dim, width, arch, hidden)
        if subspace_k:
            # ĥ = coef · basis + center: the output never leaves the principal subspace of the training h.
            # The mlp arch adds a linear skip path, so the conditioning set at init is in place from step 0.
            self.register_buffer("basis", torch.zeros(subspace_k, out_dim))
            self.register_buffer("center", torch.zeros(out_dim))
            self.skip = nn.Linear(in_dim, width) if arch == "mlp" else None
        mean = np.zeros(text_dim, np.float32) if text_mean is None else np.asarray(text_mean, np.float32)
        std = np.ones(text_dim, np.float32) if text_std is None else np.asarray(text_std, np.float32)
        self.register_buffer("text_mean", torch.from_numpy(mean.copy()))
        self.register_buffer("text_std", torch.from_numpy(std.copy()))

    @property
    def dims(self) -> dict[str, Any]:
        return {
            "noise_dim": self.noise_dim,
            "n_classes": self.n_classes,
            "text_dim": self.text_dim,
            "out_dim": self.out_dim,
            "arch": self.arch,
            "hidden": self.hidden,
            "use_text": self.use_text,
            "subspace_k": self.subspace_k,
        }

    def standardise(self, t_raw: torch.Tensor) -> torch.Tensor:
        """(t − mean) / std, divided by √Dt so the text block has about unit norm.

        Why the √Dt: text embeddings are strongly low-rank (RAVDESS has 2 sentences, so standardised t is
        ±1 in every dimension). Adam moves every weight by ~lr per step whatever its gradient's size, so
        with coherent unit-scale inputs the text pathway's output moves Dt times faster than a single
        input's, and the MI terms inflated ĥ's variance ~5x within 20 epochs in our RAVDESS check."""
        return (t_raw - self.text_mean) / self.text_std / self.text_dim**0.5

    def forward(self, z: torch.Tensor, c_onehot: torch.Tensor, t_std: torch.Tensor | None) -> torch.Tensor:
        parts = [z, c_onehot]
        if self.use_text:
            if t_std is None:
                raise ValueError("this generator was trained with text conditioning: pass t")
            parts.append(t_std)
        x = torch.cat(parts, dim=1)
        if not self.subspace_k:
            return self.net(x)
        coef = self.net(x) if self.skip is None else self.net(x) + self.skip(x)
        return torch.addmm(self.center, coef, self.basis)

    def linear_map(self) -> nn.Linear:
        """The linear layer that carries the conditioning at init: the whole net (linear), the skip path
        (on-manifold mlp), else the last layer."""
        if isinstance(self.net, nn.Linear):
            return self.net
        return self.skip if self.subspace_k and self.skip is not None else self.net[-1]


class Discriminator(nn.Module):
    """D(h) -> one logit per row (real = 1). With `n_classes` (projection, Miyato & Koyama 2018):
    D(h, c) = ψ(φ(h)) + embed(c)·φ(h), φ the identity (linear) or the hidden layer (mlp), so D judges a row
    against the class it claims; the embedding starts at zero (D starts as the plain one)."""

    def __init__(self, in_dim: int, arch: str = "linear", hidden: int = 512, n_classes: int = 0) -> None:
        super().__init__()
        self.projection = n_classes > 0
        if not self.projection:
            self.net = _net(in_dim, 1, arch, hidden)
            return
        if arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)} (got {arch!r})")
        feat = in_dim if arch == "linear" else hidden
        hidden_layer = nn.Sequential(nn.Linear(in_dim, hidden), nn.LeakyReLU(0.2))
        self.phi = nn.Identity() if arch == "linear" else hidden_layer
        self.psi = nn.Linear(feat, 1)
        self.embed = nn.Embedding(n_classes, feat)
        nn.init.zeros_(self.embed.weight)

    def forward(self, h: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if not self.projection:
            return self.net(h).squeeze(1)
        if c is None:
            raise ValueError("a projection discriminator needs the class of every row")
        f = self.phi(h)
        return self.psi(f).squeeze(1) + (self.embed(c) * f).sum(1)


@dataclass(frozen=True)
class TextKeys:
    """Text rows multiplied out against the frozen W_t (`FrozenHeads.text_keys`): u·W_t and u·b_t, u = t/|t|;
    indexed by rows like the text tensor it stands for."""

    uw: torch.Tensor  # (N, Dh)
    ub: torch.Tensor  # (N,)

    def __getitem__(self, rows: Any) -> TextKeys:
        return TextKeys(self.uw[rows], self.ub[rows])


class FrozenHeads(nn.Module):
    """The stage-1 heads W_y, b_y (emotion) and W_t, b_t (text projection), frozen: requires_grad False,
    so the MI losses send gradient through them into ĥ (and G) but never change them."""

    def __init__(self, heads: dict[str, np.ndarray]) -> None:
        super().__init__()
        missing = [k for k in HEAD_KEYS if k not in heads]
        if missing:
            raise ValueError(f"stage-1 heads lack {', '.join(missing)}")
        for k in HEAD_KEYS:
            value = torch.as_tensor(np.asarray(heads[k], np.float32))
            self.register_parameter(k, nn.Parameter(value.clone(), requires_grad=False))
        c, dh = self.W_y.shape
        dt, dh2 = self.W_t.shape
        if dh != dh2 or self.b_y.shape != (c,) or self.b_t.shape != (dt,):
            raise ValueError(
                f"stage-1 heads disagree: W_y {tuple(self.W_y.shape)}, b_y {tuple(self.b_y.shape)}, "
                f"W_t {tuple(self.W_t.shape)}, b_t {tuple(self.b_t.shape)}"
            )
        w, b = self.W_t.detach().double(), self.b_t.detach().double()
        # W_t'W_t, W_t'b_t, |b_t|² for text_infonce (buffers: they follow .to(device))
        self.register_buffer("text_gram", (w.T @ w).float(), persistent=False)
        self.register_buffer("text_cross", (w.T @ b).float(), persistent=False)
        self.register_buffer("text_bias_sq", (b @ b).float(), persistent=False)

    @property
    def n_classes(self) -> int:
        return int(self.W_y.shape[0])

    @property
    def h_dim(self) -> int:
        return int(self.W_y.shape[1])

    @property
    def text_dim(self) -> int:
        return int(self.W_t.shape[0])

    def class_logits(self, h: torch.Tensor) -> torch.Tensor:
        """Eq. 10 before the softmax: W_y·h + b_y."""
        return h @ self.W_y.T + self.b_y

    def text_projection(self, h: torch.Tensor) -> torch.Tensor:
        """Eq. 12: t̂ = W_t·h + b_t."""
        return h @ self.W_t.T + self.b_t

    def text_keys(self, t: torch.Tensor) -> TextKeys | torch.Tensor:
        """The text side of `text_infonce` for rows t (raw text), multiplied out once: TextKeys(u·W_t, u·b_t)
        with u = t/|t|. Index it by rows (`keys[rows]`) and pass it as text; narrower text than h (where the
        plain form is used) stays as it is."""
        if t.shape[1] <= self.h_dim:
            return t
        u = t / t.norm(dim=1, keepdim=True).clamp_min(1e-8)  # cosine_sim's clamp on the norm
        return TextKeys(u @ self.W_t, u @ self.b_t)

    def text_infonce(self, t: torch.Tensor | TextKeys, h: torch.Tensor, tau: float) -> torch.Tensor:
        """Eq. 13, `info_nce(t, text_projection(h), tau)`, by `info_nce_linear` with the frozen W_t's fixed
        products precomputed: no (B, Dt) t̂ is formed (the GAN step's largest cost before). `t` is raw text
        or its `text_keys` (then no (B, Dt) x (Dt, Dh) product either)."""
        gram = (self.text_gram, self.text_cross, self.text_bias_sq)
        if isinstance(t, TextKeys):
            return info_nce_keys(t.uw, t.ub, h, gram, tau)
        return info_nce_linear(t, h, self.W_t, self.b_t, tau, gram=gram)
