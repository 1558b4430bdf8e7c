"""Stage 2: the MI-regularised InfoGAN on cached features (paper §3.2, eq. 8-14; §4.2.1).

    ĥ = G(z, c, t)                      z ~ N(0, I), c one-hot, t standardised text (eq. 8)
    L_D  = BCE(D(x̃), λ)                 x̃ = λ·h + (1−λ)·ĥ, λ ~ Beta(α, α) per row (mixup, eq. 9)
    L_G  = BCE(D(x̃), 1) + λ_y·L_Iy + λ_t·L_It                                     (eq. 14)
    L_Iy = CE(softmax(W_y·ĥ + b_y), c)          frozen stage-1 head (eq. 10-11)
    L_It = InfoNCE(t, W_t·ĥ + b_t)               frozen stage-1 head, raw t (eq. 12-13)

Eq. 14 writes min_G max_D V − λ_y·L_Iy − λ_t·L_It; since the L_I are *losses* (negative MI bounds), G
minimises them: MI is maximised. Mixup (Zhang et al. 2017, §3.6 there): D sees only mixes of a real row
and the generated row that shares its class (and, in "paired" mode, its text) and regresses the soft
label λ; G gets the non-saturating target 1 on the same mixes, so its gradient is weighted by (1−λ).
Without mixup it is the standard non-saturating GAN. The MI terms always use the pure ĥ.

Text: G's input is t standardised with stage 1's statistics (`text_mean`, `text_std` in the heads dict,
else the training rows'); the InfoNCE target is the raw t, because stage 1 trained W_t against raw text.
Store and CLI glue: misgan/gan_run.py; networks, sampling, checkpoints: misgan/gan_models.py; metrics:
misgan/gan_metrics.py.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from misgan.gan import metrics as gm
from misgan.gan.config import TEXT_MODES, GanConfig
from misgan.gan.metrics import Selector
from misgan.gan.models import GanError, Generator, generate, load_generator, save_generator

if TYPE_CHECKING:
    pass

__all__ = [
    "GanConfig",
    "GanError",
    "GanResult",
    "Selector",
    "conditioning_text",
    "evaluate",
    "fit_gan",
    "generate",
    "load_generator",
    "save_generator",
]


@dataclass
class GanResult:
    generator: Generator  # the kept (best) generator, in eval mode, on the CPU
    history: list[dict[str, Any]]  # one record per epoch
    metrics: dict[str, Any]  # evaluation of the kept generator (incl. real-vs-generated AUC)
    best_epoch: int = 0
    stopped: str = ""  # why training ended before config.epochs ("" when it ran them all)
    config: GanConfig = field(default_factory=GanConfig)


# ---------------------------------------------------------------- conditioning text


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


# ---------------------------------------------------------------- training


def _check_inputs(h: np.ndarray, y: np.ndarray, t: np.ndarray | None, heads: dict, config: GanConfig) -> None:
    if h.ndim != 2 or len(h) != len(y):
        raise GanError(f"gan: h {h.shape} and labels {y.shape} disagree")
    if len(h) < 2:
        raise GanError("gan: need at least 2 training rows")
    if not np.isfinite(h).all():
        raise GanError("gan: training features h contain NaN or inf")
    c, dh = np.shape(heads["W_y"])
    if dh != h.shape[1]:
        raise GanError(f"gan: h has {h.shape[1]} columns but the stage-1 head W_y expects {dh}")
    if y.min() < 0 or y.max() >= c:
        raise GanError(f"gan: labels must lie in [0, {c - 1}] (the head has {c} classes)")
    if config.use_text:
        if t is None or len(t) != len(h):
            raise GanError("gan: text conditioning needs one text embedding per training row (or use --no-text)")
        if t.shape[1] != np.shape(heads["W_t"])[0]:
            raise GanError(f"gan: text has {t.shape[1]} columns but W_t maps to {np.shape(heads['W_t'])[0]}")
        if not np.isfinite(t).all():
            raise GanError("gan: text embeddings contain NaN or inf")


def _text_stats(heads: dict, t: np.ndarray | None, dt: int) -> tuple[np.ndarray, np.ndarray]:
    if "text_mean" in heads and "text_std" in heads:
        return np.asarray(heads["text_mean"], np.float32), np.asarray(heads["text_std"], np.float32)
    if t is None:
        return np.zeros(dt, np.float32), np.ones(dt, np.float32)
    sd = t.std(axis=0, dtype=np.float64)
    sd[sd < 1e-8] = 1.0  # constant columns map to 0, not NaN (as stage 1)
    return t.mean(axis=0, dtype=np.float64).astype(np.float32), sd.astype(np.float32)


class EvalSet:
    """Fixed rows, labels, text and noise for the per-epoch evaluation, so curves are comparable."""

    def __init__(self, h, y, t, config: GanConfig, split: str) -> None:
        rng = np.random.default_rng(config.seed + 1)
        keep = np.sort(rng.choice(len(h), len(h), replace=False)[: config.eval_rows])
        self.h, self.y = h[keep], y[keep]
        self.t = None if (t is None or not config.use_text) else t[keep]
        self.split = split
        self.seed = config.seed + 1
        self.fd_ref = gm.FrechetReference.from_rows(self.h)  # the real side is fixed: prepare it once
        self.cfd_ref = gm.ClassFrechetReference(self.h, self.y)
        self.reference: dict[str, float] = {}  # the same metrics for real rows, to read the others against

    def add_reference(self, heads: dict, h_train: np.ndarray | None) -> None:
        """Head consistency and MI bound of the real evaluation rows; on validation rows also the FD
        between real training rows and them (the distance real data itself has across speakers)."""
        logits = self.h @ np.asarray(heads["W_y"]).T + np.asarray(heads["b_y"])
        self.reference["real_consistency"] = gm.consistency(logits, self.y)["accuracy"]
        self.reference["real_mi_bits"] = gm.mi_class_bound(logits, self.y)["mi_bits"]
        if h_train is not None and len(h_train) >= 2:
            self.reference["real_fd_train_vs_eval"] = self.fd_ref.distance(h_train)


def evaluate(generator: Generator, heads: dict, ev: EvalSet, config: GanConfig, auc: bool = False) -> dict:
    """Quality metrics of `generator` on the evaluation rows (see misgan.gan.metrics)."""
    fake = generate(generator, ev.y, ev.t, ev.seed)
    logits = fake @ np.asarray(heads["W_y"]).T + np.asarray(heads["b_y"])
    mi = gm.mi_class_bound(logits, ev.y)
    cons = gm.consistency(logits, ev.y)
    out: dict[str, Any] = {
        "mi_bits": mi["mi_bits"],
        "h_c_bits": mi["h_c_bits"],
        "mi_bits_per_class": mi["per_class"],
        "consistency": cons["accuracy"],
        "consistency_per_class": cons["per_class"],
        "std_ratio": gm.std_ratio(ev.h, fake),
        "fd": ev.fd_ref.distance(fake),
        "cfd": ev.cfd_ref.distance(fake, ev.y),
    }
    if ev.t is not None:
        t_hat = fake @ np.asarray(heads["W_t"]).T + np.asarray(heads["b_t"])
        out["infonce_bits"] = gm.infonce_bound(ev.t, t_hat, config.tau, config.batch_size)["infonce_bits"]
    if auc:
        out["auc_real_vs_fake"] = gm.real_vs_fake_auc(ev.h, fake, seed=config.seed)
    return out


def fit_gan(
    h_train: np.ndarray,
    y_train: np.ndarray,
    t_train: np.ndarray | None,
    heads: dict[str, np.ndarray],
    config: GanConfig,
    log: Any = None,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None,
    progress: bool | None = False,
    desc: str = "gan",
) -> GanResult:
    """Train G and D on the given training rows; keep the generator of the best epoch (config.select_by,
    on `valid` = (h, y, t) rows when given and non-empty, else on the training rows).

    `log` gets one dict per epoch via `.write`; `progress` None shows a tqdm bar only on a TTY."""
    import torch

    if not config.threads:
        return _train(h_train, y_train, t_train, heads, config, log, valid, progress, desc)
    from threadpoolctl import threadpool_limits

    # Oversubscribed CPUs (more busy processes than cores) make multi-threaded BLAS/OpenMP barriers
    # wait for descheduled threads: fewer threads are then many times faster.
    before = torch.get_num_threads()
    torch.set_num_threads(config.threads)
    try:
        with threadpool_limits(limits=config.threads):
            return _train(h_train, y_train, t_train, heads, config, log, valid, progress, desc)
    finally:
        torch.set_num_threads(before)


def _train(
    h_train: np.ndarray,
    y_train: np.ndarray,
    t_train: np.ndarray | None,
    heads: dict[str, np.ndarray],
    config: GanConfig,
    log: Any,
    valid: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None,
    progress: bool | None,
    desc: str,
) -> GanResult:
    import torch
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    from misgan.alignment.losses import cross_entropy, info_nce
    from misgan.gan.models import Discriminator, FrozenHeads, init_output_from_data
    from misgan.runs import seed_everything

    h_train = np.asarray(h_train, np.float32)
    y_train = np.asarray(y_train, np.int64)
    t_train = None if t_train is None else np.asarray(t_train, np.float32)
    _check_inputs(h_train, y_train, t_train, heads, config)
    seed_everything(config.seed)
    dev = torch.device(config.device)
    frozen = FrozenHeads(heads).to(dev)
    n, dh = h_train.shape
    c, dt = frozen.n_classes, frozen.text_dim
    t_mean, t_std = _text_stats(heads, t_train if config.use_text else None, dt)
    G = Generator(config.noise_dim, c, dt, dh, config.arch, config.hidden, config.use_text, t_mean, t_std).to(dev)
    D = Discriminator(dh, config.arch, config.hidden).to(dev)
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr, betas=config.betas)
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr, betas=config.betas)
    gen = torch.Generator(device=dev).manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)

    h_all = torch.from_numpy(h_train).to(dev)
    y_all = torch.from_numpy(y_train).to(dev)
    onehot_all = F.one_hot(y_all, c).float()
    if config.use_text:
        t_raw_all = torch.from_numpy(t_train).to(dev)
        t_std_all = G.standardise(t_raw_all)
        # class-sampled text: rows sorted by class, so a row of class k is order[start[k] + U·count[k]]
        order = torch.argsort(y_all, stable=True)
        count = torch.bincount(y_all, minlength=c)
        start = torch.cumsum(count, 0) - count
    if config.init_from_data:
        init_output_from_data(G, h_all, onehot_all, t_std_all if config.use_text else None, gen)
    b = min(config.batch_size, n)
    steps = max(n // b, config.min_steps)  # full batches only: InfoNCE and the step cost stay fixed
    passes = math.ceil(steps * b / n)
    if valid is not None and len(valid[0]) >= 2:
        ev = EvalSet(np.asarray(valid[0], np.float32), np.asarray(valid[1], np.int64), valid[2], config, "valid")
    else:
        ev = EvalSet(h_train, y_train, t_train, config, "train")
    ev.add_reference(heads, h_train if ev.split == "valid" else None)

    history: list[dict[str, Any]] = []
    selector = Selector(config.select_by, config.select_tolerance, ev.reference["real_consistency"])
    best_state, best_epoch, best_metrics, stale, bad_epochs, stopped = None, 0, {}, 0, 0, ""
    bar = tqdm(range(1, config.epochs + 1), desc=desc, disable=None if progress is None else not progress)
    for epoch in bar:
        G.train()
        D.train()
        t0 = time.perf_counter()
        perm = torch.cat([torch.randperm(n, generator=gen, device=dev) for _ in range(passes)])
        lam_all = torch.from_numpy(rng.beta(config.mixup_alpha, config.mixup_alpha, (steps, b)).astype(np.float32))
        lam_all = lam_all.to(dev)
        sums = torch.zeros(6, device=dev)  # d_loss, g_adv, l_iy, l_it, d_real, d_fake (summed on device)
        for s in range(steps):
            rows = perm[s * b : (s + 1) * b]
            h, yb = h_all[rows], y_all[rows]
            z = torch.randn(b, config.noise_dim, generator=gen, device=dev)
            t_raw = t_in = None
            if config.use_text:
                if config.text_mode == "class":
                    u = torch.rand(b, generator=gen, device=dev)
                    rows_t = order[start[yb] + (u * count[yb]).long().clamp_max(count[yb] - 1)]
                else:
                    rows_t = rows
                t_raw, t_in = t_raw_all[rows_t], t_std_all[rows_t]
            fake = G(z, onehot_all[rows], t_in)
            # D step (eq. 9 with mixup soft labels)
            if config.mixup:
                lam = lam_all[s].unsqueeze(1)
                d_out = D(lam * h + (1 - lam) * fake.detach())
                d_loss = F.binary_cross_entropy_with_logits(d_out, lam_all[s])
                d_real_logit, d_fake_logit = D(h).detach(), D(fake.detach()).detach()
            else:
                d_real_logit, d_fake_logit = D(h), D(fake.detach())
                d_loss = F.binary_cross_entropy_with_logits(
                    d_real_logit, torch.ones_like(d_real_logit)
                ) + F.binary_cross_entropy_with_logits(d_fake_logit, torch.zeros_like(d_fake_logit))
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
            # G step (eq. 14): non-saturating adversarial term + MI losses through the frozen heads
            g_in = lam * h + (1 - lam) * fake if config.mixup else fake
            g_logit = D(g_in)
            g_adv = F.binary_cross_entropy_with_logits(g_logit, torch.ones_like(g_logit))
            g_loss = g_adv
            l_iy = l_it = torch.zeros((), device=dev)
            if config.use_mi:
                l_iy = cross_entropy(frozen.class_logits(fake), yb)
                g_loss = g_loss + config.lambda_y * l_iy
                if config.use_text:
                    l_it = info_nce(t_raw, frozen.text_projection(fake), config.tau)
                    g_loss = g_loss + config.lambda_t * l_it
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
            with torch.no_grad():
                sums += torch.stack(
                    [
                        d_loss.detach(),
                        g_adv.detach(),
                        l_iy.detach(),
                        l_it.detach(),
                        torch.sigmoid(d_real_logit).mean(),
                        torch.sigmoid(d_fake_logit).mean(),
                    ]
                )
        train_s = time.perf_counter() - t0
        means = (sums / steps).tolist()
        record: dict[str, Any] = {"epoch": epoch, "steps": steps, "batch": b, "train_s": train_s}
        record.update(zip(("d_loss", "g_adv", "l_iy", "l_it", "d_real", "d_fake"), means, strict=True))
        finite = all(math.isfinite(v) for v in means) and all(
            bool(torch.isfinite(p).all()) for p in G.parameters()
        )
        if finite:
            t1 = time.perf_counter()
            G.eval()
            record.update(evaluate(G, heads, ev, config))
            record["eval_s"] = time.perf_counter() - t1
        history.append(record)
        if log is not None:
            log.write(record)
        if not finite:
            stopped = f"diverged at epoch {epoch}: a loss or a generator weight is NaN/inf"
            break
        bar.set_postfix(
            D=f"{record['d_loss']:.3f}",
            G=f"{record['g_adv']:.3f}",
            MI=f"{record['mi_bits']:.2f}b",
            acc=f"{record['consistency']:.2f}",
        )
        if selector.offer(record):
            best_epoch, stale = epoch, 0
            best_state = copy.deepcopy(G.state_dict())
            best_metrics = {k: v for k, v in record.items() if k not in ("epoch", "train_s", "eval_s")}
        else:
            stale += 1
        saturated = record["d_real"] > 0.99 and record["d_fake"] < 0.01
        bad_epochs = bad_epochs + 1 if (record["std_ratio"] < config.collapse_std or saturated) else 0
        if bad_epochs >= config.collapse_epochs:
            why = "generated std collapsed" if record["std_ratio"] < config.collapse_std else "D saturated"
            stopped = f"diverged at epoch {epoch}: {why} for {bad_epochs} epochs"
            break
        if config.patience and stale >= config.patience:
            stopped = f"early stop at epoch {epoch}: no better {config.select_by} for {stale} epochs"
            break
    bar.close()
    if best_state is None:
        raise GanError(f"gan: {stopped or 'training failed'}; no epoch produced a usable generator")
    G.load_state_dict(best_state)
    G = G.cpu().eval()
    final = evaluate(G, heads, ev, config, auc=True)
    metrics = {
        **best_metrics,
        **final,
        **ev.reference,
        "best_epoch": best_epoch,
        "eval_split": ev.split,
        "stopped": stopped,
    }
    return GanResult(G, history, metrics, best_epoch, stopped, config)
