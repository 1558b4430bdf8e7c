"""`misgan augment` (stage 3: augment classifiers, compare augmenters, ablations) and `misgan report`."""

from __future__ import annotations

from pathlib import Path

import typer

from misgan.cli.common import user_errors


def _floats(text: str | None, what: str) -> tuple[float, ...]:
    from misgan.errors import ConfigError

    if not text:
        return ()
    try:
        return tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as exc:
        raise ConfigError(f"{what}: expected comma-separated numbers (got {text!r})") from exc


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (text or "").split(",") if v.strip())


def register(app: typer.Typer) -> None:
    """Add `augment` and `report` to `app`."""

    @app.command("augment")
    def augment_cmd(
        cache: Path = typer.Option(..., "--cache", help="Feature cache with stage-1 folds (misgan align)."),
        balance: bool = typer.Option(False, "--balance", help="Generate only for minority classes."),
        ratio: float = typer.Option(1.0, "--ratio", help="Synthetic rows per real training row."),
        ratios: str = typer.Option("", "--ratios", help="Also score ours at these ratios, e.g. 0.5,1,2."),
        multimodal: bool = typer.Option(False, "--multimodal", help="Audio | text | audio+text classifiers."),
        mm_hidden: str = typer.Option("256", "--mm-hidden", help="Multimodal MLP widths: '', 256 or 256,128."),
        ablation: bool = typer.Option(False, "--ablation", help="Table III ablations (trains α=β=0 stage 1)."),
        compare: bool = typer.Option(
            False, "--compare", help="All augmenters: none, noise, mixup, smote, cgan, ours."
        ),
        methods: str = typer.Option("", "--methods", help="Comma list of augmenters (overrides --compare)."),
        seeds: int = typer.Option(1, "--seeds", min=1, help="Repeats with seeds seed, seed+1, ..."),
        seed: int = typer.Option(0, "--seed", help="First seed."),
        epochs: int = typer.Option(None, "--epochs", help="GAN epochs (upper bound)."),
        gan_patience: int = typer.Option(None, "--gan-patience", help="GAN early-stopping patience."),
        clf_epochs: int = typer.Option(None, "--clf-epochs", help="Classifier epochs (upper bound)."),
        folds: str = typer.Option("", "--folds", help="Comma list of fold names (default: all)."),
        run_dir: Path = typer.Option(None, "--run-dir", help="Run folder (default runs/augment)."),
        gan_run: Path = typer.Option(None, "--gan-run", help="Stage-2 run folder with per-fold checkpoints."),
        config: Path = typer.Option(None, "--config", help="YAML with AugmentConfig settings (flags override)."),
        tsne: bool = typer.Option(True, "--tsne/--no-tsne", help="Compute the t-SNE figure."),
        save_noalign: bool = typer.Option(
            True, "--save-noalign/--no-save-noalign", help="Store the α=β=0 folds as '<fold>@noalign' for reuse."
        ),
        threads: int = typer.Option(0, "--threads", min=0, help="torch threads (0: leave the default)."),
        progress: bool = typer.Option(None, "--progress/--no-progress", help="Progress bar (default: on a TTY)."),
    ) -> None:
        """Augment classifiers with synthetic features and evaluate on the test speakers (stage 3)."""
        with user_errors():
            from misgan.augmentation.augmenters import METHODS
            from misgan.augmentation.classifier import ClassifierConfig
            from misgan.augmentation.evaluate import AugmentConfig, run_augment
            from misgan.config import from_dict, load_yaml, replace
            from misgan.features.store import open_store
            from misgan.report.build import build_report
            from misgan.runs import JsonlLog, create_run_dir

            base = from_dict(AugmentConfig, load_yaml(config), str(config)) if config else AugmentConfig()
            gan = dict(base.gan)
            if epochs is not None:
                gan["epochs"] = epochs
            if gan_patience is not None:
                gan["patience"] = gan_patience
            if threads:
                import torch

                torch.set_num_threads(threads)
                gan["threads"] = threads
            clf = base.classifier if isinstance(base.classifier, ClassifierConfig) else ClassifierConfig()
            if clf_epochs is not None:
                clf = replace(clf, max_epochs=clf_epochs)
            chosen = _names(methods) or (METHODS if compare else base.methods)
            cfg = replace(
                base,
                methods=tuple(chosen),
                ratio=ratio,
                ratios=_floats(ratios, "--ratios") or base.ratios,
                balance=balance or base.balance,
                multimodal=multimodal or base.multimodal,
                mm_hidden=tuple(int(v) for v in _floats(mm_hidden, "--mm-hidden")),
                ablation=ablation or base.ablation,
                seeds=seeds,
                seed=seed,
                folds=_names(folds) or base.folds,
                classifier=clf,
                gan=gan,
                gan_run=str(gan_run) if gan_run else base.gan_run,
                tsne=tsne,
                save_noalign=save_noalign,
            )
            run_dir = run_dir or Path("runs") / "augment"
            run = create_run_dir(run_dir.parent, run_dir.name, cfg, seed)
            store = open_store(cache)
            try:
                results = run_augment(store, cfg, run, log=JsonlLog(run / "log.jsonl"), progress=progress)
            finally:
                store.close()
            report = build_report(run)
            _print_summary(results, cfg.balance)
            typer.echo(f"results: {run / 'results.json'}\nreport: {report}")

    @app.command("report")
    def report_cmd(run: Path = typer.Argument(..., help="Run folder holding results.json.")) -> None:
        """Rebuild report.md and the plots of a stage-3 run from its results.json (no retraining)."""
        with user_errors():
            from misgan.report.build import build_report

            typer.echo(f"report: {build_report(run)}")


def _print_summary(results: dict, balance: bool) -> None:
    summary = results["summary"]
    names = results["label_names"]
    if balance:
        typer.echo("class counts (training rows) before -> after --balance:")
        for fold, c in results["class_counts"].items():
            before = ", ".join(f"{n}={v}" for n, v in zip(names, c["before"], strict=False))
            after = ", ".join(f"{n}={v}" for n, v in zip(names, c["after"], strict=False))
            typer.echo(f"  {fold}: {before} -> {after}")
    for key, stat in summary["methods"].items():
        u = stat["uar"]
        p = stat.get("vs_none")
        pt = f"  p={p['wilcoxon']['p_value']:.3g}" if p else ""
        typer.echo(f"{key:>8}: UAR {100 * u['mean']:.2f} ± {100 * u['std']:.2f}{pt}")
    for key, stat in summary["ablation"].items():
        typer.echo(f"ablation {key}: UAR {100 * stat['uar']['mean']:.2f} ± {100 * stat['uar']['std']:.2f}")
