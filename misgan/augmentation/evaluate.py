"""Stage 3: `augment(cache, config)` -> a keyed run folder with results.json and report.md.

What runs (AugmentConfig):
  methods   Table II: each augmenter of misgan.augmentation.augmenters, fitted per fold on training rows only;
            the classifier (stage-1 head fine-tuned on h ∪ ĥ) is scored on the test speakers. "ours" samples
            the generators of the gan run found by key (misgan.augmentation.inputs).
  ablation  Table III (misgan.augmentation.ablation).
  multimodal Tables IV-V: audio | text | audio+text classifiers, without and with our ĥ, t′.
  ratios    UAR of ours against the synthetic/real ratio.
  balance   generate only for minority classes (up to the majority count), class-sampled text.

The run's key is run_key("augment", cache fingerprint, config, {"align": stage-1 key, "gan": gan key or ""}).
Each finished (fold, seed) job is kept in the run folder (`folds/<fold>.seed<k>/`), so an interrupted call
resumes with the jobs still to do; results.json is assembled from the kept jobs (misgan.augmentation.results).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from misgan.augmentation import inputs
from misgan.augmentation.ablation import ABLATIONS, Ablation, noalign_run
from misgan.augmentation.augmenters import METHODS, balance_labels, make_augmenter, ratio_labels
from misgan.augmentation.classifier import AugmentError, ClassifierConfig, evaluate_multimodal, evaluate_unimodal
from misgan.augmentation.config import AugmentConfig
from misgan.augmentation.results import (
    ABLATION_TITLES,
    METHOD_TITLES,
    assemble,
    fold_line,
    job_name,
    record,
    tsne_embedding,
    write_results,
)
from misgan.runs import RUNS_ROOT, RunResult

__all__ = ["ABLATIONS", "ABLATION_TITLES", "METHOD_TITLES", "AugmentConfig", "augment", "needs_generators"]

Echo = Callable[[str], None]


def methods_of(config: AugmentConfig) -> list[str]:
    """The methods scored: "none" first, then the requested ones; multimodal needs ours."""
    return list(dict.fromkeys(["none", *config.methods, *(["ours"] if config.multimodal else [])]))


def augment_key(fingerprint: str | None, config: AugmentConfig, align_key: str, gan_key: str) -> str:
    """The key of a stage-3 run (`gan_key` "" when no method samples generators): shared with `misgan run`."""
    from misgan.runs import run_key

    return run_key("augment", fingerprint, config, {"align": align_key, "gan": gan_key})


def needs_generators(config: AugmentConfig) -> bool:
    """Whether the run samples stage-2 generators (its key then includes the gan run's key)."""
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
    from misgan.runs import begin_run
    from misgan.runtime import thread_limit

    config = config or AugmentConfig()
    say: Echo = echo or (lambda line: None)
    root = Path(runs_root)
    unknown = [m for m in config.methods if m not in METHODS]
    if unknown:
        raise AugmentError(f"unknown augmenter(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    with open_store(cache) as store:
        if "text" not in store.dims:
            raise AugmentError(f"{store.path}: the cache has no text features; stage 3 needs them")
        fp = store.fingerprint
        text, y, label_names = store.read("text"), store.labels, list(store.label_names)
    align = inputs.stage1_run(cache, fp, align_run, root, say)
    folds = inputs.select_folds(align, config.folds)
    say(f"stage 1: align run {align.path} ({len(folds)} folds)")
    methods = methods_of(config)
    generators, trained = None, False
    if "ours" in methods:
        generators, trained = inputs.stage2_run(
            cache, fp, config.gan, align, folds, gan_run, root, echo=say, progress=progress
        )
    upstream = {"align": align.key, "gan": generators.key if generators is not None else ""}
    key = augment_key(fp, config, align.key, upstream["gan"])
    with thread_limit(config.threads):
        run = begin_run(
            cache, "augment", key, run_dir, cache_fingerprint=fp, config=config, upstream=upstream,
            seed=config.seed, threads=config.threads, root=root,
        )  # fmt: skip
        if run.complete:
            say(f"augment: up to date, run {run.path}")
            return run.result(reused=True)
        ablation = None
        if config.ablation:
            na = noalign_run(cache, align, folds, root, echo=say, progress=progress)
            ablation = Ablation(na, config, text, y, len(label_names))
        seeds = [config.seed + i for i in range(config.seeds)]
        todo = [(f, s) for f in folds for s in seeds if not run.has_fold(job_name(f, s))]
        if len(todo) < len(folds) * len(seeds):
            done = len(folds) * len(seeds) - len(todo)
            say(f"augment: resuming {run.path}: {done} job(s) kept, {len(todo)} to do")
        first = (folds[0], seeds[0])
        for fold_name, seed in _bar(todo, progress):
            fold = inputs.load_fold(align, fold_name, text, y, len(label_names))
            loader = inputs.generator_loader(generators, fold_name) if generators is not None else None
            job = _job(fold, seed, methods, config, loader, ablation, tsne=(fold_name, seed) == first)
            run.write_fold(job_name(fold_name, seed), {}, job)
            run.log.write({"event": "job_done", "fold": fold_name, "seed": seed, "seconds": job["seconds"]})
            say(fold_line(job, config.ratio, len(seeds)))
        jobs = [run.read_fold(job_name(f, s))[1] for f in folds for s in seeds]
    head = {
        "config": config,
        "cache": str(cache),
        "label_names": label_names,
        "folds": folds,
        "seeds": seeds,
        "align_run": {"path": str(align.path), "key": align.key},
        "gan_run": inputs.gan_run_record(generators, trained),
        "noalign_run": {"path": str(ablation.noalign.path), "key": ablation.noalign.key} if ablation else None,
    }
    results = assemble(head, jobs)
    write_results(run.path, results)
    from misgan.report.build import build_report

    build_report(run.path)
    return run.finish({"summary": results["summary"], "gan_run": head["gan_run"], "align_run": head["align_run"]})


def _bar(jobs: list[tuple[str, int]], progress: bool | None) -> Any:
    from tqdm.auto import tqdm

    return tqdm(jobs, desc="augment", disable=None if progress is None else not progress)


def _labels_for(view_y: np.ndarray, n_classes: int, config: AugmentConfig, ratio: float) -> np.ndarray:
    return balance_labels(view_y, n_classes) if config.balance else ratio_labels(view_y, ratio, n_classes)


def _job(
    fold: Any,
    seed: int,
    methods: list[str],
    config: AugmentConfig,
    loader: Any,
    ablation: Ablation | None,
    tsne: bool,
) -> dict[str, Any]:
    """Every score of one (fold, seed): the methods, ours at the extra ratios, multimodal, ablation."""
    from misgan.runtime import seed_everything

    t_start = time.time()
    seed_everything(seed)
    view = fold.train_view()
    labels = _labels_for(view.y, fold.n_classes, config, config.ratio)
    before = np.bincount(view.y, minlength=fold.n_classes)
    job: dict[str, Any] = {
        "fold": fold.name,
        "seed": seed,
        "runs": [],
        "multimodal": [],
        "stage1_baseline": fold.attrs.get("baseline"),
        "class_counts": {
            "before": before.tolist(),
            "after": (before + np.bincount(labels, minlength=fold.n_classes)).tolist(),
        },
        "gan_history": None,
        "timing": {},
    }
    ours = None
    for method in methods:
        t0 = time.time()
        aug = _make(method, config, loader)
        aug.fit(view, seed)
        x_syn, y_syn = aug.sample(labels, seed) if method != "none" else (None, None)
        m = evaluate_unimodal(fold, x_syn, y_syn, config.classifier, seed=seed)
        job["runs"].append(record(fold.name, seed, method, config.ratio, m))
        if method == "ours":
            ours = (aug, x_syn, y_syn, aug.last_text)  # last_text: before the ratio runs resample
            job["gan_history"] = aug.history
            for r in config.ratios:
                if config.balance or np.isclose(r, config.ratio):
                    continue  # --balance fixes the counts; the main ratio is already scored
                xs, ys = aug.sample(_labels_for(view.y, fold.n_classes, config, r), seed + 7919)
                mr = evaluate_unimodal(fold, xs, ys, config.classifier, seed=seed)
                job["runs"].append(record(fold.name, seed, "ours", r, mr))
        job["timing"][method] = time.time() - t0
    if tsne and config.tsne and ours is not None:
        job["tsne"] = tsne_embedding(view, ours[0], config.tsne_rows, seed)
    if config.multimodal and ours is not None:
        _, x_syn, y_syn, t_syn = ours
        mm = _mm_config(config)
        for augmented in (False, True):
            cols = evaluate_multimodal(fold, x_syn if augmented else None, y_syn, t_syn, mm, seed=seed)
            job["multimodal"].append({"fold": fold.name, "seed": seed, "augmented": augmented, **cols})
    if ablation is not None:
        job["runs"].extend(ablation.run(fold, labels, seed, job["runs"]))
    job["seconds"] = time.time() - t_start
    return job


def _mm_config(config: AugmentConfig) -> ClassifierConfig:
    from dataclasses import replace

    return replace(
        config.classifier,
        hidden=tuple(config.mm_hidden),
        standardize=True,
        max_epochs=config.mm_max_epochs,
        patience=config.mm_patience,
    )


def _make(method: str, config: AugmentConfig, loader: Any) -> Any:
    from misgan.config import replace

    text_mode = "class" if config.balance else "paired"
    if method == "ours":
        return make_augmenter("ours", config.gan, text_mode=text_mode, generator_loader=loader)
    if method == "cgan":
        cfg = replace(config.gan, use_mi=False, use_text=False, text_mode="none")
        return make_augmenter("cgan", cfg, text_mode=text_mode)
    return make_augmenter(method, sigma=config.noise_sigma, alpha=config.mixup_alpha, k_neighbors=config.smote_k)
