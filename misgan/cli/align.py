"""Stage 1 command: `misgan align` (adapter on cached features, or `--finetune` the audio encoder)."""

from __future__ import annotations

from pathlib import Path

import typer

from misgan.cli.common import user_errors

PROTOCOL_HELP = "loso-speaker | loso-session | split | kfold | file (with --fold-file)."


def align(
    cache: Path = typer.Option(..., "--cache", help="Feature cache (.zarr / .h5) from `misgan extract`."),
    protocol: str = typer.Option("loso-speaker", "--protocol", help=PROTOCOL_HELP),
    fold_file: Path | None = typer.Option(None, "--fold-file", help="Fold assignment for --protocol file."),
    k: int = typer.Option(5, "--k", help="Number of folds for --protocol kfold."),
    fold: list[str] | None = typer.Option(None, "--fold", help="Only this fold (repeatable)."),
    config: Path | None = typer.Option(
        None, "--config", help="YAML with AlignConfig fields (or an `align:` section)."
    ),
    alpha: float | None = typer.Option(None, "--alpha", help="Weight of L_CL, eq. 5 [1]."),
    beta: float | None = typer.Option(None, "--beta", help="Weight of L_MI, eq. 6 [1]."),
    tau: float | None = typer.Option(None, "--tau", help="InfoNCE temperature [0.07]."),
    symmetric: bool | None = typer.Option(None, "--symmetric/--one-way", help="Eq. 5 in CLAP's symmetric form."),
    h_dim: int | None = typer.Option(None, "--h-dim", help="Width of h [256]."),
    hidden: int | None = typer.Option(None, "--hidden", help="Adapter hidden width, 0 = linear [0]."),
    dropout: float | None = typer.Option(None, "--dropout", help="Adapter dropout."),
    epochs: int | None = typer.Option(None, "--epochs", help="Maximum epochs per fold."),
    batch_size: int | None = typer.Option(None, "--batch-size"),
    lr: float | None = typer.Option(None, "--lr", help="Adam(W) learning rate."),
    weight_decay: float | None = typer.Option(None, "--weight-decay"),
    patience: int | None = typer.Option(None, "--patience", help="Early-stopping patience (epochs)."),
    monitor: str | None = typer.Option(
        None, "--monitor", help="Early stopping on validation 'loss' (CE) or 'uar' [loss]."
    ),
    class_weights: bool | None = typer.Option(
        None, "--class-weights/--no-class-weights", help="Inverse-frequency class weights in L_SER."
    ),
    text_head: str | None = typer.Option(None, "--text-head", help="W_t fit when beta=0: infonce | lstsq."),
    seed: int = typer.Option(0, "--seed", help="One seed for folds, initialisation and batches."),
    finetune: bool = typer.Option(False, "--finetune", help="Fine-tune the HF audio encoder on raw audio."),
    manifest: Path | None = typer.Option(None, "--manifest", help="--finetune: manifest CSV with audio paths."),
    root: Path | None = typer.Option(None, "--root", help="--finetune: folder that relative paths start from."),
    lora: bool = typer.Option(False, "--lora", help="--finetune: LoRA adapters (peft) instead of full weights."),
    device: str | None = typer.Option(None, "--device", help="--finetune: cpu | cuda [cuda if available]."),
    run_dir: Path | None = typer.Option(None, "--run-dir", help="Run folder [runs/align-<cache>-s<seed>]."),
    progress: bool | None = typer.Option(None, "--progress/--no-progress", help="Progress bar [on a TTY]."),
) -> None:
    """Stage 1: align h with the text features, train W_y and W_t per fold, print the baseline UAR."""
    from misgan.alignment.adapter import AlignConfig
    from misgan.alignment.run import format_summary, run_align
    from misgan.config import from_dict, load_yaml, replace
    from misgan.features.store import open_store
    from misgan.runs import create_run_dir, seed_everything

    with user_errors():
        base = AlignConfig()
        if config is not None:
            data = load_yaml(config)
            base = from_dict(AlignConfig, data.get("align", data), str(config))
        cfg = replace(
            base,
            alpha=alpha,
            beta=beta,
            tau=tau,
            symmetric=symmetric,
            h_dim=h_dim,
            hidden=hidden,
            dropout=dropout,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            weight_decay=weight_decay,
            patience=patience,
            monitor=monitor,
            class_weights=class_weights,
            text_head=text_head,
            seed=seed,
        )
        seed_everything(cfg.seed)
        run = run_dir or Path("runs") / f"align-{cache.name.split('.')[0]}-s{cfg.seed}"
        store = open_store(cache)
        try:
            if finetune:
                from misgan.alignment.config import FinetuneConfig
                from misgan.alignment.finetune_run import run_finetune

                # --epochs / --batch-size / --lr mean the encoder run's here (the adapter's are unused)
                ft = replace(
                    FinetuneConfig(lora=lora, device=device, seed=cfg.seed),
                    epochs=epochs,
                    batch_size=batch_size,
                    head_lr=lr,
                )
                create_run_dir(run.parent, run.name, {"align": cfg, "finetune": ft}, cfg.seed)
                summary = run_finetune(
                    store, cfg, ft, protocol, manifest=manifest, root=root, fold_file=fold_file, k=k,
                    only=fold, run_dir=run, progress=progress,
                )  # fmt: skip
            else:
                create_run_dir(run.parent, run.name, {"align": cfg}, cfg.seed)
                summary = run_align(
                    store, cfg, protocol, fold_file=fold_file, k=k, only=fold, run_dir=run, progress=progress
                )
        finally:
            store.close()
    typer.echo(format_summary(summary))
    typer.echo(f"folds written to {cache}/folds; log and summary.json in {run}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("align")(align)
