"""`misgan gan`: train one stage-2 generator per fold, or sample a trained one into a store."""

from __future__ import annotations

from pathlib import Path

import typer

from misgan.cli.common import user_errors


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("gan")(gan)


def gan(
    cache: Path = typer.Option(..., "--cache", help="Feature cache with stage-1 folds (misgan align)."),
    fold: list[str] = typer.Option(None, "--fold", help="Fold name (repeatable). Default: every fold."),
    all_folds: bool = typer.Option(False, "--all-folds", help="Train every fold of the cache (the default)."),
    config_file: Path = typer.Option(None, "--config", help="YAML with GanConfig fields (flags override it)."),
    epochs: int = typer.Option(None, "--epochs", help="Maximum epochs (early stopping may end sooner)."),
    noise_dim: int = typer.Option(None, "--noise-dim", help="Width of the noise vector z."),
    arch: str = typer.Option(None, "--arch", help="linear (paper) or mlp."),
    batch_size: int = typer.Option(None, "--batch-size"),
    lr: float = typer.Option(None, "--lr", help="Adam learning rate (paper: 1e-4)."),
    no_mi: bool = typer.Option(False, "--no-mi", help="Ablation: no MI terms (L_Iy, L_It)."),
    no_text: bool = typer.Option(False, "--no-text", help="Ablation: no text conditioning (and no L_It)."),
    no_mixup: bool = typer.Option(False, "--no-mixup", help="Ablation: plain GAN losses, no mixup."),
    lambda_y: float = typer.Option(None, "--lambda-y", help="Weight of L_Iy (eq. 14)."),
    lambda_t: float = typer.Option(None, "--lambda-t", help="Weight of L_It (eq. 14)."),
    text_mode: str = typer.Option(None, "--text-mode", help="Training text: paired or class."),
    seed: int = typer.Option(None, "--seed"),
    threads: int = typer.Option(None, "--threads", help="torch/BLAS threads (1 is fastest on a busy CPU)."),
    run_dir: Path = typer.Option(None, "--run-dir", help="Run folder (default runs/gan-<cache name>)."),
    sample: int = typer.Option(None, "--sample", help="Write N generated rows per class instead of training."),
    out: Path = typer.Option(None, "--out", help="Store for --sample (default <run-dir>/<fold>/synthetic.zarr)."),
    sample_text: str = typer.Option("class", "--sample-text", help="Conditioning text for --sample."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing --out store."),
) -> None:
    """Train the MI-regularised InfoGAN (stage 2) on each fold's training rows, or --sample from it."""
    with user_errors():
        from misgan.config import from_dict, load_yaml, replace
        from misgan.gan import run as gan_run
        from misgan.gan.train import GanConfig, GanError

        run = run_dir if run_dir is not None else Path("runs") / f"gan-{Path(cache).name.split('.')[0]}"
        if sample is not None:
            _sample(cache, run, fold, sample, out, seed or 0, sample_text, overwrite)
            return
        if fold and all_folds:
            raise GanError("--fold and --all-folds exclude each other")
        base = from_dict(GanConfig, load_yaml(config_file), str(config_file)) if config_file else GanConfig()
        changes = dict(epochs=epochs, noise_dim=noise_dim, arch=arch, batch_size=batch_size, lr=lr)
        changes.update(lambda_y=lambda_y, lambda_t=lambda_t, seed=seed, text_mode=text_mode, threads=threads)
        if no_mi:
            changes["use_mi"] = False
        if no_mixup:
            changes["mixup"] = False
        if no_text:
            changes.update(use_text=False, text_mode="none")
        config = replace(base, **changes)
        from misgan.runs import create_run_dir

        run = create_run_dir(run.parent, run.name, config, config.seed)

        def report(s: dict) -> None:
            stop = f"  [{s['stopped']}]" if s["stopped"] else ""
            typer.echo(
                f"fold {s['fold']}: best epoch {s['best_epoch']}/{s['epochs_run']}  consistency "
                f"{s['consistency']:.3f}  I(c;ĥ)>={s['mi_bits']:.2f} of {s['h_c_bits']:.2f} bits  "
                f"FD {s['fd']:.2f}  AUC real/gen {s['auc_real_vs_fake']:.3f}{stop}"
            )
            if s["stopped"].startswith("diverged"):
                typer.secho(
                    f"warning: fold {s['fold']} {s['stopped']}; kept the checkpoint of epoch {s['best_epoch']}",
                    fg=typer.colors.YELLOW,
                    err=True,
                )

        gan_run.run_gan(cache, config, run, folds=list(fold) if fold else None, progress=None, on_fold=report)
        typer.echo(f"generators and logs in {run}")


def _sample(
    cache: Path,
    run: Path,
    folds: list[str] | None,
    n: int,
    out: Path | None,
    seed: int,
    text: str,
    overwrite: bool,
) -> None:
    from misgan.gan import run as gan_run
    from misgan.gan.train import GanError

    if folds and len(folds) > 1:
        raise GanError("--sample takes one --fold")
    if folds:
        fold = folds[0]
    else:
        found = sorted(p.parent.name for p in run.glob("*/generator.pt"))
        if len(found) != 1:
            have = ", ".join(found) or "none"
            raise GanError(f"{run}: choose the generator to sample with --fold (generators found: {have})")
        fold = found[0]
    path = run / fold / "generator.pt"
    target = out if out is not None else run / fold / "synthetic.zarr"
    store = gan_run.sample_to_store(cache, path, n, target, seed=seed, text_mode=text, overwrite=overwrite)
    typer.echo(f"wrote {store.n_rows} generated rows ({n} per class) to {target}")
    store.close()
