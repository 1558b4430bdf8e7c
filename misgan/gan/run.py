"""Stage 2 on a feature cache: one generator per fold, trained on that fold's training rows only.

    result = train_gan("cache/ravdess.zarr", GanConfig(epochs=200))  # -> RunResult, runs/ravdess/gan-<key>

The folds come from a stage-1 (align) run of the same cache (`alignment.run.load_fold`). Each fold's rows
reach the GAN through `GuardedRows`, which raises `LeakageError` if a test row is ever requested;
`load_fold_training` also checks that no training speaker is a test speaker. The gan run folder
(misgan.runs: run.json, config.yaml, meta.json, log.jsonl with one record per fold and epoch, summary.json)
holds `folds/<fold>/generator.pt` (misgan.gan.checkpoint.save_generator) and `folds/<fold>/attrs.json` (the
kept epoch's metrics; written last, it marks the fold done). Its key includes the align run's key.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misgan.alignment.run import Echo, FoldLog, load_fold, open_cache, resolve_align_run, say
from misgan.config import to_dict
from misgan.errors import FoldError, StoreError
from misgan.features.store import FeatureStore, open_store, store_from_arrays
from misgan.gan.models import HEAD_KEYS, TEXT_STAT_KEYS
from misgan.gan.train import (
    GanConfig,
    GanError,
    conditioning_text,
    fit_gan,
    generate,
    load_generator,
    save_generator,
)
from misgan.parallel import barrier, dist, is_main, map_folds
from misgan.runs import RUNS_ROOT, RunResult, StageRun, begin_run, run_key
from misgan.runtime import collect_warnings, resolve_threads, thread_limit


class LeakageError(FoldError):
    """A test row (of a test speaker) was requested while training a generator."""


class GuardedRows:
    """Row access to one fold's data that refuses any test row.

    `sources` maps a name to an array (indexed by row) or to a function rows -> array (read lazily,
    e.g. `store.read("text", rows)`). Every request is checked against `test_idx` before anything is read."""

    def __init__(
        self,
        sources: dict[str, np.ndarray | Callable[[np.ndarray], np.ndarray]],
        test_idx: np.ndarray,
        where: str,
    ) -> None:
        self._sources = sources
        self._test = np.asarray(test_idx, np.int64)
        self._where = where
        self.requested: set[int] = set()  # every row handed out (tests assert it avoids the test rows)

    def take(self, name: str, rows: np.ndarray) -> np.ndarray:
        rows = np.asarray(rows, np.int64)
        bad = np.intersect1d(rows, self._test)
        if len(bad):
            raise LeakageError(
                f"{self._where}: {len(bad)} test row(s) requested from {name!r} (e.g. row {int(bad[0])}); "
                "the generator may only see the fold's training speakers"
            )
        self.requested.update(rows.tolist())
        src = self._sources[name]
        return np.asarray(src(rows) if callable(src) else src[rows])


@dataclass
class FoldTraining:
    """What stage 2 may see of one fold: training rows, validation rows (training speakers), the heads."""

    name: str
    h: np.ndarray
    y: np.ndarray
    t: np.ndarray | None
    valid: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None
    heads: dict[str, np.ndarray]  # W_y, b_y, W_t, b_t (+ text_mean, text_std when stage 1 stored them)
    label_names: list[str]
    train_idx: np.ndarray
    guard: GuardedRows


def load_fold_training(store: FeatureStore, align_run: StageRun, fold: str, use_text: bool = True) -> FoldTraining:
    """Read one stage-1 fold and its training (and validation) rows through a `GuardedRows`."""
    where = f"{align_run.path}: fold {fold}"
    arrays, attrs = load_fold(align_run, fold)
    train, valid, test = (np.asarray(arrays[k], np.int64) for k in ("train_idx", "valid_idx", "test_idx"))
    if len(arrays["h"]) != store.n_rows:
        raise StoreError(f"{where}: h has {len(arrays['h'])} rows, {store.path} has {store.n_rows}")
    speakers = store.meta()["speaker"].astype(str).to_numpy()
    test_speakers = set(speakers[test]) | {str(s) for s in attrs.get("test_speakers", [])}
    both = sorted(set(speakers[np.concatenate([train, valid])]) & test_speakers)
    if both or len(np.intersect1d(np.concatenate([train, valid]), test)):
        raise LeakageError(f"{where}: training and test rows share speaker(s) {', '.join(both[:5]) or '?'}")
    has_text = "text" in store.dims
    if use_text and not has_text:
        raise StoreError(f"{where}: the cache has no text features; train with --no-text")
    sources: dict[str, Any] = {"h": arrays["h"], "y": store.labels}
    if has_text:
        sources["t"] = lambda rows: store.read("text", rows)
    guard = GuardedRows(sources, test, where)

    def part(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        t = guard.take("t", rows) if (use_text and has_text) else None
        return guard.take("h", rows).astype(np.float32), guard.take("y", rows).astype(np.int64), t

    h, y, t = part(train)
    heads = {k: np.asarray(arrays[k], np.float32) for k in (*HEAD_KEYS, *TEXT_STAT_KEYS) if k in arrays}
    if "W_t" not in heads:  # an audio-only stage 1 has no text head: an empty one (G(z, c) never uses it)
        heads |= {"W_t": np.zeros((0, heads["W_y"].shape[1]), np.float32), "b_t": np.zeros(0, np.float32)}
    return FoldTraining(fold, h, y, t, part(valid) if len(valid) else None, heads, store.label_names, train, guard)


def generator_path(run: StageRun | str | Path, fold: str) -> Path:
    """Where a gan run keeps the generator of `fold` (present once the fold is done: `run.has_fold`)."""
    run = run if isinstance(run, StageRun) else StageRun.open(run)
    return run.fold_dir(fold) / "generator.pt"


def train_fold(
    store: FeatureStore,
    align_run: StageRun,
    fold: str,
    config: GanConfig,
    run: StageRun,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Train one generator, save it to `generator_path(run, fold)`; return the fold's summary."""
    data = load_fold_training(store, align_run, fold, config.use_text)
    result = fit_gan(
        data.h,
        data.y,
        data.t,
        data.heads,
        config,
        log=FoldLog(run, fold),
        valid=data.valid,
        progress=progress,
        desc=f"gan {fold}",
    )
    extra = {
        "cache": str(store.path),
        "cache_fingerprint": store.fingerprint,
        "align_run": str(align_run.path),
        "align_key": align_run.key,
        "n_train": len(data.h),
    }
    save_generator(generator_path(run, fold), result, label_names=data.label_names, fold=fold, extra=extra)
    return {
        "fold": fold,
        "best_epoch": result.best_epoch,
        "epochs_run": len(result.history),
        "stopped": result.stopped,
        **to_dict(result.metrics),
    }


def gan_key(fingerprint: str | None, config: GanConfig, align_key: str) -> str:
    """The key of a stage-2 run of `config` on the stage-1 run with `align_key`: the one recipe that
    `train_gan`, stage 3 (finding generators by key) and `misgan run` share."""
    return run_key("gan", fingerprint, config, {"align": align_key})


def train_gan(
    cache: Any,
    config: GanConfig | None = None,
    run_dir: str | Path | None = None,
    *,
    align_run: str | Path | None = None,
    progress: bool | None = None,
    echo: Echo | None = None,
    runs_root: str | Path = RUNS_ROOT,
) -> RunResult:
    """Stage 2: one generator per fold of a stage-1 run (`align_run`, default the cache's latest complete
    one), in a gan run keyed by the cache, `config` and the align run's key. `config.folds` trains a subset;
    the run completes when every fold of a complete align run has its generator."""
    config = config or GanConfig()
    with open_cache(cache) as store:
        if config.for_text("text" in store.dims) is not config:  # audio-only corpus
            config = config.for_text(False)
            say(echo, f"{store.path}: audio-only cache: the generator is G(z, c) without L_It (use_text False)")
        up = resolve_align_run(store.path, store.fingerprint, align_run, echo, runs_root)
        names = up.folds()
        missing = [f for f in config.folds if f not in names]
        if missing:
            raise FoldError(
                f"{up.path}: no fold {', '.join(map(repr, missing))} in this align run (folds: {', '.join(names)})"
            )
        upstream = {"align": up.key}
        key = gan_key(store.fingerprint, config, up.key)
        jobs = max(1, config.jobs)
        threads = resolve_threads(config.threads, jobs)
        run = begin_run(
            store.path,
            "gan",
            key,
            run_dir,
            cache_fingerprint=store.fingerprint,
            config=config,
            upstream=upstream,
            seed=config.seed,
            threads=threads,
            echo=echo,
            total=len(names),
            root=runs_root,
        )
        if run.complete:
            return run.result(reused=True)
        wanted = [f for f in names if not config.folds or f in config.folds]
        pending = [f for f in wanted if not run.has_fold(f)]  # the others finished before an interruption
        path, here = store.path, (store if jobs == 1 else None)  # worker processes open their own handle

        def one(fold: str) -> tuple[dict[str, Any], float]:
            t0 = time.perf_counter()
            own = here or open_store(path)
            try:
                summary = train_fold(own, up, fold, config, run, progress)
            finally:
                if here is None:
                    own.close()
            return summary, time.perf_counter() - t0

        def done(fold: str, out: tuple[dict[str, Any], float]) -> None:
            summary, seconds = out
            run.write_fold(fold, {}, summary)
            run.log.write({"fold": fold, "event": "fold_done", "seconds": seconds})
            say(echo, fold_line(summary, seconds))

        if pending:
            with thread_limit(threads), collect_warnings(run.log):
                map_folds(one, pending, jobs, threads_per_job=threads, on_result=done)
        barrier()  # every rank's folds are written before rank 0 concludes
    if not is_main():
        return RunResult(run.kind, run.key, run.path, {"complete": False, "rank": dist()[0]}, reused=False)
    return _conclude(run, up, names)


def fold_line(s: dict[str, Any], seconds: float) -> str:
    """One plain line per finished fold: the frozen head's accuracy on generated rows, quality, time."""
    stop = f"  [{s['stopped']}]" if s.get("stopped") else ""
    return (
        f"gan {s['fold']}: consistency {100 * s['consistency']:.1f}%  FD {s['fd']:.2f}  "
        f"best epoch {s['best_epoch']}/{s['epochs_run']}  ({seconds:.1f} s){stop}"
    )


def _conclude(run: StageRun, up: StageRun, names: list[str]) -> RunResult:
    done = set(run.folds())
    per_fold = [run.read_fold(f)[1] for f in names if f in done]
    summary = {"folds": per_fold, "align_run": str(up.path), "align_key": up.key}
    todo = [f for f in names if f not in done]
    if todo or not up.complete:
        # an incomplete align run may still gain folds: this run cannot be complete before it is
        partial = {**summary, "complete": False, "folds_done": sorted(done), "folds_todo": todo}
        return RunResult(run.kind, run.key, run.path, partial, reused=False)
    return run.finish({**summary, "complete": True})


def sample_to_store(
    cache: str | Path,
    generator_path: str | Path,
    n_per_class: int,
    out: str | Path,
    seed: int = 0,
    text_mode: str = "class",
    overwrite: bool = False,
) -> FeatureStore:
    """Write `n_per_class` generated rows of every class into a new store at `out`: ĥ in `audio`, the raw
    conditioning text in `text` (when the generator uses text); attrs mark it `synthetic`."""
    if n_per_class < 1:
        raise GanError(f"--sample must be >= 1 (got {n_per_class})")
    generator, ckpt = load_generator(generator_path)
    fold, names = ckpt.get("fold"), ckpt.get("label_names")
    store = open_store(cache)
    try:
        if fold is None or names is None:
            raise GanError(f"{generator_path}: the checkpoint names no fold or labels; cannot sample from it")
        if list(names) != store.label_names:
            raise GanError(f"{generator_path}: its labels {names} differ from {store.path}'s {store.label_names}")
        data = load_fold_training(store, _align_run_of(ckpt, generator_path), fold, generator.use_text)
    finally:
        store.close()
    labels = np.repeat(np.arange(len(names)), n_per_class)
    rng = np.random.default_rng(seed)
    mode = text_mode if generator.use_text else "none"
    t_cond = conditioning_text(data.t, data.y, labels, mode, rng)
    h_syn = generate(generator, labels, t_cond, seed)
    meta = pd.DataFrame(
        {
            "utt_id": [f"synthetic-{fold}-{names[k]}-{i:06d}" for i, k in enumerate(labels)],
            "label": [names[k] for k in labels],
            "speaker": "synthetic",
            "session": "",
            "gender": "",
            "split": "synthetic",
        }
    )
    attrs = {
        "synthetic": True,
        "space": "stage-1 aligned features h (the audio array holds ĥ)",
        "source_cache": str(cache),
        "fold": fold,
        "generator": str(generator_path),
        "seed": seed,
        "text_mode": mode,
        "n_per_class": n_per_class,
    }
    return store_from_arrays(out, meta, h_syn, t_cond, list(names), attrs, overwrite=overwrite)


def _align_run_of(ckpt: dict[str, Any], generator: str | Path) -> StageRun:
    """The align run a generator was trained on: named in its checkpoint, else its gan run's upstream key
    (found among the runs of the checkpoint's cache)."""
    from misgan.run_lookup import find_run

    path = ckpt.get("align_run")
    if path and Path(path, "run.json").is_file():
        return StageRun.open(path)
    key, cache = ckpt.get("align_key"), ckpt.get("cache")
    found = find_run(cache, "align", key) if (key and cache) else None
    if found is None:
        raise GanError(f"{generator}: its stage-1 run ({path or '?'}) is gone; cannot find the fold's rows")
    return found
