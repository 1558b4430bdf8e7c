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

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from misgan.augmentation import gating, inputs, sources
from misgan.augmentation.ablation import ABLATIONS, Ablation, noalign_run
from misgan.augmentation.augmenters import METHODS, balance_labels, base_method, make_augmenter, ratio_labels
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
    cache: Any, key: str, run_dir: Any, fp: str | None, config: AugmentConfig, upstream: dict, root: Any, say: Echo
) -> Any:
    """The keyed augment run folder (in-corpus and cross-corpus alike); says so when it is already complete."""
    from misgan.runs import begin_run

    run = begin_run(
        cache, "augment", key, run_dir, cache_fingerprint=fp, config=config, upstream=upstream,
        seed=config.seed, threads=config.threads, root=root,
    )  # fmt: skip
    if run.complete:
        say(f"augment: up to date, run {run.path}")
    return run


def needs_generators(config: AugmentConfig) -> bool:
    """Whether the run samples stage-2 generators (its key then includes the gan run's key)."""
    return "ours" in {base_method(m) for m in methods_of(config)}


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
    from misgan.runtime import collect_warnings, thread_limit

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
        audio = store.read("audio") if config.reference and "audio" in store.dims else None
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
    with thread_limit(config.threads):
        run = begin_augment_run(cache, key, run_dir, fp, config, upstream, root, say)
        if run.complete:
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
        with collect_warnings(run.log):  # warnings of every job land in the run's log
            for fold_name, seed in _bar(todo, progress):
                fold = inputs.load_fold(align, fold_name, text, y, len(label_names))
                loader = inputs.generator_loader(generators, fold_name) if generators is not None else None
                ours = outside.bind(align, fold_name, fold.test_idx) if outside else None
                extra = {"ours": ours, "audio": audio, "speakers": speakers}
                job = _job(fold, seed, methods, config, loader, ablation, tsne=(fold_name, seed) == first, **extra)
                run.write_fold(job_name(fold_name, seed), {}, job)
                run.log.write({"event": "job_done", "fold": fold_name, "seed": seed, "seconds": job["seconds"]})
                for line in fold_line(job, config.ratio, len(seeds)):
                    say(line)
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
        "outside": outside.record(jobs) if outside else None,
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
    audio: np.ndarray | None = None,
    speakers: np.ndarray | None = None,
    ours: Any = None,
) -> dict[str, Any]:
    """Every score of one (fold, seed): per training fraction the reference, the methods (each fitted once and
    sampled at every ratio), the gated methods; at the full fraction also ours' extra ratios, multimodal,
    ablation."""
    from misgan.augmentation.subsets import fraction_fold
    from misgan.runtime import seed_everything

    t_start = time.time()
    seed_everything(seed)
    full = fold
    top = max(config.train_fractions)
    job: dict[str, Any] = {
        "fold": fold.name,
        "seed": seed,
        "runs": [],
        "multimodal": [],
        "stage1_baseline": fold.attrs.get("baseline"),
        "gan_history": None,
        "timing": {},
        "gates": [],
        "weak_generators": [],
        "fits": {},
    }
    kept = None
    for fraction in sorted(config.train_fractions):
        if fraction < 1.0 and speakers is None:
            raise AugmentError("train_fractions < 1 need the cache's speakers")
        fold = fraction_fold(full, speakers, fraction, seed) if speakers is not None else full
        view = fold.train_view()
        labels = _labels_for(view.y, fold.n_classes, config, config.ratio)
        if fraction == top:
            before = np.bincount(view.y, minlength=fold.n_classes)
            after = before + np.bincount(labels, minlength=fold.n_classes)
            job["class_counts"] = {"before": before.tolist(), "after": after.tolist()}
        if audio is not None:
            job["runs"].append(_reference(audio, fold, speakers, seed, fraction))
        fitted: dict[str, Any] = {}
        none_metrics: dict[str, Any] = {}
        for method in methods:
            t0 = time.time()
            base = base_method(method)
            if base not in fitted:
                # ours below the full fraction: the gan run's generators saw every training row, so the
                # generator is retrained on this fraction's rows only (no loader)
                aug = _make(base, config, loader if fraction >= 1.0 else None, ours)
                aug.fit(view, seed)
                fitted[base] = aug
                job["fits"][base] = job["fits"].get(base, 0) + 1
            aug = fitted[base]
            if method != base:
                y_view, n_c = view.y, fold.n_classes

                def decide(r: float, y_view: np.ndarray = y_view, n_c: int = n_c) -> np.ndarray:
                    return _labels_for(y_view, n_c, config, r)

                m, gate = gating.gated_score(fold, aug, decide, config, seed, none_metrics)
                job["runs"].append(record(fold.name, seed, method, config.ratio, m, fraction=fraction, gate=gate))
                where = {"fold": fold.name, "seed": seed, "fraction": fraction, "method": method}
                job["gates"].append({**where, **gate})
                _note_weak(job, aug, method, fraction, gate["augmented"])
                continue
            x_syn, y_syn = aug.sample(labels, seed) if method != "none" else (None, None)
            m = evaluate_unimodal(fold, x_syn, y_syn, config.classifier, seed=seed)
            if method == "none":
                none_metrics = m
            job["runs"].append(record(fold.name, seed, method, config.ratio, m, fraction=fraction))
            _note_weak(job, aug, method, fraction, method != "none")
            if method == "ours" and fraction == top:
                kept = (aug, x_syn, y_syn, aug.last_text)  # last_text: before the ratio runs resample
                job["gan_history"] = aug.history
                for r in config.ratios:
                    if config.balance or np.isclose(r, config.ratio):
                        continue  # --balance fixes the counts; the main ratio is already scored
                    xs, ys = aug.sample(_labels_for(view.y, fold.n_classes, config, r), seed + 7919)
                    mr = evaluate_unimodal(fold, xs, ys, config.classifier, seed=seed)
                    job["runs"].append(record(fold.name, seed, "ours", r, mr, fraction=fraction))
            job["timing"][method] = job["timing"].get(method, 0.0) + time.time() - t0
    if tsne and config.tsne and kept is not None:
        job["tsne"] = tsne_embedding(fold.train_view(), kept[0], config.tsne_rows, seed)
    if config.multimodal and kept is not None:
        _, x_syn, y_syn, t_syn = kept
        mm = _mm_config(config)
        for augmented in (False, True):
            cols = evaluate_multimodal(fold, x_syn if augmented else None, y_syn, t_syn, mm, seed=seed)
            job["multimodal"].append({"fold": fold.name, "seed": seed, "augmented": augmented, **cols})
    if ablation is not None:
        labels = _labels_for(fold.train_view().y, fold.n_classes, config, config.ratio)
        job["runs"].extend(ablation.run(fold, labels, seed, [r for r in job["runs"] if r["fraction"] == top]))
    job["seconds"] = time.time() - t_start
    return job


def _note_weak(job: dict[str, Any], aug: Any, method: str, fraction: float, augmented: bool) -> None:
    """Record that a fold augmented with a generator stage 2 flagged as weak (issue 12.5)."""
    warnings = list(getattr(aug, "weak", None) or [])
    if warnings:
        job["weak_generators"].append(
            {"fold": job["fold"], "seed": job["seed"], "fraction": fraction, "method": method,
             "augmented": bool(augmented), "warnings": warnings}
        )  # fmt: skip


def _reference(audio: np.ndarray, fold: Any, speakers: np.ndarray | None, seed: int, fraction: float) -> dict:
    """The logistic-regression reference on the raw audio features, the same (fraction) rows and test rows."""
    from misgan.data.folds import Fold
    from misgan.reference import lr_reference

    f = Fold(fold.name, train=fold.train_idx, test=fold.test_idx, valid=fold.valid_idx)
    m = lr_reference(audio, fold.y, f, groups=speakers)
    m.update(n_train=len(fold.train_idx) + len(fold.valid_idx), n_syn=0)
    return record(fold.name, seed, "reference", 0.0, m, fraction=fraction)


def _mm_config(config: AugmentConfig) -> ClassifierConfig:
    from dataclasses import replace

    return replace(
        config.classifier,
        hidden=tuple(config.mm_hidden),
        standardize=True,
        max_epochs=config.mm_max_epochs,
        patience=config.mm_patience,
    )


def _make(method: str, config: AugmentConfig, loader: Any, ours: Any = None) -> Any:
    from misgan.config import replace

    text_mode = "class" if config.balance else "paired"
    if method == "ours" and ours is not None:  # outside information (misgan.augmentation.sources)
        return ours("ours", config.gan, text_mode, loader)
    if method == "ours":
        return make_augmenter("ours", config.gan, text_mode=text_mode, generator_loader=loader)
    if method == "cgauss":
        return make_augmenter("cgauss", covariance=config.cgauss_covariance)
    if method == "cgan":
        cfg = replace(config.gan, use_mi=False, use_text=False, text_mode="none")
        return make_augmenter("cgan", cfg, text_mode=text_mode)
    return make_augmenter(method, sigma=config.noise_sigma, alpha=config.mixup_alpha, k_neighbors=config.smote_k)
