"""Stage 1 command: `misgan align` (adapter on cached features, or `--finetune` the audio encoder)."""

from __future__ import annotations

from pathlib import Path

import typer

from misgan.alignment.config import AlignConfig, FinetuneConfig
from misgan.cli.common import default, fold_echo, given, threads_option, user_errors

A = AlignConfig
PROTOCOL_HELP = "loso-speaker | loso-session | split | kfold | file (with --fold-file)."
FT = "--finetune: the encoder run's"


def align(
    ctx: typer.Context,
    cache: Path = typer.Option(..., "--cache", help="Feature cache (.zarr / .h5) from `misgan extract`."),
    config: Path | None = typer.Option(
        None, "--config", help="YAML: AlignConfig fields, or a `misgan run` config (its align section)."
    ),
    protocol: str = typer.Option(default(A, "protocol"), "--protocol", help=PROTOCOL_HELP),
    fold_file: str | None = typer.Option(None, "--fold-file", help="Fold assignment for --protocol file."),
    k: int = typer.Option(default(A, "k"), "--k", help="Number of folds for --protocol kfold."),
    fold: list[str] | None = typer.Option(
        None, "--fold", metavar="NAME", help="Only this fold (repeatable); default: all."
    ),
    alpha: float = typer.Option(default(A, "alpha"), "--alpha", help="Weight of L_CL, eq. 5."),
    beta: float = typer.Option(default(A, "beta"), "--beta", help="Weight of L_MI, eq. 6."),
    tau: float = typer.Option(default(A, "tau"), "--tau", help="InfoNCE temperature."),
    symmetric: bool = typer.Option(
        default(A, "symmetric"), "--symmetric/--one-way", help="Eq. 5 in CLAP's symmetric form."
    ),
    h_dim: int = typer.Option(default(A, "h_dim"), "--h-dim", help="Width of h."),
    hidden: int = typer.Option(default(A, "hidden"), "--hidden", help="Adapter hidden width, 0 = linear."),
    dropout: float = typer.Option(default(A, "dropout"), "--dropout", help="Adapter dropout."),
    epochs: int = typer.Option(
        default(A, "epochs"),
        "--epochs",
        help=f"Maximum epochs per fold ({FT}: {default(FinetuneConfig, 'epochs')}).",
    ),
    batch_size: int = typer.Option(
        default(A, "batch_size"),
        "--batch-size",
        help=f"Rows per step ({FT}: {default(FinetuneConfig, 'batch_size')}).",
    ),
    lr: float = typer.Option(
        default(A, "lr"), "--lr", help=f"AdamW learning rate ({FT} head_lr: {default(FinetuneConfig, 'head_lr')})."
    ),
    weight_decay: float = typer.Option(default(A, "weight_decay"), "--weight-decay", help="AdamW weight decay."),
    patience: int = typer.Option(default(A, "patience"), "--patience", help="Early-stopping patience (epochs)."),
    monitor: str = typer.Option(
        default(A, "monitor"), "--monitor", help="Early stopping on validation loss or uar."
    ),
    class_weights: bool = typer.Option(
        default(A, "class_weights"),
        "--class-weights/--no-class-weights",
        help="Inverse-frequency weights in L_SER.",
    ),
    text_head: str = typer.Option(
        default(A, "text_head"), "--text-head", help="W_t fit when beta=0: infonce | lstsq."
    ),
    seed: int = typer.Option(default(A, "seed"), "--seed", help="One seed for folds, initialisation and batches."),
    threads: int = threads_option(A),
    jobs: int = typer.Option(
        default(A, "jobs"), "--jobs", min=1, help="Folds trained in parallel processes (1 = serial)."
    ),
    finetune: bool = typer.Option(False, "--finetune", help="Fine-tune the HF audio encoder on raw audio."),
    manifest: Path | None = typer.Option(None, "--manifest", help="--finetune: manifest CSV with audio paths."),
    root: Path | None = typer.Option(None, "--root", help="--finetune: folder that relative paths start from."),
    lora: bool = typer.Option(False, "--lora", help="--finetune: LoRA adapters (peft) instead of full weights."),
    device: str | None = typer.Option(
        None, "--device", help="--finetune: cpu | cuda; default: cuda if available."
    ),
    run_dir: Path | None = typer.Option(
        None, "--run-dir", help="Run folder; default: runs/<cache name>/align-<key> (reused when the key matches)."
    ),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bar; default: on a TTY."
    ),
) -> None:
    """Stage 1: align h with the text features, train W_y and W_t per fold, print the baseline UAR."""
    with user_errors():
        from misgan.alignment.summary import format_summary
        from misgan.config import load_config

        opts = given(ctx, protocol=protocol, fold_file=fold_file, k=k, alpha=alpha, beta=beta, tau=tau)
        opts |= given(ctx, symmetric=symmetric, h_dim=h_dim, hidden=hidden, dropout=dropout, seed=seed)
        opts |= given(ctx, weight_decay=weight_decay, patience=patience, monitor=monitor, threads=threads)
        opts |= given(ctx, jobs=jobs)
        opts |= given(ctx, class_weights=class_weights, text_head=text_head)
        if fold:
            opts["folds"] = tuple(fold)
        # with --finetune, --epochs / --batch-size / --lr are the encoder run's (the adapter's are unused)
        run_opts = given(ctx, epochs=epochs, batch_size=batch_size, lr=lr)
        if not finetune:
            opts |= run_opts
        cfg = load_config(AlignConfig, config, overrides=opts)
        if finetune:
            from misgan.alignment.finetune_run import finetune as run_finetune

            ft_opts = {"lora": lora, "device": device, "seed": cfg.seed, **run_opts}
            if "lr" in ft_opts:
                ft_opts["head_lr"] = ft_opts.pop("lr")
            ft = load_config(FinetuneConfig, None, overrides=ft_opts)
            result = run_finetune(
                cache, cfg, ft, run_dir, manifest=manifest, root=root, progress=progress, echo=fold_echo()
            )
        else:
            from misgan.alignment.run import align as run_align

            result = run_align(cache, cfg, run_dir, progress=progress, echo=fold_echo())
    typer.echo(format_summary(result.summary))
    typer.echo(f"{'reused' if result.reused else 'wrote'} align run {result.run_dir} (key {result.key[:12]})")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("align")(align)
