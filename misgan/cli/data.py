"""Data commands: `misgan manifest` (corpus folder -> manifest CSV) and `misgan doctor` (check a corpus)."""

from __future__ import annotations

from pathlib import Path

import typer

from misgan.cli.common import user_errors

CORPUS_HELP = "Corpus reader: iemocap, msp-improv, msp-podcast, ravdess, csv."
CLASSES_HELP = "4 = neutral/happy/sad/angry (default; csv: all), all = every labelled class."


def _reader_options(classes: str | None, keep_exc: bool, table: str | None) -> dict:
    opts: dict = {"classes": classes}
    if keep_exc:
        opts["keep_exc"] = True
    if table:
        opts["table"] = table
    return opts


def _print_problems(problems: list, limit: int) -> None:
    errors = [p for p in problems if p.severity == "error"]
    warnings = [p for p in problems if p.severity == "warning"]
    for p in errors:
        typer.secho(str(p), fg=typer.colors.RED, err=True)
    for p in warnings[:limit]:
        typer.secho(str(p), fg=typer.colors.YELLOW, err=True)
    if len(warnings) > limit:
        typer.echo(f"... {len(warnings) - limit} more warning(s); --max-warnings 0 shows none, -1 all", err=True)


MAX_DROPPED_HELP = "Fraction of rows that may be left out before the command fails (--strict: none)."


def report_rows(df, problems: list, *, strict: bool, max_dropped: float, n_used: int | None = None) -> None:
    """Print rows in = used + left out (each left-out row with its reason) and the class warnings; exit 1
    past the threshold (issue 12.2). `n_used`: rows kept after extraction (default: the table's rows)."""
    from misgan.data.accounting import RowsDroppedError, account, class_warnings

    acc = account(len(df) if n_used is None else n_used, problems)
    typer.echo(acc.line())
    for line in acc.details():
        typer.echo(line, err=True)
    for w in class_warnings(df):
        typer.secho(f"warning: {w}", fg=typer.colors.YELLOW, err=True)
    try:
        acc.check(strict=strict, max_dropped=max_dropped)
    except RowsDroppedError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


def default_stem(corpus: str, root: Path, table: str | None = None) -> str:
    """Default manifest/cache name: the corpus, or for `--corpus csv` the table's file name, so two of a
    user's corpora never share manifests/csv.csv (issue 14.6)."""
    if corpus.strip().lower() != "csv":
        return corpus.lower()
    from misgan.data.corpora.csv_table import find_table

    return find_table(root, table).stem


def manifest(
    corpus: str = typer.Option(..., "--corpus", "-c", help=CORPUS_HELP),
    root: Path = typer.Option(..., "--root", "-r", help="Corpus folder (csv: the table or its folder)."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Manifest CSV [manifests/<corpus>.csv; csv: manifests/<table stem>.csv]."
    ),
    classes: str | None = typer.Option(None, "--classes", help=CLASSES_HELP),
    keep_exc: bool = typer.Option(False, "--keep-exc", help="IEMOCAP: keep 'excited' apart from 'happy'."),
    table: str | None = typer.Option(None, "--table", help="csv: table file name inside --root."),
    durations: bool = typer.Option(False, "--durations", help="Fill durations from the audio headers."),
    strict: bool = typer.Option(False, "--strict", help="Exit 1 (writing nothing) if the reader found errors."),
    max_warnings: int = typer.Option(20, "--max-warnings", help="Warnings to print (-1 = all)."),
    max_dropped: float = typer.Option(0.05, "--max-dropped", help=MAX_DROPPED_HELP),
) -> None:
    """Write the manifest CSV of a corpus and print counts per class and per speaker."""
    from misgan.data.corpora import read_corpus
    from misgan.data.manifest import summary, write_manifest

    with user_errors():
        result = read_corpus(corpus, root, durations=durations, **_reader_options(classes, keep_exc, table))
        _print_problems(result.problems, len(result.problems) if max_warnings < 0 else max_warnings)
        if strict and result.errors:
            typer.secho(
                f"{len(result.errors)} error(s); nothing written (--strict)", fg=typer.colors.RED, err=True
            )
            raise typer.Exit(1)
        df = result.manifest
        if not len(df):
            typer.secho(f"{root}: no usable utterances; nothing written", fg=typer.colors.RED, err=True)
            raise typer.Exit(1)
        report_rows(df, result.problems, strict=strict, max_dropped=max_dropped)
        out = write_manifest(df, output or Path("manifests") / f"{default_stem(corpus, root, table)}.csv")
        per_class, per_speaker = summary(df)
        typer.echo(f"wrote {out}: {len(df)} utterances, {len(per_speaker)} speakers, {len(per_class)} classes")
        typer.echo("per class: " + ", ".join(f"{k} {v}" for k, v in per_class.items()))
        typer.echo("per speaker:")
        typer.echo(per_speaker.to_string())
        if result.problems:
            typer.echo(
                f"reader problems: {len(result.errors)} error(s), {len(result.warnings)} warning(s); "
                f"run `misgan doctor --corpus {corpus} --root {root}` for a full check"
            )


def doctor_cache(cache: Path) -> None:
    """`misgan doctor --cache`: every chunk checksum, the row account, class warnings, and what the cache
    cannot do (a feature-only import has no audio for `align --finetune` or `predict`)."""
    from misgan.data.accounting import account, class_warnings, failure_problems
    from misgan.features.store import audio_source, open_store

    with open_store(cache) as store:
        checked = store.verify()
        meta = store.meta()
        typer.echo(f"cache {cache}: {store.n_rows} rows, {meta['speaker'].nunique()} speakers, dims {store.dims}")
        typer.echo(f"checksums: every chunk of {len(checked)} arrays matches")
        typer.echo(account(store.n_rows, failure_problems(store.failures)).line())
        for w in class_warnings(meta):
            typer.secho(f"warning: {w}", fg=typer.colors.YELLOW, err=True)
        why = audio_source(store)
        if why is not None:
            typer.secho(
                f"note: {why}; stages 1-3 work on it, but `misgan align --finetune` and `misgan predict` need "
                "audio it lacks",
                fg=typer.colors.YELLOW,
            )
        if "text" not in store.dims:
            typer.echo("note: no text features: stage 1 and the generator run audio-only")
    typer.secho("OK", fg=typer.colors.GREEN)


def doctor(
    corpus: str | None = typer.Option(None, "--corpus", "-c", help=CORPUS_HELP),
    root: Path | None = typer.Option(None, "--root", "-r", help="Corpus folder (csv: the table or its folder)."),
    cache: Path | None = typer.Option(None, "--cache", help="Check a feature cache instead of a corpus."),
    classes: str | None = typer.Option(None, "--classes", help=CLASSES_HELP),
    keep_exc: bool = typer.Option(False, "--keep-exc", help="IEMOCAP: keep 'excited' apart from 'happy'."),
    table: str | None = typer.Option(None, "--table", help="csv: table file name inside --root."),
    decode: bool = typer.Option(True, "--decode/--headers-only", help="Decode every file, or read headers only."),
    workers: int = typer.Option(4, "--workers", help="Threads checking audio files."),
    max_warnings: int = typer.Option(50, "--max-warnings", help="Warnings to print (-1 = all)."),
    max_dropped: float = typer.Option(0.05, "--max-dropped", help=MAX_DROPPED_HELP),
    strict: bool = typer.Option(False, "--strict", help="Fail if any row would be left out."),
) -> None:
    """Check layout, label and transcript lines and every referenced audio file; exit 1 on errors."""
    import sys

    from misgan.data.doctor import run_doctor

    with user_errors():
        from misgan.errors import CorpusError

        if cache is not None:
            return doctor_cache(cache)
        if corpus is None or root is None:
            raise CorpusError("give --corpus NAME --root DIR (a corpus), or --cache PATH (a feature cache)")
        report = run_doctor(
            corpus,
            root,
            decode=decode,
            workers=workers,
            progress=sys.stderr.isatty(),
            **_reader_options(classes, keep_exc, table),
        )
    _print_problems(report.problems, len(report.problems) if max_warnings < 0 else max_warnings)
    for line in report.summary_lines():
        typer.echo(line)
    if not report.ok:
        from misgan.data.accounting import account

        typer.echo(account(len(report.manifest), report.problems).line())
        typer.secho("FAILED: fix the errors above before extracting features", fg=typer.colors.RED)
        raise typer.Exit(1)
    report_rows(report.manifest, report.problems, strict=strict, max_dropped=max_dropped)
    typer.secho("OK", fg=typer.colors.GREEN)


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("manifest")(manifest)
    app.command("doctor")(doctor)
