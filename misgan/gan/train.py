"""Stage 2: training the MI-regularised InfoGAN on arrays (paper §3.2, eq. 8-14; §4.2.1): `fit_gan`.

    ĥ = G(z, c, t)       z ~ N(0, I), c one-hot, t standardised text (eq. 8)
    eq. 9-14             `misgan.gan.losses.gan_losses` (D's BCE, with mixup; G's adversarial + MI terms)

One epoch is `steps` full batches; the players alternate per batch (D, then G against the updated D). The
epoch loop, the kept epoch (`misgan.gan.selection.Selector` on the per-epoch evaluation of
`misgan.gan.evaluation`), patience, NaN and collapse stops, progress and logging are `misgan.training.fit`
with its callbacks.

Text: G's input is t standardised with stage 1's statistics (`text_mean`, `text_std` in the heads dict,
else the training rows'); the InfoNCE target is the raw t, because stage 1 trained W_t against raw text.
Cache glue: misgan.gan.run; networks: misgan.gan.models; sampling: misgan.gan.sampling; checkpoints:
misgan.gan.checkpoint; metrics: misgan.gan.metrics.
"""

from __future__ import annotations

import functools
import inspect
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from misgan.callbacks import BestState, EarlyStopping, JsonlLogger, Progress, StopOnNonFinite
from misgan.gan.checkpoint import load_generator, save_generator
from misgan.gan.config import GanConfig
from misgan.gan.evaluation import EvalSet, evaluate
from misgan.gan.inputs import check_inputs, text_stats
from misgan.gan.losses import gan_losses
from misgan.gan.models import GanError, Generator
from misgan.gan.monitor import Collapse, progress_postfix, weak_generator_warnings
from misgan.gan.sampling import conditioning_text, generate
from misgan.gan.selection import Selector
from misgan.training import fit

__all__ = [
    "EvalSet",
    "GanConfig",
    "GanError",
    "GanResult",
    "Selector",
    "conditioning_text",
    "evaluate",
    "fit_gan",
    "gan_losses",
    "generate",
    "load_generator",
    "save_generator",
]


_LOG = logging.getLogger("misgan.gan")

# what the step function sums per epoch (means in the record), from gan_losses
LOSS_KEYS = ("d_loss", "g_adv", "l_iy", "l_it", "d_real", "d_fake")


@dataclass
class GanResult:
    generator: Generator  # the kept (best) generator, in eval mode, on the CPU
    history: list[dict[str, Any]]  # one record per epoch
    metrics: dict[str, Any]  # evaluation of the kept generator (incl. real-vs-generated AUC)
    best_epoch: int = 0
    stopped: str = ""  # why training ended before config.epochs ("" when it ran them all)
    config: GanConfig = field(default_factory=GanConfig)
    warnings: list[str] = field(default_factory=list)  # e.g. the kept generator is at chance (issue 12)


# ---------------------------------------------------------------- training


def _limits_threads(train: Callable[..., GanResult]) -> Callable[..., GanResult]:
    """Runs `train(..., config, ...)` with torch and BLAS/OpenMP limited to `config.threads` (0/None:
    unchanged). Oversubscribed CPUs (more busy processes than cores) make multi-threaded barriers wait for
    descheduled threads: fewer threads are then many times faster."""
    signature = inspect.signature(train)

    @functools.wraps(train)
    def limited(*args: Any, **kwargs: Any) -> GanResult:
        threads = signature.bind(*args, **kwargs).arguments["config"].threads
        if not threads:
            return train(*args, **kwargs)
        import torch
        from threadpoolctl import threadpool_limits

        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            with threadpool_limits(limits=threads):
                return train(*args, **kwargs)
        finally:
            torch.set_num_threads(before)

    return limited


@_limits_threads
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
    import torch.nn.functional as F

    from misgan.gan.initialise import init_on_manifold, init_output_from_data, principal_basis
    from misgan.gan.models import Discriminator, FrozenHeads
    from misgan.runtime import seed_everything

    h_train = np.asarray(h_train, np.float32)
    y_train = np.asarray(y_train, np.int64)
    t_train = None if t_train is None else np.asarray(t_train, np.float32)
    check_inputs(h_train, y_train, t_train, heads, config)
    seed_everything(config.seed)
    dev = torch.device(config.device)
    frozen = FrozenHeads(heads).to(dev)
    n, dh = h_train.shape
    c, dt = frozen.n_classes, frozen.text_dim
    t_mean, t_std = text_stats(heads, t_train if config.use_text else None, dt)
    h_all = torch.from_numpy(h_train).to(dev)
    basis = principal_basis(h_all, config.manifold_variance, config.manifold_rank) if config.manifold else None
    k = 0 if basis is None else basis[1].shape[0]
    # on-manifold: at least one noise input per principal direction, so z can span the whole subspace
    noise_dim = max(config.noise_dim, k)
    G = Generator(noise_dim, c, dt, dh, config.arch, config.hidden, config.use_text, t_mean, t_std, k)
    G = G.to(dev)
    D = Discriminator(dh, config.arch, config.hidden, c if config.disc == "projection" else 0).to(dev)
    # fused: one kernel for every parameter instead of a Python loop of small ops (CPU and CUDA alike)
    opt_g = torch.optim.Adam(G.parameters(), lr=config.lr, betas=config.betas, fused=True)
    opt_d = torch.optim.Adam(D.parameters(), lr=config.lr, betas=config.betas, fused=True)
    gen = torch.Generator(device=dev).manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)

    y_all = torch.from_numpy(y_train).to(dev)
    onehot_all = F.one_hot(y_all, c).float()
    if config.use_text:
        t_raw_all = torch.from_numpy(t_train).to(dev)
        t_std_all = G.standardise(t_raw_all)
        t_key_all = frozen.text_keys(t_raw_all)  # L_It's text side, once: W_t is frozen
        # class-sampled text: rows sorted by class, so a row of class k is order[start[k] + U·count[k]]
        order = torch.argsort(y_all, stable=True)
        count = torch.bincount(y_all, minlength=c)
        start = torch.cumsum(count, 0) - count
    t_init = t_std_all if config.use_text else None
    if basis is not None:
        init_on_manifold(G, h_all, onehot_all, t_init, basis, config.text_ridge)
    elif config.init_from_data:
        init_output_from_data(G, h_all, onehot_all, t_init, gen)
    b = min(config.batch_size, n)
    steps = max(n // b, config.min_steps)  # full batches only: InfoNCE and the step cost stay fixed
    passes = math.ceil(steps * b / n)
    if valid is not None and len(valid[0]) >= 2:
        eval_rows = (np.asarray(valid[0], np.float32), np.asarray(valid[1], np.int64), valid[2], config, "valid")
    else:
        eval_rows = (h_train, y_train, t_train, config, "train")
    # periodic evaluation on a fixed subsample; the final one on every row
    ev, ev_full = EvalSet(*eval_rows), EvalSet(*eval_rows, limit=None)
    for e in (ev, ev_full):
        e.add_reference(heads, h_train if e.split == "valid" else None)
        e.add_train(h_train, y_train, t_train, config.use_text)
    # preallocated per-step buffers: noise and the mixup weights of one epoch
    z_buf = torch.empty(steps, b, noise_dim, device=dev)
    u_buf = torch.empty(steps, b, device=dev)

    def step(epoch: int) -> dict[str, Any]:
        G.train()
        D.train()
        t0 = time.perf_counter()
        perm = torch.cat([torch.randperm(n, generator=gen, device=dev) for _ in range(passes)])
        z_buf.normal_(generator=gen)
        if config.use_text and config.text_mode == "class":
            u_buf.uniform_(generator=gen)
        lam_all = torch.from_numpy(rng.beta(config.mixup_alpha, config.mixup_alpha, (steps, b)).astype(np.float32))
        lam_all = lam_all.to(dev)
        sums = torch.zeros(len(LOSS_KEYS), device=dev)  # summed on the device: one sync per epoch
        for s in range(steps):
            rows = perm[s * b : (s + 1) * b]
            h, yb = h_all[rows], y_all[rows]
            z = z_buf[s]
            t_raw = t_in = None
            if config.use_text:
                if config.text_mode == "class":
                    u = u_buf[s]
                    rows_t = order[start[yb] + (u * count[yb]).long().clamp_max(count[yb] - 1)]
                else:
                    rows_t = rows
                t_raw, t_in = t_key_all[rows_t], t_std_all[rows_t]
            fake = G(z, onehot_all[rows], t_in)
            lam = lam_all[s] if config.mixup else None
            # the players alternate: D's step (eq. 9), then G's (eq. 14) against the updated D
            d_out = gan_losses(D, frozen, h, fake, yb, t_raw, lam, config, part="D")
            opt_d.zero_grad(set_to_none=True)
            d_out["d_loss"].backward()
            opt_d.step()
            g_out = gan_losses(D, frozen, h, fake, yb, t_raw, lam, config, part="G")
            opt_g.zero_grad(set_to_none=True)
            g_out["g_loss"].backward()
            opt_g.step()
            with torch.no_grad():
                both = {**d_out, **g_out}
                sums += torch.stack([both[k].detach() for k in LOSS_KEYS])
        record: dict[str, Any] = {"epoch": epoch, "steps": steps, "batch": b, "train_s": time.perf_counter() - t0}
        means = (sums / steps).tolist()
        record.update(zip(LOSS_KEYS, means, strict=True))
        due = epoch % config.eval_every == 0 or epoch == config.epochs
        finite = all(math.isfinite(v) for v in means)
        if due and finite and all(bool(torch.isfinite(p).all()) for p in G.parameters()):
            t1 = time.perf_counter()
            G.eval()
            record.update(evaluate(G, heads, ev, config))
            record["eval_s"] = time.perf_counter() - t1
        return record

    selector = Selector(
        config.select_by, config.select_tolerance, ev.reference["real_consistency"], config.select_auc_max
    )
    best = BestState(G, selector)
    callbacks = [
        JsonlLogger(log),
        StopOnNonFinite(LOSS_KEYS, [G], "a loss or a generator weight is NaN/inf"),
        Progress(desc, progress, postfix=progress_postfix),
        best,
        Collapse(config),
        EarlyStopping(best, patience=config.patience or None, name=config.select_by),
    ]
    run = fit(step, epochs=config.epochs, callbacks=callbacks)
    if best.state is None:
        raise GanError(f"gan: {run.stopped or 'training failed'}; no epoch produced a usable generator")
    G = G.cpu().eval()
    final = evaluate(G, heads, ev_full, config, auc=True)
    best_metrics = {k: v for k, v in (best.best_record or {}).items() if k not in ("epoch", "train_s", "eval_s")}
    metrics = {
        **best_metrics,
        **final,
        **ev_full.reference,
        "best_epoch": best.best_epoch,
        "eval_split": ev.split,
        "stopped": run.stopped,
    }
    warnings = weak_generator_warnings(metrics, c, config.warn_margin)
    metrics["warnings"] = warnings
    for w in warnings:
        _LOG.warning("%s: %s", desc, w)  # the run folder's summary records metrics["warnings"]
    return GanResult(G, run.history, metrics, best.best_epoch, run.stopped, config, warnings)
