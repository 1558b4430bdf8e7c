"""Networks of stage 2 (paper §3.2, §4.2.1): generator G(z, c, t), discriminator D, and the frozen stage-1 heads.

The paper's choice is the simplest one: G and D are single linear layers without activation (D outputs a
logit; the sigmoid lives inside BCE-with-logits). `arch="mlp"` adds one hidden layer with LeakyReLU for
features that a linear map of Gaussian noise cannot fit.

torch is imported at module level here, so `misgan/__init__.py` must not import this module.
"""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from misgan.config import to_dict
from misgan.errors import MisganError
from misgan.gan.config import TEXT_MODES
from misgan.io import atomic_write

CHECKPOINT_FORMAT = "misgan-generator/1"
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


# ---------------------------------------------------------------- conditioning text, sampling, checkpoints


def conditioning_text(
    t: np.ndarray | None, y: np.ndarray, labels: np.ndarray, mode: str, rng: np.random.Generator
) -> np.ndarray | None:
    """Text embeddings (raw, as stored) to condition one generated row per entry of `labels`.

    paired: when `labels` equals `y`, row i gets t[i] (its own real utterance); otherwise each label takes
            the texts of training rows of that class without replacement (reshuffled once a class is used up).
    class:  each label takes t of a training row of that class drawn uniformly with replacement (--balance).
    none:   None (generator trained without text)."""
    if mode not in TEXT_MODES:
        raise GanError(f"conditioning text: mode must be one of {', '.join(TEXT_MODES)} (got {mode!r})")
    if mode == "none":
        return None
    if t is None:
        raise GanError(f"conditioning text: mode {mode!r} needs text embeddings")
    t, y, labels = np.asarray(t), np.asarray(y, np.int64), np.asarray(labels, np.int64)
    if mode == "paired" and len(labels) == len(y) and np.array_equal(labels, y):
        return t.astype(np.float32, copy=True)
    rows = np.empty(len(labels), np.int64)
    for k in np.unique(labels):
        pool = np.flatnonzero(y == k)
        if len(pool) == 0:
            raise GanError(f"conditioning text: no training row of class {k} to take text from")
        where = np.flatnonzero(labels == k)
        if mode == "class":
            rows[where] = rng.choice(pool, size=len(where), replace=True)
        else:
            reps = math.ceil(len(where) / len(pool))
            rows[where] = np.concatenate([rng.permutation(pool) for _ in range(reps)])[: len(where)]
    return t[rows].astype(np.float32)


def generate(
    generator: Generator, labels: np.ndarray, t_cond: np.ndarray | None, seed: int, batch_size: int = 4096
) -> np.ndarray:
    """ĥ = G(z, c, t) for each label (and raw conditioning text row), z drawn from `seed`: float32 (n, Dh)."""
    labels = np.asarray(labels, np.int64)
    if generator.use_text and (t_cond is None or len(t_cond) != len(labels)):
        raise GanError("generate: this generator needs one conditioning text row per label")
    if len(labels) and (labels.min() < 0 or labels.max() >= generator.n_classes):
        raise GanError(f"generate: labels must lie in [0, {generator.n_classes - 1}]")
    dev = next(generator.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    out = np.empty((len(labels), generator.out_dim), np.float32)
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        for i in range(0, len(labels), batch_size):
            lab = torch.from_numpy(labels[i : i + batch_size]).to(dev)
            z = torch.randn(len(lab), generator.noise_dim, generator=gen, device=dev)
            t = None
            if generator.use_text:
                t = generator.standardise(
                    torch.as_tensor(np.asarray(t_cond[i : i + batch_size], np.float32)).to(dev)
                )
            out[i : i + len(lab)] = generator(z, F.one_hot(lab, generator.n_classes).float(), t).cpu().numpy()
    generator.train(was_training)
    return out


def save_generator(
    path: str | Path,
    result: Any,
    *,
    label_names: list[str] | None = None,
    fold: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """torch.save a dict {format, state_dict, config, dims, label_names, fold, metrics, history, best_epoch,
    stopped} to `path` (atomically: misgan.io.atomic_write)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in result.generator.state_dict().items()},
        "config": to_dict(result.config),
        "dims": result.generator.dims,
        "label_names": list(label_names) if label_names is not None else None,
        "fold": fold,
        "metrics": to_dict(result.metrics),
        "history": to_dict(result.history),  # the per-epoch metrics, as in the run's log.jsonl
        "best_epoch": result.best_epoch,
        "stopped": result.stopped,
        **(extra or {}),
    }
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    return atomic_write(path, buf.getvalue())


def load_generator(path: str | Path) -> tuple[Generator, dict[str, Any]]:
    """(generator in eval mode, checkpoint dict) from a file written by `save_generator`."""
    path = Path(path)
    if not path.is_file():
        raise GanError(f"{path}: generator checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupt or foreign file
        raise GanError(f"{path}: not a readable generator checkpoint ({exc})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise GanError(f"{path}: not a misgan generator checkpoint (format {CHECKPOINT_FORMAT} expected)")
    d = ckpt["dims"]
    try:
        g = Generator(
            d["noise_dim"],
            d["n_classes"],
            d["text_dim"],
            d["out_dim"],
            d["arch"],
            d["hidden"],
            d["use_text"],
            subspace_k=int(d.get("subspace_k", 0)),  # checkpoints before the on-manifold G have none
        )
        g.load_state_dict(ckpt["state_dict"])
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise GanError(f"{path}: generator checkpoint does not match this misgan version ({exc})") from exc
    return g.eval(), ckpt
