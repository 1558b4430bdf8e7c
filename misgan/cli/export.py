"""`misgan export RUN -o model/` and `misgan predict --model model/ FILE|FOLDER|LIST.csv [-o out.csv]`."""

from __future__ import annotations

from pathlib import Path

import typer

from misgan.cli.common import user_errors


def register(app: typer.Typer) -> None:
    """Add `export` and `predict` to `app`."""
    app.command("export")(export_cmd)
    app.command("predict")(predict_cmd)


def export_cmd(
    run: Path = typer.Argument(..., help="A complete stage-3 run folder (misgan augment)."),
    out: Path = typer.Option(
        ..., "--out", "-o", help="Bundle folder to write (model.json + weights.safetensors)."
    ),
    method: str | None = typer.Option(
        None, "--method", help="Augmentation to re-fit; default: the run's best method by mean test UAR."
    ),
    align_run: Path | None = typer.Option(None, "--align-run", help="Stage-1 run; default: the run's own."),
) -> None:
    """Re-fit stage 1 and the classifier on every speaker with the run's augmentation; write a bundle."""
    from misgan.export.bundle import export_model

    with user_errors():
        export_model(run, out, method=method, align_run=align_run, echo=typer.echo)


def predict_cmd(
    target: Path = typer.Argument(..., help="An audio file, a folder of audio files, or a CSV with path[,text]."),
    model: Path = typer.Option(..., "--model", "-m", help="Bundle folder from `misgan export`."),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="CSV to write (appended per chunk; rerun resumes). Default: print the table."
    ),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | auto."),
    chunk: int = typer.Option(32, "--chunk", min=1, help="Files per chunk (one progress line and append each)."),
) -> None:
    """Per-class probabilities and the predicted label per file."""
    from misgan.export.predict import collect_inputs, load_model, predict_to_csv

    with user_errors():
        bundle = load_model(model)
        paths, texts = collect_inputs(target)
        if bundle.multimodal and texts is None:
            typer.echo("predict: no transcripts (a CSV 'text' column): the audio-only classifier is used")
        if out is None:
            bundle.check_encoders(device)
            typer.echo(bundle.predict(paths, texts, device=device).to_csv(index=False), nl=False)
            return
        predict_to_csv(bundle, paths, texts, out, chunk=chunk, device=device, echo=typer.echo)
