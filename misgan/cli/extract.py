"""Feature-cache commands: `misgan extract`, `misgan import`, `misgan info`, `misgan encoders`."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from misgan.cli.common import user_errors
from misgan.errors import StoreError
from misgan.features.encoders.registry import DEFAULT_AUDIO, DEFAULT_TEXT

CLASSES_HELP = "4 = neutral/happy/sad/angry, all = every labelled class, or a comma list of class names."


def _output_path(output: Path | None, fmt: str | None, stem: str) -> Path:
    from misgan.features.backends import format_of

    if fmt is not None and fmt not in ("zarr", "h5"):
        raise StoreError(f"--format must be zarr or h5, got {fmt!r}")
    if output is None:
        return Path("cache") / f"{stem}.{fmt or 'zarr'}"
    found = format_of(output)
    if fmt is not None and fmt != found:
        raise StoreError(f"{output}: the name says {found} but --format says {fmt}")
    return output


def _filter_classes(df, classes: str | None, source: Path):
    """The rows whose label is in `classes`; the others are problems (per-label counts), not silent drops."""
    from misgan.data.corpora.common import Problem
    from misgan.data.manifest import CLASSES_4

    if classes is None or classes == "all":
        return df, []
    keep = set(CLASSES_4) if classes == "4" else {c.strip() for c in classes.split(",") if c.strip()}
    out = df[df["label"].isin(keep)].reset_index(drop=True)
    if not len(out):
        raise StoreError(f"{source}: no utterance has a label in {sorted(keep)}")
    outside = df.loc[~df["label"].isin(keep), "label"].value_counts().sort_index()
    problems = []
    for lab, n in outside.items():
        typo = " (seen once: a typo?)" if n == 1 else ""
        message = f"{n} row(s) with label {lab!r} left out: not in --classes {classes}{typo}"
        problems.append(Problem(str(source), None, "warning", message))
    return out, problems


def extract_command(
    corpus: str | None = typer.Option(None, "--corpus", "-c", help="Corpus reader (iemocap, ravdess, ...)."),
    root: Path | None = typer.Option(None, "--root", "-r", help="Corpus folder (with --corpus)."),
    manifest: Path | None = typer.Option(None, "--manifest", "-m", help="Manifest CSV (instead of --corpus)."),
    audio_encoder: str = typer.Option(
        DEFAULT_AUDIO, "--audio-encoder", help="Registry name, HF id or model folder."
    ),
    text_encoder: str = typer.Option(
        DEFAULT_TEXT, "--text-encoder", help="Registry name, HF id, folder, or 'none'."
    ),
    output: Path | None = typer.Option(None, "--output", "-o", help="Cache path (default cache/<corpus>.zarr)."),
    fmt: str | None = typer.Option(None, "--format", help="zarr or h5 (default: from -o, else zarr)."),
    device: str = typer.Option("cpu", "--device", help="cpu, cuda, cuda:N or auto."),
    batch_size: int = typer.Option(16, "--batch-size", help="Clips per forward pass."),
    workers: int = typer.Option(
        2,
        "--workers",
        help="Reader processes decoding audio (threads where the OS cannot fork); 0 = read in the main process.",
    ),
    chunk_rows: int = typer.Option(256, "--chunk-rows", help="Rows per stored chunk (the unit of resume)."),
    classes: str | None = typer.Option(None, "--classes", help=CLASSES_HELP),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a cache built from other inputs."),
    strict: bool = typer.Option(False, "--strict", help="Stop at the first unusable clip."),
    progress: bool | None = typer.Option(
        None, "--progress/--no-progress", help="Progress bar (default: on a terminal)."
    ),
    max_dropped: float = typer.Option(
        0.05, "--max-dropped", help="Fraction of rows that may be left out before exit 1 (--strict: none)."
    ),
) -> None:
    """Encode a corpus once into a feature cache (resumable: re-run the same command after a crash)."""
    with user_errors():
        from misgan.features.extract import extract

        if (manifest is None) == (corpus is None):
            raise StoreError("give either --corpus NAME --root DIR, or --manifest FILE")
        from misgan.cli.data import default_stem, report_rows
        from misgan.data.accounting import failure_problems

        if manifest is not None:
            from misgan.data.manifest import read_manifest

            df, problems = _filter_classes(read_manifest(manifest), classes, manifest)
            stem = manifest.stem
        else:
            if root is None:
                raise StoreError(f"--corpus {corpus}: --root DIR is required")
            from misgan.data.corpora import read_corpus

            result = read_corpus(corpus, root, classes=classes)
            df, problems = result.manifest, list(result.problems)
            for p in result.errors:
                typer.secho(str(p), fg=typer.colors.RED, err=True)
            if not len(df):
                raise StoreError(f"{root}: no usable utterances in corpus {corpus}")
            stem = default_stem(corpus, root)
        out = _output_path(output, fmt, stem)
        from misgan.data.accounting import account

        account(len(df), problems).check(strict=strict, max_dropped=max_dropped)  # before hours of encoding
        text = None if text_encoder.strip().lower() in ("none", "") else text_encoder
        summary = extract(
            df,
            out,
            audio_encoder=audio_encoder,
            text_encoder=text,
            corpus=corpus,
            device=device,
            batch_size=batch_size,
            workers=workers,
            chunk_rows=chunk_rows,
            overwrite=overwrite,
            strict=strict,
            progress=progress,
        )
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if int(os.environ.get("RANK", "0")) != 0:
            return  # under torchrun rank 0 reports
        # extraction failures are rows left out too: one account for the reader's drops and the encoder's
        problems += failure_problems(summary.failures)
        if summary.status == "cached":
            typer.echo(f"{out} is up to date (fingerprint {summary.fingerprint[:12]}); nothing to do")
            report_rows(df, problems, strict=strict, max_dropped=max_dropped, n_used=summary.n_rows)
            return
        rate = summary.rows_encoded / summary.seconds if summary.seconds else 0.0
        resumed = summary.n_manifest - summary.rows_encoded if world == 1 else 0
        where = " on rank 0" if world > 1 else ""
        typer.echo(
            f"wrote {out}: {summary.n_rows} of {summary.n_manifest} utterances, {summary.n_failed} failed; "
            f"encoded {summary.rows_encoded}{where} in {summary.seconds:.1f} s ({rate:.1f} utt/s)"
            + (f", {resumed} kept from the interrupted run" if resumed > 0 else "")
        )
        for f in summary.failures[:10]:
            typer.secho(f"  failed {f['utt_id']}: {f['reason']}", fg=typer.colors.YELLOW, err=True)
        if summary.n_failed > 10:
            typer.echo(f"  ... {summary.n_failed - 10} more; `misgan info {out}` lists them all", err=True)
        report_rows(df, problems, strict=strict, max_dropped=max_dropped, n_used=summary.n_rows)


def import_command(
    manifest: Path = typer.Option(..., "--manifest", "-m", help="Manifest CSV (one row per utterance)."),
    audio: Path = typer.Option(..., "--audio", help="Audio features: .npy, .csv or .parquet (N x D)."),
    text: Path | None = typer.Option(None, "--text", help="Text features, same formats (optional)."),
    text_encoder: str | None = typer.Option(
        None,
        "--text-encoder",
        help="The encoder that made --text (registry name, folder or hub id): checked on the manifest's "
        "transcripts and recorded, so new sentences (augment --text-source) can be encoded alike.",
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Cache path (.zarr or .h5)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing cache."),
) -> None:
    """Import your own feature matrices into the cache format (validated against the manifest)."""
    with user_errors():
        from misgan.features.importer import import_features

        store = import_features(manifest, audio, output, text=text, text_encoder=text_encoder, overwrite=overwrite)
        typer.echo(f"wrote {output}: {store.n_rows} rows, dims {store.dims}, classes {store.label_names}")
        store.close()


def info_command(
    cache: Path = typer.Argument(..., help="A feature cache (.zarr or .h5)."),
    failures: int = typer.Option(10, "--failures", help="Failed utterances to list (-1 = all)."),
    verify: bool = typer.Option(False, "--verify", help="Check the checksum of every chunk of every array."),
) -> None:
    """Shapes, encoders, fingerprint, counts per class and speaker, failures, and the runs made from a cache."""
    with user_errors():
        import pandas as pd

        from misgan.features.store import open_store

        with open_store(cache) as store:
            if verify:
                checked = store.verify()
                unchecked = sorted(set([*store.dims, "y", "utt_id"]) - set(checked))
                if unchecked:
                    raise StoreError(
                        f"{cache}: no chunk digests for {', '.join(unchecked)} (cache written before digests "
                        "existed); re-extract or re-import it to make it verifiable"
                    )
                typer.echo(f"verified     every chunk of {len(checked)} arrays: checksums match")
            a = store.attrs
            typer.echo(f"cache        {cache} ({store.format}, format version {a.get('format_version')})")
            typer.echo(f"corpus       {a.get('corpus') or '-'}")
            typer.echo(f"rows         {store.n_rows}")
            for mod, d in store.dims.items():
                spec = (a.get("encoders") or {}).get(mod) or {}
                keys = ("model_id", "revision", "layer", "pooling", "sample_rate")
                desc = ", ".join(f"{k}={spec[k]}" for k in keys if k in spec)
                typer.echo(f"{mod:<12} ({store.n_rows}, {d}) float32  {spec.get('name', '?')}: {desc}")
            typer.echo(f"fingerprint  {a.get('fingerprint')}")
            typer.echo(f"manifest     sha256 {a.get('manifest_sha256', '-')}")
            typer.echo(f"created      {a.get('created')} by misgan {a.get('misgan_version')}")
            from misgan.features.store import audio_source

            why = audio_source(store)
            if why is not None:
                typer.echo(f"audio        {why}: `align --finetune` and `predict` need audio it lacks")
            meta = store.meta()
            per_class = meta["label"].value_counts().reindex(store.label_names, fill_value=0)
            typer.echo("per class    " + ", ".join(f"{k} {v}" for k, v in per_class.items()))
            table = pd.crosstab(meta["speaker"], meta["label"]).reindex(columns=store.label_names, fill_value=0)
            table["total"] = table.sum(axis=1)
            typer.echo(f"per speaker  ({len(table)} speakers)")
            typer.echo(table.to_string())
            fails = store.failures
            typer.echo(f"failures     {len(fails)}")
            from misgan.data.accounting import account, failure_problems

            typer.echo(f"{'':<13}{account(store.n_rows, failure_problems(fails)).line()}")
            for f in fails if failures < 0 else fails[:failures]:
                typer.echo(f"  {f['utt_id']}: {f['reason']}")
        from misgan.run_lookup import describe_runs

        typer.echo(describe_runs(cache))


def encoders_command() -> None:
    """List the named encoders (offline = usable without a model download)."""
    with user_errors():
        from misgan.features.encoders import list_encoders

        rows = list_encoders()
        cols = ["name", "modality", "dim", "pooling", "layer", "offline", "model_id", "revision"]
        widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in cols}
        typer.echo("  ".join(c.ljust(widths[c]) for c in cols).rstrip())
        for r in rows:
            typer.echo("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in cols).rstrip())


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    app.command("extract")(extract_command)
    app.command("import")(import_command)
    app.command("info")(info_command)
    app.command("encoders")(encoders_command)
