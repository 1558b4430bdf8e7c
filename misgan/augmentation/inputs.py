"""Stage 3's inputs, all read from run folders (the feature cache only supplies text and labels):
the stage-1 run whose folds are evaluated, and the stage-2 run whose generators "ours" samples.

The generators are found BY KEY: `run_key("gan", cache fingerprint, config.gan, {"align": align key})` is
exactly the key `misgan gan` gives a run trained with those settings on that stage-1 run, so augment reuses
it, and trains one (through `misgan.gan.run.train_gan`, into the same keyed folder) only when none matches.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from misgan.augmentation.classifier import AugmentError, FoldData
from misgan.run_lookup import find_runs
from misgan.runs import StageRun

# the stage-1 heads, plus the text standardisation stage 2 conditions on when stage 1 stored it
HEAD_KEYS = ("W_y", "b_y", "W_t", "b_t", "text_mean", "text_std")

Echo = Callable[[str], None]


def stage1_run(
    cache: str | Path, fingerprint: str | None, align_run: str | Path | None, runs_root: Path, echo: Echo
) -> StageRun:
    """The given align run folder, or the newest complete align run of this cache (same fingerprint);
    α = β = 0 runs (the ablation's variants) only when no other run exists."""
    from misgan.alignment.run import resolve_align_run

    return resolve_align_run(cache, fingerprint, align_run, echo, runs_root)


def select_folds(run: StageRun, wanted: tuple[str, ...] | list[str]) -> list[str]:
    folds = run.folds()
    if wanted:
        missing = sorted(set(wanted) - set(folds))
        if missing:
            raise AugmentError(f"{run.path}: no stage-1 fold(s) {', '.join(missing)} (has {', '.join(folds)})")
        folds = [f for f in folds if f in wanted]
    if not folds:
        raise AugmentError(f"{run.path}: no stage-1 folds in this align run")
    return folds


def audio_only(store: Any, config: Any, echo: Echo) -> tuple[np.ndarray, Any]:
    """(the cache's text features, the config stage 3 runs with). A cache without text (audio-only corpora)
    gives a (N, 0) text matrix and a generator G(z, c) without L_It (gan use_text False, text_mode "none"),
    said once; multimodal classifiers and the text ablations need text and are refused."""
    if "text" in store.dims:
        return store.read("text"), config
    from misgan.config import replace

    asked = [flag for flag in ("multimodal", "ablation") if getattr(config, flag, False)]
    if asked:
        raise AugmentError(
            f"{store.path}: an audio-only cache (no text features); --{asked[0]} needs text. Run stage 3 unimodal"
        )
    if getattr(config, "text_source", ""):
        raise AugmentError(
            f"{store.path}: an audio-only cache; --text-source needs a generator conditioned on text"
        )
    echo(f"{store.path}: audio-only cache: unimodal stage 3, generator G(z, c) without L_It (use_text False)")
    return np.zeros((store.n_rows, 0), np.float32), replace(config, gan=config.gan.for_text(False))


def load_fold(run: StageRun, name: str, text: np.ndarray, y: np.ndarray, n_classes: int) -> FoldData:
    """One stage-1 fold of `run` over the cache's text and labels (text (N, 0) for an audio-only cache,
    whose stage-1 folds hold no text head: W_t is then (0, Dh))."""
    from misgan.alignment.run import load_fold as read_stage1_fold

    arrays, attrs = read_stage1_fold(run, name)
    h = np.asarray(arrays["h"], dtype=np.float32)
    if len(h) != len(y):
        raise AugmentError(f"{run.path}: fold {name}: h has {len(h)} rows, the cache {len(y)}")
    if text.shape[1] == 0:
        arrays = {"W_t": np.zeros((0, h.shape[1]), np.float32), "b_t": np.zeros(0, np.float32), **arrays}
    return FoldData(
        name=name,
        h=h,
        t=text,
        y=y,
        train_idx=np.asarray(arrays["train_idx"], dtype=np.int64),
        valid_idx=np.asarray(arrays["valid_idx"], dtype=np.int64),
        test_idx=np.asarray(arrays["test_idx"], dtype=np.int64),
        heads={k: np.asarray(arrays[k], dtype=np.float32) for k in HEAD_KEYS if k in arrays},
        n_classes=n_classes,
        attrs=attrs,
    )


def _generator(run: StageRun, fold: str) -> Path:
    from misgan.gan.run import generator_path

    return generator_path(run, fold)


def _has_generators(run: StageRun, folds: list[str]) -> bool:
    return all(run.has_fold(f) and _generator(run, f).is_file() for f in folds)


def stage2_run(
    cache: str | Path,
    fingerprint: str | None,
    gan_config: Any,
    align: StageRun,
    folds: list[str],
    gan_run: str | Path | None,
    root: Path,
    *,
    echo: Echo,
    progress: bool | None,
) -> tuple[StageRun, bool]:
    """(the gan run whose generators "ours" uses, whether this call trained them).

    An explicit `gan_run` folder must hold a generator for every fold. Otherwise the run with the key of
    (cache, `gan_config`, stage-1 run) is used when it has every fold, else trained (or completed) through
    `misgan.gan.run.train_gan` into its keyed folder, where later augments and `misgan gan` find it."""
    if gan_run is not None:
        run = StageRun.open(gan_run)
        if run.kind != "gan":
            raise AugmentError(f"{gan_run}: a {run.kind} run, not a stage-2 (gan) run")
        lacking = [f for f in folds if not _generator(run, f).is_file()]
        if lacking:
            raise AugmentError(
                f"{gan_run}: no generator checkpoint for fold(s) {', '.join(lacking)}; run `misgan gan` for them"
            )
        if run.upstream.get("align") not in (None, align.key):
            echo(f"warning: gan run {gan_run} was trained on another stage-1 run than {align.path}")
        echo(f"generators: gan run {run.path} (given; key {run.key[:12]})")
        return run, False
    from misgan.gan.run import gan_key

    key = gan_key(fingerprint, gan_config, align.key)
    for run in find_runs(cache, "gan", root):
        if run.key == key and _has_generators(run, folds):
            echo(f"generators: gan run {run.path} (found by key {key[:12]}: same cache, stage-1 run, settings)")
            return run, False
    from misgan.config import replace
    from misgan.gan import run as gan_stage
    from misgan.runs import default_run_dir

    where = default_run_dir(cache, "gan", key, root)
    echo(f"generators: no gan run matches key {key[:12]} (cache, stage-1 run, settings); training into {where}")
    cfg = replace(gan_config, folds=tuple(folds)) if hasattr(gan_config, "folds") else gan_config
    result = gan_stage.train_gan(cache, cfg, where, align_run=align.path, progress=progress, echo=echo)
    run = StageRun.open(result.run_dir)
    if not _has_generators(run, folds):
        raise AugmentError(f"{run.path}: train_gan finished without a generator for every fold of {folds}")
    return run, True


def generator_loader(run: StageRun, fold: str) -> Callable[[str], Any]:
    """The augmenters' loader: the fold's generator of `run` for "ours" (None for other methods)."""
    from misgan.gan import train as gan

    def load(method: str) -> Any:
        return gan.load_generator(_generator(run, fold)) if method == "ours" else None

    return load


def gan_run_record(run: StageRun | None, trained: bool) -> dict[str, Any] | None:
    """What results.json (and the report's "GAN settings" line) says about the generators used."""
    if run is None:
        return None
    return {"path": str(run.path), "key": run.key, "config": run.config, "trained": trained}
