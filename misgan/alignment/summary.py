"""A stage-1 run's summary: each fold's scores (`fold_attrs_scores`), mean ± std over folds (`summarise`), the
run finished or reported partial (`conclude`), and the printed table (`format_summary`).
"""

from __future__ import annotations

from typing import Any

from misgan import metrics
from misgan.runs import RunResult, StageRun


def conclude(run: StageRun, names: list[str], extra: dict[str, Any]) -> RunResult:
    """Finish the run when every fold in `names` is done; else a result that says which folds are."""
    done = set(run.folds())
    per_fold = [{"fold": f, **fold_attrs_scores(run.read_fold(f)[1])} for f in names if f in done]
    summary = {**(summarise(per_fold) if per_fold else {"folds": []}), **extra}
    todo = [f for f in names if f not in done]
    if todo:
        return run.leave_open({**summary, "folds_done": [f["fold"] for f in per_fold], "folds_todo": todo})
    return run.finish({**summary, "complete": True})


def fold_attrs_scores(attrs: dict[str, Any]) -> dict[str, Any]:
    base = attrs.get("baseline") or {}
    scores = {k: float(base[k]) for k in ("uar", "wa", "macro_f1") if k in base}
    scores.update({k: float(v) for k, v in (attrs.get("retrieval") or {}).items() if v is not None})
    ref = attrs.get("reference") or {}
    scores.update({f"reference_{k}": float(ref[k]) for k in ("uar", "wa", "macro_f1") if k in ref})
    return {**scores, "best_epoch": attrs.get("best_epoch")}


def summarise(per_fold: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean and sample std over folds of every numeric score."""
    keys = [k for k, v in per_fold[0].items() if isinstance(v, float)]
    stats = {k: dict(zip(("mean", "std"), metrics.mean_std([f[k] for f in per_fold]), strict=True)) for k in keys}
    return {"folds": per_fold, "mean_std": stats}


def format_summary(summary: dict[str, Any]) -> str:
    """The stage-1 table (scores in percent): baseline of W_y on the test speakers, retrieval top-1."""
    n, todo = len(summary.get("folds", [])), summary.get("folds_todo") or []
    head = f"{n} folds ({summary.get('protocol', '')})"
    if todo:
        head = f"{n} of {n + len(todo)} folds done ({summary.get('protocol', '')}; to do: {', '.join(todo)})"
    if "mean_std" not in summary:
        return head
    s = summary["mean_std"]
    lines = [f"{head}, W_y on h, test speakers, %:"]
    lines += [f"  {k:<9} {100 * s[k]['mean']:.1f} ± {100 * s[k]['std']:.1f}" for k in ("uar", "wa", "macro_f1")]
    if "reference_uar" in s:  # misgan.reference, scored on the same folds in the same run
        ref = s["reference_uar"]
        delta = 100 * (s["uar"]["mean"] - ref["mean"])
        lines.append(
            f"  logistic regression, same features and folds: UAR {100 * ref['mean']:.1f} ± {100 * ref['std']:.1f}"
            f"  (W_y {delta:+.1f})"
        )
    if not any(k.startswith(("wt_", "shared_")) for k in s):
        return "\n".join(lines)  # audio-only cache: no text head, nothing to retrieve
    lines.append("  text -> audio retrieval, top-1 % (chance):")
    for space in ("wt", "shared"):
        for kind in ("text", "exact"):
            key = f"{space}_{kind}_r@1"
            if key in s:
                chance = 100 * s[f"{space}_{kind}_chance@1"]["mean"]
                mean, std = 100 * s[key]["mean"], 100 * s[key]["std"]
                lines.append(f"    {space:<6} {kind:<5} {mean:.1f} ± {std:.1f} ({chance:.1f})")
    return "\n".join(lines)
