"""Cross-corpus stage 3 (issue 14 item 2): `misgan augment --cache TRAIN --test-cache TEST`.

Design (docs/stage3.md, "Cross-corpus"): one stage-1 fold of TRAIN supplies the model (the first fold of the
align run, or `--fold NAME`): its standardisation + adapter map TEST's raw audio features into that fold's h
space (`alignment.adapter.recompute_h`), its validation speakers pick the classifier's epoch, and every other
TRAIN row (the fold's training AND test speakers) trains the classifiers. The generators are that fold's (the
gan run found by key, as in-corpus). TEST's rows are only ever scored: each TEST speaker is one paired unit
(records named `<test cache stem>-<speaker>`), so the table's mean, Wilcoxon and bootstrap CI run over TEST
speakers. The classifiers are refitted per unit with the same seed on the same rows (deterministic), so every
unit is scored by the same model; only "cgan" (a GAN per unit) costs more.
TEST must be built with the same encoders (specs checked) and its labels must name TRAIN's classes (others are
dropped with a count).
The logistic-regression reference row (config.reference) is `misgan.reference.lr_transfer` on the caches' raw
audio features: fitted on EVERY TRAIN row (C chosen by inner grouped CV over TRAIN's speakers, as in-corpus),
scored on the same paired units (TEST speakers); it is deterministic, so one fit serves every unit and seed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from misgan.augmentation import inputs
from misgan.augmentation.fold_data import FoldData
from misgan.augmentation.sources import SourceError, check_same_encoders, map_labels


@dataclass
class CrossReference:
    """The reference row's inputs: TRAIN's raw audio, labels and speakers; TEST's raw audio and labels (the kept
    rows) and each unit's positions in them. `scores()` fits once, on first use (a reused run never fits)."""

    x_train: np.ndarray
    y_train: np.ndarray
    groups: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    units: dict[str, np.ndarray]
    n_classes: int
    _scores: dict[str, dict[str, Any]] | None = field(default=None, repr=False)

    def scores(self) -> dict[str, dict[str, Any]]:
        """Unit name -> the reference's metrics on that unit (plus c, inner, n_train, n_syn)."""
        from misgan.reference import lr_transfer

        if self._scores is None:
            recs = lr_transfer(
                self.x_train, self.y_train, self.groups, self.x_test, self.y_test, self.units, self.n_classes
            )
            self._scores = {r["fold"]: {**r, "n_train": len(self.y_train), "n_syn": 0} for r in recs}
        return self._scores


def cross_folds(
    train: Any, test_cache: str | Path, align: Any, fold: str, text: np.ndarray, echo: Any, reference: bool = False
) -> tuple[list[FoldData], dict[str, Any], CrossReference | None]:
    """One FoldData per TEST speaker over TRAIN's fold `fold` (see the module docstring), a record, and with
    `reference` the reference row's inputs (None when either cache lacks raw audio features)."""
    from misgan.alignment.adapter import recompute_h
    from misgan.alignment.run import load_fold
    from misgan.features.store import open_store
    from misgan.runs import cache_stem

    modalities = ("audio", "text") if text.shape[1] else ("audio",)
    with open_store(test_cache) as test:
        if test.fingerprint is not None and test.fingerprint == train.fingerprint:
            raise SourceError(f"test cache {test.path}: the training cache itself; drop --test-cache")
        check_same_encoders(train, test, modalities, role="test cache")
        meta = test.meta()
        y_test, dropped = map_labels(meta["label"].tolist(), train.label_names, f"test cache {test.path}", echo)
        keep = np.flatnonzero(y_test >= 0)
        if not len(keep):
            raise SourceError(f"test cache {test.path}: no row of the training classes {train.label_names}")
        audio = test.read("audio", keep)
        t_test = test.read("text", keep) if text.shape[1] else np.zeros((len(keep), 0), np.float32)
        record = {"path": str(test.path), "fingerprint": test.fingerprint, "rows": len(keep), "dropped": dropped}
    arrays, attrs = load_fold(align, fold)
    base = inputs.load_fold(align, fold, text, train.labels, len(train.label_names))
    h_test = np.asarray(recompute_h(arrays, audio, attrs["config"]), np.float32)
    n = len(base.y)
    h, t = np.concatenate([base.h, h_test]), np.concatenate([base.t, t_test]).astype(np.float32)
    y = np.concatenate([base.y, y_test[keep]])
    train_idx = np.sort(np.concatenate([base.train_idx, base.test_idx]))  # all TRAIN rows but the validation ones
    speakers = meta["speaker"].astype(str).to_numpy()[keep]
    stem = cache_stem(test_cache)
    units = [
        replace(
            base,
            name=f"{stem}-{s}",
            h=h,
            t=t,
            y=y,
            train_idx=train_idx,
            test_idx=n + np.flatnonzero(speakers == s),
            requested=set(),
        )
        for s in sorted(set(speakers))
    ]
    record |= {"speakers": len(units), "train_fold": fold, "train_rows": len(train_idx)}
    echo(f"cross-corpus: train {train.path} (fold {fold}: {len(train_idx)} rows), test {record['path']} "
         f"({len(keep)} rows, {len(units)} speakers = paired units)")  # fmt: skip
    ref = None
    if reference and "audio" in train.dims:  # TEST's audio was read above (the adapter maps it)
        groups = train.meta()["speaker"].astype(str).to_numpy()
        ref = CrossReference(
            np.asarray(train.read("audio")), np.asarray(train.labels), groups, np.asarray(audio), y_test[keep],
            {u.name: u.test_idx - n for u in units}, len(train.label_names),
        )  # fmt: skip
    elif reference:
        echo(f"cross-corpus: no logistic-regression reference ({train.path} has no raw audio features)")
    return units, record, ref


def augment_cross(
    cache: str | Path,
    config: Any,
    run_dir: str | Path | None,
    *,
    align_run: str | Path | None,
    gan_run: str | Path | None,
    progress: bool | None,
    echo: Any,
    runs_root: str | Path,
) -> Any:
    """`augment` with `config.test_cache`: a keyed augment run whose units are TEST's speakers."""
    from misgan.augmentation import evaluate as ev
    from misgan.augmentation.fold_data import AugmentError
    from misgan.augmentation.job import run_job
    from misgan.augmentation.results import assemble, job_name, write_results
    from misgan.augmentation.results import record as score
    from misgan.features.store import open_store
    from misgan.runtime import thread_limit

    say = echo or (lambda line: None)
    root = Path(runs_root)
    extras = [n for n in ("multimodal", "ablation", "text_source", "source_caches") if getattr(config, n)]
    if extras or tuple(getattr(config, "train_fractions", (1.0,))) != (1.0,):
        what = ", ".join(extras) or "train_fractions"
        raise AugmentError(
            f"--test-cache {config.test_cache}: cross-corpus runs the unimodal comparison only ({what})"
        )
    with open_store(cache) as store:
        fp = store.fingerprint
        text, config = inputs.audio_only(store, config, say)
        label_names = list(store.label_names)
        align = inputs.stage1_run(cache, fp, align_run, root, say)
        fold = inputs.select_folds(align, config.folds)[0]
        units, record, ref = cross_folds(store, config.test_cache, align, fold, text, say, config.reference)
    methods = ev.methods_of(config)
    generators, trained = None, False
    if ev.needs_generators(config):
        generators, trained = inputs.stage2_run(
            cache, fp, config.gan, align, [fold], gan_run, root, echo=say, progress=progress
        )
    upstream = {"align": align.key, "gan": generators.key if generators is not None else ""}
    key = ev.augment_key(fp, config, align.key, upstream["gan"])
    seeds = config.seed_list()
    loader = inputs.generator_loader(generators, fold) if generators is not None else None
    with thread_limit(config.threads):
        run = ev.begin_augment_run(cache, key, run_dir, fp, config, upstream, root, say)
        if run.complete:
            return run.result(reused=True)
        for unit in units:
            for seed in seeds:
                if not run.has_fold(job_name(unit.name, seed)):
                    job = run_job(unit, seed, methods, config, loader, None, tsne=False)
                    if ref is not None:  # first, as in-corpus
                        job["runs"].insert(0, score(unit.name, seed, "reference", 0.0, ref.scores()[unit.name]))
                    run.write_fold(job_name(unit.name, seed), {}, job)
        jobs = [run.read_fold(job_name(u.name, s))[1] for u in units for s in seeds]
    record["reference"] = reference_record(jobs)
    head = {
        "config": config,
        "cache": str(cache),
        "label_names": label_names,
        "folds": [u.name for u in units],
        "seeds": seeds,
        "align_run": {"path": str(align.path), "key": align.key},
        "gan_run": inputs.gan_run_record(generators, trained),
        "noalign_run": None,
        "cross_corpus": record,
    }
    results = assemble(head, jobs)
    write_results(run.path, results)
    from misgan.report.build import build_report

    build_report(run.path)
    return run.finish({"summary": results["summary"], "gan_run": head["gan_run"], "align_run": head["align_run"]})


def reference_record(jobs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """results.json `cross_corpus.reference`: how the reference row was fitted (None without one)."""
    refs = [r["metrics"] for j in jobs for r in j["runs"] if r["variant"] == "reference"]
    if not refs:
        return None
    m = refs[0]
    return {"c": m["c"], "inner": m["inner"], "train_rows": m["n_train"], "features": "raw audio, both caches"}
