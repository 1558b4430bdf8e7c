"""`misgan run CONFIG.yaml` (the whole pipeline) and `misgan demo` (the same on a generated corpus)."""

from __future__ import annotations

from pathlib import Path

import typer

from misgan.cli.common import given, user_errors
from misgan.pipeline.config import RunSection


def register(app: typer.Typer) -> None:
    """Add `run` and `demo` to `app`."""
    app.command("run")(run_command)
    app.command("demo")(demo_command)


def run_command(
    ctx: typer.Context,
    config: Path = typer.Argument(..., help="Pipeline config (YAML); see docs/config.md."),
    from_step: str | None = typer.Option(
        None, "--from", help="Rerun this step and every later one even if their outputs are up to date."
    ),
    seed: int = typer.Option(
        RunSection.seed, "--seed", help="run.seed: the seed of every step whose section sets none."
    ),
    threads: int = typer.Option(
        RunSection.threads, "--threads", min=0, help="run.threads: torch/BLAS threads, 0 = the thread policy."
    ),
    jobs: int | None = typer.Option(
        None, "--jobs", min=1, help="align.jobs, gan.jobs, augment.jobs: folds in parallel processes."
    ),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bars; default: on a TTY."
    ),
) -> None:
    """Run corpus -> extract -> align -> gan -> augment -> report; steps already done are skipped."""
    with user_errors():
        from misgan.pipeline import runner as pipeline
        from misgan.pipeline.config import load_pipeline_config

        options = {f"run.{k}": v for k, v in given(ctx, seed=seed, threads=threads).items()}
        if jobs is not None:
            options |= {f"{section}.jobs": jobs for section in ("align", "gan", "augment")}
        cfg = load_pipeline_config(config, overrides=options)
        outcome = pipeline.run(cfg, source=str(config), from_step=from_step, progress=progress, echo=typer.echo)
        typer.echo(pipeline.format_table(outcome.results))
        typer.echo(f"report: {outcome.run_dir / 'report.md'}")


def demo_command(
    workdir: Path = typer.Option(Path("runs/demo"), "--workdir", help="Where corpus, cache and run folder go."),
    speakers: int = typer.Option(8, "--speakers", min=4, help="Number of synthetic speakers (= LOSO folds)."),
    per_class: int = typer.Option(10, "--per-class", min=2, help="Utterances per speaker and emotion."),
    seed: int = typer.Option(0, "--seed", help="Seed of the corpus and of every stage."),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bars; default: on a TTY."
    ),
) -> None:
    """Generate a small synthetic emotional-speech corpus and run the whole pipeline on it (CPU, offline)."""
    with user_errors():
        from misgan.pipeline import demo
        from misgan.pipeline import runner as pipeline

        outcome = demo.run_demo(
            workdir, n_speakers=speakers, per_class=per_class, seed=seed, progress=progress, echo=typer.echo
        )
        typer.echo("")
        typer.echo(pipeline.format_table(outcome.results))
        typer.echo(f"report: {outcome.run_dir / 'report.md'}")
