"""Stage 3's unit of work: every score of one (fold, seed) (`run_job`), and the augmenter each method name
stands for (`build_augmenter`). `misgan.augmentation.evaluate.augment` runs the jobs (in worker processes
with --jobs) and keeps each one in the run folder; cross-corpus stage 3 runs them per test speaker.

A job reads nothing from the feature cache or the run folders itself: it gets the fold's arrays
(`FoldData`), plain arrays and picklable makers, so it can run in a worker process (misgan.parallel).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import numpy as np

from misgan.augmentation import gating
from misgan.augmentation.ablation import Ablation
from misgan.augmentation.augmenters import balance_labels, base_method, make_augmenter, ratio_labels
from misgan.augmentation.classifier import AugmentError, ClassifierConfig, evaluate_multimodal, evaluate_unimodal
from misgan.augmentation.config import AugmentConfig
from misgan.augmentation.results import record, tsne_embedding

GAN_METHODS = ("ours", "cgan")  # generators the validation rows shape in stage 2 (kept epoch; ours: L_Iy via W_y)


def _labels_for(view_y: np.ndarray, n_classes: int, config: AugmentConfig, ratio: float) -> np.ndarray:
    return balance_labels(view_y, n_classes) if config.balance else ratio_labels(view_y, ratio, n_classes)


def run_job(
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
    from misgan.augmentation.subsets import fraction_fold, refit_stage1, train_only_heads
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
        if fraction < 1.0 and config.refit_stage1:
            if audio is None:
                raise AugmentError("refitting stage 1 on a train fraction needs the cache's audio features")
            # the align run's adapter, C and W_y saw every training row: not low-resource (subsets.py)
            fold = refit_stage1(fold, audio, speakers)
        view = fold.train_view()
        labels = _labels_for(view.y, fold.n_classes, config, config.ratio)
        if fraction == top:
            before = np.bincount(view.y, minlength=fold.n_classes)
            after = before + np.bincount(labels, minlength=fold.n_classes)
            job["class_counts"] = {"before": before.tolist(), "after": after.tolist()}
        if audio is not None and config.reference:
            job["runs"].append(_reference(audio, fold, speakers, seed, fraction))
        fitted: dict[str, Any] = {}
        none_metrics: dict[str, Any] = {}
        for method in methods:
            t0 = time.time()
            base = base_method(method)
            # a gated GAN method trains its own generator on the training rows alone (kept epoch, L_Iy's head): the
            # gate judges on the validation speakers, which must not have shaped the generator as well
            own = method != base and base in GAN_METHODS
            key = method if own else base
            if key not in fitted:
                # ours below the full fraction: the gan run's generators saw every training row, so the
                # generator is retrained on this fraction's rows only (no loader)
                stage1 = fold.attrs.get("stage1_arrays")
                use_loader = loader if fraction >= 1.0 and not own else None
                aug = build_augmenter(base, config, use_loader, ours, stage1)
                if own:  # neither the kept epoch nor L_Iy's head may have seen the validation speakers
                    heads = train_only_heads(fold, view, config.classifier.c_default)
                    aug.fit(dataclasses.replace(view, valid=None, heads=heads), seed)
                else:
                    aug.fit(view, seed)
                fitted[key] = aug
                job["fits"][key] = job["fits"].get(key, 0) + 1
            aug = fitted[key]
            if method != base:
                y_view, n_c = view.y, fold.n_classes

                def decide(r: float, y_view: np.ndarray = y_view, n_c: int = n_c) -> np.ndarray:
                    return _labels_for(y_view, n_c, config, r)

                m, gate = gating.gated_score(fold, aug, decide, config, seed, none_metrics, speakers)
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


def build_augmenter(
    method: str, config: AugmentConfig, loader: Any, ours: Any = None, stage1: dict[str, Any] | None = None
) -> Any:
    """The augmenter `method` names. `ours`: a maker with outside information (misgan.augmentation.outside);
    `stage1`: the arrays of a stage 1 refitted on a train fraction, to map source rows with."""
    from misgan.config import replace

    text_mode = "class" if config.balance else "paired"
    if method == "ours" and ours is not None:  # outside information (misgan.augmentation.sources)
        return ours("ours", config.gan, text_mode, loader, stage1=stage1)
    if method == "ours":
        return make_augmenter("ours", config.gan, text_mode=text_mode, generator_loader=loader)
    if method == "cgauss":
        return make_augmenter("cgauss", covariance=config.cgauss_covariance)
    if method == "cgan":
        cfg = replace(config.gan, use_mi=False, use_text=False, text_mode="none")
        return make_augmenter("cgan", cfg, text_mode=text_mode)
    return make_augmenter(method, sigma=config.noise_sigma, alpha=config.mixup_alpha, k_neighbors=config.smote_k)
