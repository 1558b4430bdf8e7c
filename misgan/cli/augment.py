"""`misgan augment` (stage 3: augment classifiers, compare augmenters, ablations) and `misgan report`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from misgan.augmentation.config import AugmentConfig, ClassifierConfig
from misgan.cli.common import default, fold_echo, given, threads_option, user_errors
from misgan.gan.config import GanConfig

A = AugmentConfig


def register(app: typer.Typer) -> None:
    """Add `augment` and `report` to `app`."""
    app.command("augment")(augment_cmd)
    app.command("report")(report_cmd)


def augment_cmd(
    ctx: typer.Context,
    cache: Path = typer.Option(..., "--cache", help="Feature cache with a stage-1 run (misgan align)."),
    config: Path | None = typer.Option(
        None, "--config", help="YAML: AugmentConfig fields, or a `misgan run` config (its augment section)."
    ),
    align_run: Path | None = typer.Option(
        None, "--align-run", help="Stage-1 run folder; default: the cache's latest complete align run."
    ),
    gan_run: Path | None = typer.Option(
        None, "--gan-run", help="Stage-2 run folder; default: the gan run with these GAN settings, else trained."
    ),
    methods: str = typer.Option(default(A, "methods"), "--methods", help="Comma list of augmenters."),
    compare: bool = typer.Option(
        False, "--compare", help="All augmenters: none, noise, mixup, smote, cgan, ours."
    ),
    ratio: float = typer.Option(default(A, "ratio"), "--ratio", help="Synthetic rows per real training row."),
    ratios: str = typer.Option(default(A, "ratios"), "--ratios", help="Also score ours at these ratios: 0.5,1,2."),
    balance: bool = typer.Option(
        default(A, "balance"), "--balance/--no-balance", help="Generate only for minority classes."
    ),
    multimodal: bool = typer.Option(
        default(A, "multimodal"), "--multimodal/--unimodal", help="Also audio | text | audio+text classifiers."
    ),
    mm_hidden: str = typer.Option(
        default(A, "mm_hidden"), "--mm-hidden", help="Multimodal MLP widths: '', 256, 256,128."
    ),
    ablation: bool = typer.Option(
        default(A, "ablation"), "--ablation/--no-ablation", help="Table III ablations (trains α=β=0 stage 1)."
    ),
    seeds: int = typer.Option(default(A, "seeds"), "--seeds", min=1, help="Repeats with seeds seed, seed+1, ..."),
    seed: int = typer.Option(
        default(A, "seed"), "--seed", help="First seed; also the GAN's, as `misgan gan --seed` (to find its run)."
    ),
    threads: int = threads_option(A),
    jobs: int = typer.Option(
        default(A, "jobs"), "--jobs", min=1, help="(fold, seed) jobs run in parallel processes (1 = serial)."
    ),
    fold: list[str] | None = typer.Option(
        None, "--fold", metavar="NAME", help="Only this fold (repeatable); default: all."
    ),
    epochs: int = typer.Option(default(GanConfig, "epochs"), "--epochs", help="GAN epochs (upper bound)."),
    gan_patience: int = typer.Option(default(GanConfig, "patience"), "--gan-patience", help="GAN patience."),
    clf_epochs: int = typer.Option(
        default(ClassifierConfig, "max_epochs"), "--clf-epochs", help="Classifier epochs (upper bound)."
    ),
    tsne: bool = typer.Option(default(A, "tsne"), "--tsne/--no-tsne", help="Compute the t-SNE figure."),
    train_fraction: str = typer.Option(
        default(A, "train_fractions"),
        "--train-fraction",
        help="Low-resource protocol: shares of each training speaker's rows per class, e.g. 0.1,0.25,0.5,1.",
    ),
    gate: bool = typer.Option(
        default(A, "gate_all"), "--gate/--no-gate", help="Also score every method validation-gated (NAME-gated)."
    ),
    reference: bool = typer.Option(
        default(A, "reference"), "--reference/--no-reference", help="The logistic-regression reference row."
    ),
    source_cache: list[str] | None = typer.Option(
        None, "--source-cache", help="Also train ours' generator on this cache (same encoders; repeatable)."
    ),
    text_source: str = typer.Option("", "--text-source", help="CSV of text + emotion|label: sentences for ours."),
    test_cache: str = typer.Option("", "--test-cache", help="Cross-corpus: score on this cache (same encoders)."),
    run_dir: Path | None = typer.Option(
        None,
        "--run-dir",
        help="Run folder; default: runs/<cache name>/augment-<key> (reused when the key matches).",
    ),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bar; default: on a TTY."
    ),
) -> None:
    """Augment classifiers with synthetic features and evaluate on the test speakers (stage 3)."""
    with user_errors():
        from misgan.augmentation.augmenters import METHODS
        from misgan.augmentation.evaluate import augment
        from misgan.config import load_config

        opts = given(ctx, methods=methods, ratio=ratio, ratios=ratios, balance=balance, multimodal=multimodal)
        opts |= given(ctx, mm_hidden=mm_hidden, ablation=ablation, seeds=seeds, seed=seed, threads=threads)
        opts |= given(ctx, tsne=tsne, reference=reference, jobs=jobs)
        renamed_ = {"train_fraction": "train_fractions", "gate": "gate_all"}
        opts |= {renamed_[k]: v for k, v in given(ctx, train_fraction=train_fraction, gate=gate).items()}
        if compare and "methods" not in opts:
            opts["methods"] = METHODS
        if fold:
            opts["folds"] = tuple(fold)
        if source_cache:
            opts["source_caches"] = tuple(source_cache)
        opts |= {k: v for k, v in {"text_source": text_source, "test_cache": test_cache}.items() if v}
        renamed = {"epochs": "gan.epochs", "gan_patience": "gan.patience", "clf_epochs": "classifier.max_epochs"}
        given_ = given(ctx, epochs=epochs, gan_patience=gan_patience, clf_epochs=clf_epochs)
        opts |= {renamed[k]: v for k, v in given_.items()}
        if "seed" in opts:
            opts["gan.seed"] = opts["seed"]  # the generators of `misgan gan --seed S` have this key
        cfg = load_config(AugmentConfig, config, overrides=opts)
        result = augment(
            cache, cfg, run_dir, align_run=align_run, gan_run=gan_run, progress=progress, echo=fold_echo()
        )
        _print_summary(result, cfg.balance, cfg.reference)


def report_cmd(run: Path = typer.Argument(..., help="Run folder holding results.json.")) -> None:
    """Rebuild report.md and the plots of a stage-3 run from its results.json (no retraining)."""
    with user_errors():
        from misgan.report.build import build_report

        typer.echo(f"report: {build_report(run)}")


def _print_summary(result: Any, balance: bool, reference: bool = True) -> None:
    """UAR in percent per method (and ablation), as every printed table; class counts for --balance."""
    from misgan.io import read_json

    summary = result.summary.get("summary") or {}
    if balance:
        results = read_json(result.run_dir / "results.json")
        names = results["label_names"]
        typer.echo("class counts (training rows) before -> after --balance:")
        for fold, c in results["class_counts"].items():
            before = ", ".join(f"{n}={v}" for n, v in zip(names, c["before"], strict=False))
            after = ", ".join(f"{n}={v}" for n, v in zip(names, c["after"], strict=False))
            typer.echo(f"  {fold}: {before} -> {after}")
    methods = summary.get("methods") or {}
    for key, stat in methods.items():
        u = stat["uar"]
        name = "logistic regression, same features and folds" if key == "reference" else key
        cells = [f"{name:>12}: UAR {100 * u['mean']:.2f} ± {100 * u['std']:.2f} %"]
        for against, label in (("vs_none", "none"), ("vs_reference", "reference")):
            test = stat.get(against)
            if test:
                d, p = test["bootstrap"]["mean_diff"], test["wilcoxon"]["p_value"]
                cells.append(f"Δ vs {label} {100 * d:+.2f} (p={p:.3g})")
        typer.echo("  ".join(cells))
    if "reference" not in methods:  # the reason given is the true one: asked off, or no raw audio features
        why = "--no-reference" if not reference else "the cache has no raw audio features"
        typer.echo(f"logistic regression, same features and folds: not computed ({why})")
    _print_fractions(summary.get("fractions") or {})
    for key, stat in (summary.get("ablation") or {}).items():
        typer.echo(f"ablation {key}: UAR {100 * stat['uar']['mean']:.2f} ± {100 * stat['uar']['std']:.2f} %")
    gan = result.summary.get("gan_run")
    if gan:
        how = "trained by this run" if gan["trained"] else "found by key"
        typer.echo(f"generators: gan run {gan['path']} (key {gan['key'][:12]}, {how})")
    state = "reused" if result.reused else "wrote"
    typer.echo(f"{state} augment run {result.run_dir} (key {result.key[:12]})")
    typer.echo(f"results: {result.run_dir / 'results.json'}\nreport: {result.run_dir / 'report.md'}")


def _print_fractions(fractions: dict[str, Any]) -> None:
    """The low-resource Δ table: Δ UAR vs none per fraction, Holm-corrected p, paired units."""
    if len(fractions) < 2:
        return
    typer.echo("low-resource protocol: Δ UAR vs none (points; Holm p; n = folds × seeds)")
    for f in sorted(fractions, key=float):
        cells = []
        for v, row in fractions[f].items():
            d = row.get("vs_none")
            if v in ("none", "reference") or not d:
                cells.append(f"{v} {100 * row['uar']['mean']:.2f}")
            else:
                cells.append(f"{v} {100 * d['delta']:+.2f} (p {d.get('p_holm', d['p']):.3g}, n {d['n_units']})")
        typer.echo(f"  {100 * float(f):g} % rows: " + ", ".join(cells))
