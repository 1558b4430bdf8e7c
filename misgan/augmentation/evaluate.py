"""Stage 3: `augment(cache, config)` -> a keyed run folder with results.json and report.md.

What runs (AugmentConfig):
  methods   Table II: each augmenter of misgan.augmentation.augmenters, fitted per fold on training rows only;
            the classifier (stage-1 head fine-tuned on h ∪ ĥ) is scored on the test speakers. "ours" samples
            the generators of the gan run found by key (misgan.augmentation.inputs).
  ablation  Table III (misgan.augmentation.ablation).
  multimodal Tables IV-V: audio | text | audio+text classifiers, without and with our ĥ, t′.
  ratios    UAR of ours against the synthetic/real ratio.
  balance   generate only for minority classes (up to the majority count), class-sampled text.
  reference the logistic regression on the cache's raw audio features, same folds (misgan.reference).
  "<m>-gated"  validation-gated augmentation (misgan.augmentation.gating); gate_all gates every method.
  train_fractions  the low-resource protocol (misgan.augmentation.subsets): every score per fraction.

Every trained augmenter is fitted once per (fold, seed, fraction) and sampled for every ratio it is scored at.

The run's key is run_key("augment", cache fingerprint, config, {"align": stage-1 key, "gan": gan key or ""}).
Each finished (fold, seed) job is kept in the run folder (`folds/<fold>.seed<k>/`), so an interrupted call
resumes with the jobs still to do; results.json is assembled from the kept jobs (misgan.augmentation.results).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from misgan.augmentation import inputs, sources
from misgan.augmentation.ablation import ABLATIONS, Ablation, noalign_run
from misgan.augmentation.augmenters import METHODS, base_method
from misgan.augmentation.classifier import AugmentError
from misgan.augmentation.config import AugmentConfig
from misgan.augmentation.job import run_job
from misgan.augmentation.results import (
    ABLATION_TITLES,
    METHOD_TITLES,
    assemble,
    fold_line,
    job_name,
    write_results,
)
from misgan.parallel import barrier, dist, is_main, map_folds
from misgan.runs import RUNS_ROOT, RunResult

__all__ = ["ABLATIONS", "ABLATION_TITLES", "METHOD_TITLES", "AugmentConfig", "augment", "needs_generators"]

Echo = Callable[[str], None]


def methods_of(config: AugmentConfig) -> list[str]:
    """The methods scored: "none" first, then the requested ones (and their gated forms with gate_all);
    multimodal needs ours."""
    names = ["none", *config.methods, *(["ours"] if config.multimodal else [])]
    if config.gate_all:
        names += [f"{m}-gated" for m in names if m != "none" and not m.endswith("-gated")]
    return list(dict.fromkeys(names))


def augment_key(fingerprint: str | None, config: AugmentConfig, align_key: str, gan_key: str) -> str:
    """The key of a stage-3 run (`gan_key` "" when no method samples generators): shared with `misgan run`."""
    from misgan.runs import run_key

    return run_key(
        "augment", fingerprint, config, {"align": align_key, "gan": gan_key, **sources.key_extras(config)}
    )


def begin_augment_run(
    cache: Any,
    key: str,
    run_dir: Any,
    fp: str | None,
    config: AugmentConfig,
    upstream: dict,
    root: Any,
    say: Echo,
    threads: int | None = None,
) -> Any:
    """The keyed augment run folder (in-corpus and cross-corpus alike); says so when it is already complete.
    `threads`: the effective thread count meta.json records (default `config.threads`)."""
    from misgan.runs import begin_run

    run = begin_run(
        cache, "augment", key, run_dir, cache_fingerprint=fp, config=config, upstream=upstream,
        seed=config.seed, threads=config.threads if threads is None else threads, root=root,
    )  # fmt: skip
    if run.complete:
        say(f"augment: up to date, run {run.path}")
    return run


def needs_generators(config: AugmentConfig) -> bool:
    """Whether the run samples stage-2 generators (its key then includes the gan run's key): plain "ours" does;
    "ours-gated" trains its own generator in each job (augmentation/job.py), so it alone needs no gan run."""
    return "ours" in methods_of(config)


def augment(
    cache: str | Path,
    config: AugmentConfig | None = None,
    run_dir: str | Path | None = None,
    *,
    align_run: str | Path | None = None,
    gan_run: str | Path | None = None,
    progress: bool | None = None,
    echo: Echo | None = None,
    runs_root: str | Path = RUNS_ROOT,
) -> RunResult:
    """Run every requested experiment on every fold and seed of the stage-1 run; return the keyed run.

    `align_run`: the stage-1 run folder (default: the newest complete align run of the cache). `gan_run`: a
    gan run folder whose generators "ours" uses (default: the run found by key, trained when none matches).
    `run_dir`: the run folder (default runs/<cache stem>/augment-<key>); `runs_root`: where keyed runs live.
    A complete run with the same key is returned as it is (`reused=True`)."""
    from misgan.features.store import open_store
    from misgan.runtime import collect_warnings, resolve_threads, thread_limit

    config = config or AugmentConfig()
    if config.test_cache:  # cross-corpus: train on this cache, score another (misgan.augmentation.crosscorpus)
        from misgan.augmentation.crosscorpus import augment_cross

        where = {"align_run": align_run, "gan_run": gan_run, "progress": progress, "runs_root": runs_root}
        return augment_cross(cache, config, run_dir, echo=echo, **where)
    say: Echo = echo or (lambda line: None)
    root = Path(runs_root)
    unknown = [m for m in config.methods if base_method(m) not in METHODS or base_method(m) == "none" != m]
    if unknown:
        raise AugmentError(
            f"unknown augmenter(s) {', '.join(unknown)}; choose from {', '.join(METHODS)} (or NAME-gated)"
        )
    with open_store(cache) as store:
        fp = store.fingerprint
        text, config = inputs.audio_only(store, config, say)  # an audio-only cache: (N, 0) text, G(z, c)
        y, label_names = store.labels, list(store.label_names)
        # raw audio: the reference row, and stage 1 refitted on every train fraction below 1
        refit = config.refit_stage1 and min(config.train_fractions) < 1.0
        audio = store.read("audio") if (config.reference or refit) and "audio" in store.dims else None
        speakers = store.meta()["speaker"].astype(str).to_numpy()
        outside = sources.prepare(store, config, root, say)  # --source-cache / --text-source (or None)
    align = inputs.stage1_run(cache, fp, align_run, root, say)
    folds = inputs.select_folds(align, config.folds)
    say(f"stage 1: align run {align.path} ({len(folds)} folds)")
    methods = methods_of(config)
    generators, trained = None, False
    if needs_generators(config) and not (outside and outside.sources):  # with sources, ours trains per fold
        generators, trained = inputs.stage2_run(
            cache, fp, config.gan, align, folds, gan_run, root, echo=say, progress=progress
        )
    upstream = {"align": align.key, "gan": generators.key if generators is not None else ""}
    key = augment_key(fp, config, align.key, upstream["gan"])
    jobs = max(1, config.jobs)
    threads = resolve_threads(config.threads, jobs)
    run = begin_augment_run(cache, key, run_dir, fp, config, upstream, root, say, threads=threads)
    if run.complete:  # before thread_limit, which imports torch (~1.5 s): a no-op rerun never does
        return run.result(reused=True)
    seeds = config.seed_list()
    written = run.path / "results.json"
    if written.is_file() and all(run.has_fold(job_name(f, s)) for f in folds for s in seeds):
        # an open (--fold) run whose results already cover exactly these folds and seeds: nothing to redo
        from misgan.io import read_json

        old = read_json(written)
        if old.get("folds") == folds and old.get("seeds") == seeds:
            say(f"augment: up to date for these {len(folds)} fold(s), run {run.path}")
            rest = [f for f in align.folds() if f not in folds]
            # leave_open releases the writer lock begin_augment_run took
            left = run.leave_open({"summary": old.get("summary"), "folds_todo": rest})
            return dataclasses.replace(left, reused=True)
    with thread_limit(threads):
        ablation = None
        if config.ablation:
            na = noalign_run(cache, align, folds, root, echo=say, progress=progress)
            ablation = Ablation(na, config, text, y, len(label_names))
        if outside is not None:
            outside.align = align  # its record() reads the folds; `bind` sets it only in the job's process
        todo = [(f, s) for f in folds for s in seeds if not run.has_fold(job_name(f, s))]
        if len(todo) < len(folds) * len(seeds):
            done = len(folds) * len(seeds) - len(todo)
            say(f"augment: resuming {run.path}: {done} job(s) kept, {len(todo)} to do")
        first, n_classes = (folds[0], seeds[0]), len(label_names)

        def one(item: tuple[str, int]) -> dict[str, Any]:
            # with --jobs this closure travels to a worker process: it holds arrays, run folders and the
            # (picklable) config; the fold, its generator and outside makers are built here, in the worker
            fold_name, seed = item
            fold = inputs.load_fold(align, fold_name, text, y, n_classes)
            loader = inputs.generator_loader(generators, fold_name) if generators is not None else None
            ours = outside.bind(align, fold_name, fold.test_idx) if outside else None
            extra = {"ours": ours, "audio": audio, "speakers": speakers}
            with collect_warnings(run.log):  # the job's warnings land in the run's log, from any process
                return run_job(fold, seed, methods, config, loader, ablation, tsne=item == first, **extra)

        bar = _bar(len(todo), progress)

        def kept(item: tuple[str, int], job: dict[str, Any]) -> None:
            # in the calling process as each job arrives: a killed run keeps its finished jobs
            fold_name, seed = item
            run.write_fold(job_name(fold_name, seed), {}, job)
            run.log.write({"event": "job_done", "fold": fold_name, "seed": seed, "seconds": job["seconds"]})
            for line in fold_line(job, config.ratio, len(seeds)):
                say(line)
            bar.update(1)

        with bar, collect_warnings(run.log):
            map_folds(one, todo, jobs, threads_per_job=threads, on_result=kept)
        barrier()  # every rank's jobs are written before rank 0 concludes
        if not is_main():
            return RunResult(run.kind, run.key, run.path, {"complete": False, "rank": dist()[0]}, reused=False)
        jobs_done = [run.read_fold(job_name(f, s))[1] for f in folds for s in seeds]
    head = {
        "config": config,
        "cache": str(cache),
        "label_names": label_names,
        "folds": folds,
        "seeds": seeds,
        "align_run": {"path": str(align.path), "key": align.key},
        "gan_run": inputs.gan_run_record(generators, trained),
        "noalign_run": {"path": str(ablation.noalign.path), "key": ablation.noalign.key} if ablation else None,
        "outside": outside.record(jobs_done) if outside else None,
    }
    results = assemble(head, jobs_done)
    write_results(run.path, results)
    from misgan.report.build import build_report

    build_report(run.path)
    summary = {"summary": results["summary"], "gan_run": head["gan_run"], "align_run": head["align_run"]}
    rest = [f for f in align.folds() if f not in folds]
    if rest or not align.complete:
        # --fold: results.json and the report cover these folds, but the run (keyed without `folds`) is not
        # complete: a later call for more folds resumes it instead of taking this subset as up to date
        say(f"augment: {len(folds)} of {len(folds) + len(rest)} stage-1 folds; the run stays open for the others")
        return run.leave_open({**summary, "folds_todo": rest})
    return run.finish(summary)


def _bar(total: int, progress: bool | None) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="augment", disable=None if progress is None else not progress)
