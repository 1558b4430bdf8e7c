"""`misgan run CONFIG.yaml` (the whole pipeline) and `misgan demo` (the same on a generated corpus)."""

from __future__ import annotations

from pathlib import Path

import typer

from misgan.cli.common import user_errors


def register(app: typer.Typer) -> None:
    """Add `run` and `demo` to `app`."""
    app.command("run")(run_command)
    app.command("demo")(demo_command)


def run_command(
    config: Path = typer.Argument(..., help="Pipeline config (YAML); see docs/config.md."),
    from_step: str = typer.Option(
        None, "--from", help="Rerun this step and every later one even if their outputs are up to date."
    ),
    progress: bool = typer.Option(None, "--progress/--no-progress", help="Progress bars (default: on a TTY)."),
) -> None:
    """Run corpus -> extract -> align -> gan -> augment -> report; steps already done are skipped."""
    with user_errors():
        from misgan.pipeline import runner as pipeline

        cfg = pipeline.load_config(config)
        outcome = pipeline.run(cfg, source=str(config), from_step=from_step, progress=progress, echo=typer.echo)
        typer.echo(pipeline.format_table(outcome.results))
        typer.echo(f"report: {outcome.run_dir / 'report.md'}")


def demo_command(
    workdir: Path = typer.Option(Path("runs/demo"), "--workdir", help="Where corpus, cache and run folder go."),
    speakers: int = typer.Option(8, "--speakers", min=4, help="Number of synthetic speakers (= LOSO folds)."),
    per_class: int = typer.Option(10, "--per-class", min=2, help="Utterances per speaker and emotion."),
    seed: int = typer.Option(0, "--seed", help="Seed of the corpus and of every stage."),
    progress: bool = typer.Option(None, "--progress/--no-progress", help="Progress bars (default: on a TTY)."),
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
