"""`misgan gan`: train one stage-2 generator per fold, or sample a trained one into a store."""

from __future__ import annotations

from pathlib import Path

import typer

from misgan.cli.common import default, fold_echo, given, threads_option, user_errors
from misgan.gan.config import GanConfig

G = GanConfig


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("gan")(gan)


def gan(
    ctx: typer.Context,
    cache: Path = typer.Option(..., "--cache", help="Feature cache with a stage-1 run (misgan align)."),
    fold: list[str] | None = typer.Option(
        None, "--fold", metavar="NAME", help="Only this fold (repeatable); default: all."
    ),
    config_file: Path | None = typer.Option(
        None, "--config", help="YAML: GanConfig fields, or a `misgan run` config (its gan section)."
    ),
    align_run: Path | None = typer.Option(
        None, "--align-run", help="Stage-1 run folder; default: the cache's latest complete align run."
    ),
    epochs: int = typer.Option(
        default(G, "epochs"), "--epochs", help="Maximum epochs (early stopping may end sooner)."
    ),
    noise_dim: int = typer.Option(default(G, "noise_dim"), "--noise-dim", help="Width of the noise vector z."),
    arch: str = typer.Option(default(G, "arch"), "--arch", help="linear (paper) or mlp."),
    batch_size: int = typer.Option(default(G, "batch_size"), "--batch-size", help="Rows per step."),
    lr: float = typer.Option(default(G, "lr"), "--lr", help="Adam learning rate (paper: 1e-4)."),
    patience: int = typer.Option(default(G, "patience"), "--patience", help="Early-stopping patience, 0 = never."),
    mi: bool = typer.Option(default(G, "use_mi"), "--mi/--no-mi", help="MI terms L_Iy, L_It (--no-mi: ablation)."),
    text: bool = typer.Option(
        default(G, "use_text"), "--text/--no-text", help="Text conditioning and L_It (--no-text: ablation)."
    ),
    mixup: bool = typer.Option(
        default(G, "mixup"), "--mixup/--no-mixup", help="Mixup in G and D (--no-mixup: ablation)."
    ),
    lambda_y: float = typer.Option(default(G, "lambda_y"), "--lambda-y", help="Weight of L_Iy (eq. 14)."),
    lambda_t: float = typer.Option(default(G, "lambda_t"), "--lambda-t", help="Weight of L_It (eq. 14)."),
    text_mode: str = typer.Option(default(G, "text_mode"), "--text-mode", help="Training text: paired or class."),
    seed: int = typer.Option(default(G, "seed"), "--seed", help="Seed of G, D, the noise and the batches."),
    threads: int = threads_option(G),
    jobs: int = typer.Option(
        default(G, "jobs"), "--jobs", min=1, help="Folds trained in parallel processes (1 = serial)."
    ),
    run_dir: Path | None = typer.Option(
        None, "--run-dir", help="Run folder; default: runs/<cache name>/gan-<key> (reused when the key matches)."
    ),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bar; default: on a TTY."
    ),
    sample: int | None = typer.Option(
        None, "--sample", help="Write N generated rows per class instead of training."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Store for --sample; default: <gan run>/folds/<fold>/synthetic.zarr."
    ),
    sample_text: str = typer.Option("class", "--sample-text", help="Conditioning text for --sample."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out store."),
) -> None:
    """Train the MI-regularised InfoGAN (stage 2) on each fold's training rows, or --sample from it."""
    with user_errors():
        if sample is not None:
            _sample(cache, run_dir, fold, sample, out, seed, sample_text, overwrite)
            return
        from misgan.config import load_config
        from misgan.gan.run import train_gan

        opts = given(ctx, epochs=epochs, noise_dim=noise_dim, arch=arch, batch_size=batch_size, lr=lr)
        opts |= given(ctx, patience=patience, lambda_y=lambda_y, lambda_t=lambda_t, text_mode=text_mode)
        opts |= given(ctx, seed=seed, threads=threads, mixup=mixup, jobs=jobs)
        if given(ctx, mi=mi):
            opts["use_mi"] = mi
        if given(ctx, text=text):
            opts["use_text"] = text
            if not text:
                opts["text_mode"] = "none"  # the one text mode without text
        if fold:
            opts["folds"] = tuple(fold)
        config = load_config(GanConfig, config_file, overrides=opts)
        result = train_gan(cache, config, run_dir, align_run=align_run, progress=progress, echo=fold_echo())
    for s in result.summary.get("folds", []):
        if str(s.get("stopped", "")).startswith("diverged"):
            typer.secho(
                f"warning: fold {s['fold']} {s['stopped']}; kept the checkpoint of epoch {s['best_epoch']}",
                fg=typer.colors.YELLOW,
                err=True,
            )
    typer.echo(format_summary(result.summary))
    typer.echo(f"{'reused' if result.reused else 'wrote'} gan run {result.run_dir} (key {result.key[:12]})")


def format_summary(summary: dict) -> str:
    """One row per fold (consistency in percent, as every printed table), then what is left to do."""
    lines = [f"{'fold':<16} {'consistency %':>13} {'FD':>8} {'AUC real/gen':>12} {'best epoch':>10}"]
    for s in summary.get("folds", []):
        auc = s.get("auc_real_vs_fake")
        best = f"{s['best_epoch']}/{s['epochs_run']}"
        lines.append(
            f"{s['fold']:<16} {100 * s['consistency']:>13.1f} {s['fd']:>8.2f} "
            f"{'-' if auc is None else f'{auc:.3f}':>12} {best:>10}"
        )
    if summary.get("folds_todo"):
        lines.append(f"to do: {', '.join(summary['folds_todo'])}")
    return "\n".join(lines)


def _sample(
    cache: Path,
    run_dir: Path | None,
    folds: list[str] | None,
    n: int,
    out: Path | None,
    seed: int,
    text: str,
    overwrite: bool,
) -> None:
    from misgan.gan import run as gan_run
    from misgan.gan.models import GanError
    from misgan.gan.sample_store import sample_to_store
    from misgan.run_lookup import latest_run
    from misgan.runs import StageRun

    run = StageRun.open(run_dir) if run_dir is not None else latest_run(cache, "gan")
    if run is None:
        raise GanError(f"{cache}: no complete gan run of this cache; train one first or give --run-dir")
    if folds and len(folds) > 1:
        raise GanError("--sample takes one --fold")
    found = run.folds()
    if folds:
        fold = folds[0]
    elif len(found) == 1:
        fold = found[0]
    else:
        raise GanError(
            f"{run.path}: choose the generator to sample with --fold (folds: {', '.join(found) or 'none'})"
        )
    if fold not in found:
        raise GanError(f"{run.path}: no generator for fold {fold!r} (folds: {', '.join(found) or 'none'})")
    target = out if out is not None else run.fold_dir(fold) / "synthetic.zarr"
    path = gan_run.generator_path(run, fold)
    store = sample_to_store(cache, path, n, target, seed=seed, text_mode=text, overwrite=overwrite)
    typer.echo(f"wrote {store.n_rows} generated rows ({n} per class) to {target}")
    store.close()
