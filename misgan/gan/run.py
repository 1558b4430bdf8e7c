"""Stage 2 on a feature cache: one generator per fold, trained on that fold's training rows only.

    result = train_gan("cache/ravdess.zarr", GanConfig(epochs=200))  # -> RunResult, runs/ravdess/gan-<key>

The folds come from a stage-1 (align) run of the same cache (`alignment.run.load_fold`). Each fold's rows
reach the GAN through `misgan.gan.fold_rows.GuardedRows`, which raises `LeakageError` if a test row is ever
requested; `load_fold_training` also checks that no training speaker is a test speaker. The gan run folder
(misgan.runs: run.json, config.yaml, meta.json, log.jsonl with one record per fold and epoch, summary.json)
holds `folds/<fold>/generator.pt` (misgan.gan.checkpoint.save_generator) and `folds/<fold>/attrs.json` (the
kept epoch's metrics; written last, it marks the fold done). Its key includes the align run's key.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from misgan.alignment.run import Echo, FoldLog, open_cache, resolve_align_run, say
from misgan.config import to_dict
from misgan.errors import FoldError
from misgan.features.store import FeatureStore, open_store
from misgan.gan.config import GanConfig
from misgan.parallel import barrier, dist, is_main, map_folds
from misgan.runs import RUNS_ROOT, RunResult, StageRun, begin_run, run_key
from misgan.runtime import collect_warnings, resolve_threads, thread_limit


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
    # torch comes in here, not at import: a no-op rerun (the run found by key) never loads it
    from misgan.gan.checkpoint import save_generator
    from misgan.gan.fold_rows import load_fold_training
    from misgan.gan.train import fit_gan

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
        return run.leave_open({**summary, "folds_done": sorted(done), "folds_todo": todo})
    return run.finish({**summary, "complete": True})
