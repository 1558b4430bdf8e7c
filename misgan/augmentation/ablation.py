"""Table III: the ablation variants of one (fold, seed).

  full             ours on the stage-1 run (copied from the main comparison)
  noalign          stage 1 re-trained with α = β = 0, then ours on it
  noalign_notext   the same without text (GAN use_text=False)
  noalign_nomi     the same without the MI terms (GAN use_mi=False)
  noalign_noaug    the α = β = 0 stage 1 without augmentation

The α = β = 0 stage 1 is an ordinary align run (same AlignConfig otherwise), found or trained BY KEY through
`misgan.alignment.run.align`: nothing is written to the feature cache, and a changed stage-1 config gives
another key, so a variant can never be stale.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from misgan.augmentation.augmenters import make_augmenter
from misgan.augmentation.classifier import AugmentError, FoldData, evaluate_unimodal
from misgan.augmentation.inputs import load_fold
from misgan.augmentation.results import record
from misgan.runs import StageRun

ABLATIONS = ("full", "noalign", "noalign_notext", "noalign_nomi", "noalign_noaug")


def noalign_config(align: StageRun, folds: list[str]) -> Any:
    """The stage-1 run's AlignConfig with α = β = 0, restricted to `folds`."""
    from misgan.alignment.config import AlignConfig
    from misgan.config import build, replace

    settings = align.config
    if isinstance(settings.get("align"), dict):  # a fine-tuning run records {"align": ..., "finetune": ...}
        settings = settings["align"]  # its α=β=0 variant is adapter-mode stage 1, as before
    cfg = build(AlignConfig, settings, f"{align.path}/run.json")
    return replace(cfg, alpha=0.0, beta=0.0, folds=tuple(folds))


def noalign_run(
    cache: str | Path,
    align: StageRun,
    folds: list[str],
    root: Path,
    *,
    echo: Callable[[str], None],
    progress: bool | None,
) -> StageRun:
    """The α = β = 0 align run for `folds`: reused when its key exists with those folds, else trained."""
    from misgan.alignment import run as align_stage
    from misgan.run_lookup import find_runs
    from misgan.runs import default_run_dir

    cfg = noalign_config(align, folds)
    key = align_stage.align_key(align.record.get("cache_fingerprint"), cfg)
    for run in find_runs(cache, "align", root):
        if run.key == key and all(run.has_fold(f) for f in folds):
            echo(f"ablation: α=β=0 stage-1 run {run.path} (found by key {key[:12]})")
            return run
    where = default_run_dir(cache, "align", key, root)
    echo(f"ablation: training the α=β=0 stage-1 run into {where}")
    result = align_stage.align(cache, cfg, where, progress=progress, echo=echo, runs_root=root)
    run = StageRun.open(result.run_dir)
    lacking = [f for f in folds if not run.has_fold(f)]
    if lacking:
        raise AugmentError(f"{run.path}: the α=β=0 stage-1 run lacks fold(s) {', '.join(lacking)}")
    return run


class Ablation:
    """The variants of Table III for every (fold, seed) of one augment call."""

    def __init__(self, noalign: StageRun, config: Any, text: np.ndarray, y: np.ndarray, n_classes: int) -> None:
        self.noalign = noalign
        self.config = config
        self.text, self.y, self.n_classes = text, y, n_classes

    def run(self, fold: FoldData, labels: np.ndarray, seed: int, runs: list[dict[str, Any]]) -> list[dict]:
        """Records of the variants (`runs`: the job's records so far, which hold ours at the main ratio)."""
        from misgan.config import replace

        cfg = self.config
        na = load_fold(self.noalign, fold.name, self.text, self.y, self.n_classes)
        if not (np.array_equal(na.test_idx, fold.test_idx) and np.array_equal(na.train_idx, fold.train_idx)):
            raise AugmentError(f"{self.noalign.path}: fold {fold.name} splits the rows differently from stage 1")
        out = []
        full = [r for r in runs if r["variant"] == "ours" and np.isclose(r["ratio"], cfg.ratio)]
        if full:
            out.append({**full[0], "variant": "ablation:full"})
        view = na.train_view()
        text_mode = "class" if cfg.balance else "paired"
        variants = {
            "noalign": cfg.gan,
            "noalign_notext": replace(cfg.gan, use_text=False, text_mode="none"),
            "noalign_nomi": replace(cfg.gan, use_mi=False),
        }
        for key, gcfg in variants.items():
            aug = make_augmenter("ours", gcfg, text_mode=text_mode)
            aug.fit(view, seed)
            xs, ys = aug.sample(labels, seed)
            m = evaluate_unimodal(na, xs, ys, cfg.classifier, seed=seed)
            out.append(record(fold.name, seed, f"ablation:{key}", cfg.ratio, m))
        m = evaluate_unimodal(na, None, None, cfg.classifier, seed=seed)
        out.append(record(fold.name, seed, "ablation:noalign_noaug", 0.0, m))
        return out
