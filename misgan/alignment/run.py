"""Stage 1 on a feature cache: every fold of the protocol through `adapter.train_fold`, each fold written
to the align run folder as soon as it is done (docs/stage1.md). The cache itself is only read.

    result = align("cache/ravdess.zarr", AlignConfig(h_dim=128))  # -> RunResult, run_dir runs/ravdess/align-<key>

The run's key is `run_key("align", cache fingerprint, config)` (`misgan.runs`): the same cache and
settings reuse the complete run, an interrupted run resumes with the folds it has not finished, and
`config.folds` trains a subset (the run completes once every fold of the protocol is there).
Stages 2 and 3 read a fold back with `load_fold(run, fold)`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from misgan.alignment.adapter import AlignResult, train_fold
from misgan.alignment.config import AlignConfig
from misgan.alignment.summary import conclude, fold_attrs_scores
from misgan.config import to_dict
from misgan.data.folds import Fold
from misgan.errors import MisganError
from misgan.io import file_sha256, fingerprint, read_json, write_json
from misgan.parallel import barrier, dist, is_main, map_folds
from misgan.run_lookup import find_run, find_runs
from misgan.runs import RUNS_ROOT, RunError, RunResult, StageRun, begin_run, cache_stem, run_key
from misgan.runtime import collect_warnings, resolve_threads, thread_limit

# the arrays every fold holds (docs/design.md "Fold groups"); extras: audio/text standardisation, adapter.*
FOLD_ARRAYS = ("h", "W_y", "b_y", "W_t", "b_t", "train_idx", "valid_idx", "test_idx")
Echo = Callable[[str], Any]


def align(
    cache: Any,
    config: AlignConfig | None = None,
    run_dir: str | Path | None = None,
    *,
    progress: bool | None = None,
    echo: Echo | None = None,
    runs_root: str | Path = RUNS_ROOT,
) -> RunResult:
    """Stage 1 (adapter mode) on every fold of `config.protocol` (or `config.folds`) of `cache` (a path or
    an open FeatureStore). `echo(line)` gets one plain line per finished fold. The run folder is `run_dir`,
    or `runs_root/<cache stem>/align-<key>`."""
    config = config or AlignConfig()
    with open_cache(cache) as store:
        has_text = "text" in store.dims
        if not has_text:  # audio only: stage 1 is L_SER alone (adapter.train_fold), said once here
            say(echo, f"{store.path}: no text features; stage 1 trains without the alignment terms (α = β = 0)")
        data: dict[str, Any] = {}
        n_classes = len(store.label_names)

        def prepare() -> None:  # read once, and only when a fold is trained (a reused run reads nothing)
            text = store.read("text") if has_text else None
            spk = store.meta()["speaker"].astype(str).to_numpy()
            data.update(audio=store.read("audio"), text=text, y=store.labels, spk=spk)

        def train(fold: Fold, run: StageRun) -> AlignResult:
            # no store in here: with --jobs this closure (and the arrays) travels to worker processes
            log = FoldLog(run, fold.name)
            args = (data["audio"], data["text"], data["y"], fold, config, n_classes, log, progress)
            return train_fold(*args, groups=data["spk"])

        return run_stage1(store, config, config, train, run_dir, echo=echo, runs_root=runs_root, prepare=prepare)


@contextlib.contextmanager
def open_cache(cache: Any) -> Iterator[Any]:
    """An open FeatureStore passes through (the caller closes it); a path is opened and closed here."""
    from misgan.features.store import open_store

    if hasattr(cache, "read") and hasattr(cache, "fingerprint"):
        yield cache
        return
    store = open_store(cache)
    try:
        yield store
    finally:
        store.close()


class FoldLog:
    """The run's JSON-lines log with the fold name added to every record."""

    def __init__(self, run: StageRun, fold: str) -> None:
        self.log, self.fold = run.log, fold

    def write(self, record: dict[str, Any]) -> None:
        self.log.write({"fold": self.fold, **record})


FOLD_NAMES = "fold_names.json"  # the protocol's folds, so a --fold rerun need not make them again


def _open_subset(cache: Any, key: str, wanted: tuple[str, ...], root: str | Path) -> tuple[Path, list[str]] | None:
    """(path, protocol fold names) of the open run with `key` when it already holds every fold in `wanted`."""
    if not wanted:
        return None
    for run in find_runs(cache, "align", root):
        named = run.key == key and not run.complete and (run.path / FOLD_NAMES).is_file()
        if named and set(wanted) <= set(run.folds()):
            return run.path, list(read_json(run.path / FOLD_NAMES))
    return None


def run_stage1(
    store: Any,
    config: AlignConfig,
    run_config: Any,
    train: Callable[[Fold, StageRun], AlignResult],
    run_dir: str | Path | None,
    *,
    echo: Echo | None = None,
    mode: str = "adapter",
    runs_root: str | Path = RUNS_ROOT,
    prepare: Callable[[], None] | None = None,
    jobs: int | None = None,
) -> RunResult:
    """The fold loop shared by adapter mode and fine-tuning: key, reuse, per-fold resume, completion.
    `run_config` is what the key and the fold attrs record (the AlignConfig, or align + finetune).
    `prepare()` runs once before the first fold is trained (never for a reused run). Folds run through
    `map_folds` with `jobs` (default `config.jobs`) processes, or split across torchrun ranks; each
    finished fold is written at once, so an interrupted run resumes with the folds it lacks."""
    from misgan.data.folds import make_folds, select_folds

    meta = store.meta()
    upstream = _upstream(config)
    key = align_key(store.fingerprint, config, run_config)
    jobs = max(1, config.jobs if jobs is None else jobs)
    threads = resolve_threads(config.threads, jobs)
    where = dict(cache_fingerprint=store.fingerprint, config=run_config, upstream=upstream, seed=config.seed,
                 threads=threads, echo=echo, root=runs_root)  # fmt: skip
    protocol = config.protocol
    extra = {"protocol": protocol, "cache": str(store.path), "mode": mode}
    # a no-op rerun returns before the folds are made: make_folds imports scikit-learn, most of its time
    reusable = find_run(store.path, "align", key, runs_root) if run_dir is None else None
    if reusable is not None and set(config.folds) <= set(reusable.folds()):  # else select_folds names it
        return begin_run(store.path, "align", key, None, **where).result(reused=True)
    names = _open_subset(store.path, key, config.folds, runs_root) if run_dir is None else None
    if names is not None:  # an open run that already holds every fold this --fold call asks for
        say(echo, f"align: up to date for these {len(config.folds)} fold(s), run {names[0]}")
        return dataclasses.replace(conclude(StageRun.open(names[0]), names[1], extra), reused=True)
    every = make_folds(meta, protocol, k=config.k, seed=config.seed, file=config.fold_file)
    todo = select_folds(every, list(config.folds), str(store.path))
    run = begin_run(store.path, "align", key, run_dir, total=len(every), **where)
    if run.complete:
        return run.result(reused=True)
    if not (run.path / FOLD_NAMES).is_file():
        write_json(run.path / FOLD_NAMES, [f.name for f in every])
    spk = meta["speaker"].astype(str).to_numpy()
    pending = [f for f in todo if not run.has_fold(f.name)]  # the others finished before an interruption

    def one(fold: Fold) -> tuple[dict[str, np.ndarray], dict[str, Any], float]:
        t0 = time.perf_counter()
        result = train(fold, run)
        arrays, attrs = fold_record(result, fold, run_config, spk, protocol, mode, key)
        return arrays, attrs, time.perf_counter() - t0

    def done(fold: Fold, out: tuple[dict[str, np.ndarray], dict[str, Any], float]) -> None:
        arrays, attrs, seconds = out
        run.write_fold(fold.name, arrays, attrs)
        run.log.write({"fold": fold.name, "event": "fold_done", **fold_attrs_scores(attrs), "seconds": seconds})
        say(echo, f"align {fold.name}: UAR {100 * attrs['baseline']['uar']:.1f}%  ({seconds:.1f} s)")

    if pending:
        with thread_limit(threads), collect_warnings(run.log):
            if prepare is not None:
                prepare()
            map_folds(one, pending, jobs, threads_per_job=threads, on_result=done)
    barrier()  # every rank's folds are written before rank 0 concludes
    if not is_main():
        return RunResult(run.kind, run.key, run.path, {"complete": False, "rank": dist()[0]}, reused=False)
    return conclude(run, [f.name for f in every], extra)


def fold_record(
    result: AlignResult, fold: Fold, config: Any, spk: np.ndarray, protocol: str, mode: str, key: str
) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """A fold's arrays and attrs per docs/design.md ("Fold groups"), plus the standardisation and adapter
    weights (to recompute h)."""
    parts = (fold.train, fold.valid, fold.test)
    rows = {k: np.asarray(r, np.int64) for k, r in zip(FOLD_ARRAYS[5:], parts, strict=True)}
    arrays = {"h": result.h, **result.heads, **rows, **result.extras}
    attrs = {
        "train_speakers": fold.speakers(spk, "train"),
        "valid_speakers": fold.speakers(spk, "valid"),
        "test_speakers": fold.speakers(spk, "test"),
        "config": to_dict(config),
        "mode": mode,
        "protocol": protocol,
        "baseline": {k: result.baseline[k] for k in ("uar", "wa", "macro_f1", "confusion")},
        "retrieval": result.retrieval,
        "best_epoch": result.best_epoch,
        # W_t·h + b_t predicts store.read("text") as stored; None: audio-only cache, no W_t
        "text_space": "raw" if "W_t" in result.heads else None,
        "selection": getattr(result, "selection", {}),  # full batch: chosen C, inner-CV UAR per C
        "reference": getattr(result, "reference", {}),  # logistic regression on the raw audio features
        "fingerprint": fingerprint({"align_key": key, "fold": fold.name, **rows}),
    }
    return arrays, attrs


def load_fold(run: StageRun | str | Path, fold: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """One finished fold of an align run: (arrays, attrs) as `fold_record` wrote them."""
    run = run if isinstance(run, StageRun) else StageRun.open(run)
    if run.kind != "align":
        raise RunError(f"{run.path}: a {run.kind} run, not a stage-1 (align) run")
    arrays, attrs = run.read_fold(fold)
    optional = ("W_t", "b_t") if attrs.get("text_space", "raw") is None else ()  # audio-only cache
    missing = [k for k in FOLD_ARRAYS if k not in arrays and k not in optional]
    if missing:
        raise RunError(f"{run.fold_dir(fold)}: fold {fold} lacks {', '.join(missing)}; re-run `misgan align`")
    return arrays, attrs


def resolve_align_run(
    cache: str | Path,
    fingerprint: str | None,
    align_run: str | Path | None = None,
    echo: Echo | None = None,
    runs_root: str | Path = RUNS_ROOT,
) -> StageRun:
    """The align run a later stage builds on: `align_run` (a run folder), or the latest complete align run
    of the cache (said through `echo`). It must have been made from this very cache (same fingerprint)."""
    if align_run is None:
        run = default_align_run(cache, fingerprint, runs_root)
        if run is None:
            partial = [
                r
                for r in find_runs(cache, "align", runs_root)
                if not r.complete and r.folds() and r.record.get("cache_fingerprint") == fingerprint
            ]
            hint = (
                f"; or use the partial run {partial[-1].path} (folds {', '.join(partial[-1].folds()[:4])}"
                f"{', ...' if len(partial[-1].folds()) > 4 else ''}) with --align-run {partial[-1].path}"
                if partial
                else ""
            )
            raise RunError(
                f"{cache}: no complete stage-1 run of this cache under {Path(runs_root) / cache_stem(cache)} "
                f"(no stage-1 folds); run misgan align first: misgan align --cache {cache}{hint}"
            )
        say(echo, f"using align run {run.path} (key {run.key[:12]})")
    else:
        run = StageRun.open(align_run)
        if run.kind != "align":
            raise RunError(f"{align_run}: a {run.kind} run, not a stage-1 (align) run")
    made_from = run.record.get("cache_fingerprint")
    if made_from != fingerprint:
        raise RunError(
            f"{run.path}: made from another cache (fingerprint {str(made_from)[:12]}, "
            f"{cache} has {str(fingerprint)[:12]}); re-run `misgan align --cache {cache}`"
        )
    if not run.folds():
        raise RunError(f"{run.path}: no finished fold in this align run; run misgan align first")
    return run


def default_align_run(
    cache: str | Path, fingerprint: str | None, runs_root: str | Path = RUNS_ROOT
) -> StageRun | None:
    """The newest complete align run of `cache` made from this fingerprint. α = β = 0 runs (the "without
    alignment" variants stage 3's ablation trains) are the default only when there is no other run."""
    runs = find_runs(cache, "align", runs_root)
    done = [r for r in runs if r.complete and r.record.get("cache_fingerprint") == fingerprint]
    full = [r for r in done if not is_noalign(r)] or done
    return full[-1] if full else None


def align_key(fingerprint: str | None, config: AlignConfig, run_config: Any = None) -> str:
    """The key of a stage-1 run of `config` on the cache with this fingerprint (`run_config`: what the run
    records when it is more than the AlignConfig, e.g. align + finetune). The one recipe: `align`,
    `finetune`, stage 3 and `misgan run` all call this."""
    return run_key("align", fingerprint, config if run_config is None else run_config, _upstream(config))


def _upstream(config: AlignConfig) -> dict[str, str] | None:
    return {"fold_file": _fold_file_digest(config.fold_file)} if config.fold_file else None


def is_noalign(run: StageRun) -> bool:
    """Whether an align run was trained with α = β = 0 (adapter mode; a fine-tuning run never is)."""
    cfg = run.config
    return float(cfg.get("alpha", 1.0)) == 0.0 and float(cfg.get("beta", 1.0)) == 0.0


def say(echo: Echo | None, line: str) -> None:
    if echo is not None:
        echo(line)


def _fold_file_digest(path: str | Path) -> str:
    """The fold assignment's content (a file, or an EmoBox folder of files) enters the key, not its name."""
    p = Path(path)
    if p.is_dir():
        return fingerprint({str(f.relative_to(p)): file_sha256(f) for f in sorted(p.rglob("*")) if f.is_file()})
    if not p.is_file():
        raise MisganError(f"{p}: fold file not found")
    return file_sha256(p)
