"""Stage 1 on a feature cache: every fold of a protocol through `adapter.train_fold`, results written
per fold (docs/stage1.md), and the summary (mean ± std over folds)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from misgan import metrics
from misgan.alignment.adapter import AlignConfig, AlignResult, train_fold
from misgan.config import to_dict
from misgan.data.folds import Fold
from misgan.errors import MisganError


def run_align(
    store: Any,
    config: AlignConfig,
    protocol: str = "loso-speaker",
    *,
    fold_file: str | Path | None = None,
    k: int = 5,
    only: list[str] | None = None,
    run_dir: str | Path | None = None,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Train every fold of `protocol` on `store`, write `folds/<fold>/` and return the summary
    (per-fold baseline and retrieval, mean ± std). `only` restricts to the named folds."""
    from misgan.data.folds import make_folds, select_folds
    from misgan.runs import JsonlLog

    meta = store.meta()
    y = store.labels
    if "text" not in store.dims:
        raise MisganError(f"{store.path}: stage 1 needs text features; this cache holds only {list(store.dims)}")
    audio, text = store.read("audio"), store.read("text")
    folds = select_folds(make_folds(meta, protocol, k=k, seed=config.seed, file=fold_file), only, f"{store.path}")
    log = JsonlLog(Path(run_dir) / "log.jsonl") if run_dir is not None else None
    spk = meta["speaker"].astype(str).to_numpy()
    per_fold = []
    for fold in folds:
        result = train_fold(audio, text, y, fold, config, len(store.label_names), log=log, progress=progress)
        write_result(store, fold, result, config, spk, protocol)
        per_fold.append({"fold": fold.name, **_scores(result), "best_epoch": result.best_epoch})
        if log is not None:
            log.write({"fold": fold.name, "event": "fold_done", **per_fold[-1]})
    summary = summarise(per_fold)
    summary.update(protocol=protocol, cache=str(store.path), config=to_dict(config))
    if run_dir is not None:
        _write_json(Path(run_dir) / "summary.json", summary)
    return summary


def write_result(
    store: Any,
    fold: Fold,
    result: AlignResult,
    config: Any,
    spk: np.ndarray,
    protocol: str,
    mode: str = "adapter",
) -> None:
    """Fold group per docs/design.md, plus the standardisation and adapter weights (to recompute h)."""
    arrays = {
        "h": result.h,
        **result.heads,
        "train_idx": fold.train.astype(np.int64),
        "valid_idx": fold.valid.astype(np.int64),
        "test_idx": fold.test.astype(np.int64),
        **result.extras,
    }
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
        "text_space": "raw",  # W_t·h + b_t predicts store.read("text") as stored
        "fingerprint": fold_fingerprint(store.fingerprint, config, fold),
    }
    store.write_fold(fold.name, arrays, attrs)


def fold_fingerprint(store_fp: str | None, config: Any, fold: Fold) -> str:
    """sha256 of what determines a fold's stage-1 output: the cache, the config and the fold's rows."""
    digest = hashlib.sha256()
    digest.update(
        json.dumps({"store": store_fp, "config": to_dict(config), "fold": fold.name}, sort_keys=True).encode()
    )
    for rows in (fold.train, fold.valid, fold.test):
        digest.update(np.asarray(rows, dtype=np.int64).tobytes() + b"|")
    return digest.hexdigest()


def _scores(result: AlignResult) -> dict[str, float]:
    return {**{k: float(result.baseline[k]) for k in ("uar", "wa", "macro_f1")}, **result.retrieval}


def summarise(per_fold: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample std over folds of every numeric score."""
    keys = [k for k, v in per_fold[0].items() if isinstance(v, float)]
    stats = {k: dict(zip(("mean", "std"), metrics.mean_std([f[k] for f in per_fold]), strict=True)) for k in keys}
    return {"folds": per_fold, "mean_std": stats}


def format_summary(summary: dict[str, Any]) -> str:
    s = summary["mean_std"]
    lines = [f"{len(summary['folds'])} folds ({summary.get('protocol', '')}), W_y on h, test speakers:"]
    lines += [f"  {k:<9} {s[k]['mean']:.3f} ± {s[k]['std']:.3f}" for k in ("uar", "wa", "macro_f1")]
    lines.append("  text -> audio retrieval, top-1 (chance):")
    for space in ("wt", "shared"):
        for kind in ("text", "exact"):
            key = f"{space}_{kind}_r@1"
            if key in s:
                chance = s[f"{space}_{kind}_chance@1"]["mean"]
                lines.append(f"    {space:<6} {kind:<5} {s[key]['mean']:.3f} ± {s[key]['std']:.3f} ({chance:.3f})")
    return "\n".join(lines)


def _write_json(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, default=float) + "\n")
    tmp.replace(path)
