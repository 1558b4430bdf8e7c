"""results.json of a stage-3 run: one record per (fold, seed, variant, ratio) score, assembled from the
per-job records kept in the run folder (so a resumed run's results equal an uninterrupted one's).

Every record in results["runs"] is {"fold", "seed", "variant", "ratio", "metrics"};
`misgan.augmentation.summary.summarise` turns them into the tables (mean ± std over folds of the seed-averaged
fold score, Wilcoxon and bootstrap against the matching no-augmentation run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from misgan.io import to_jsonable, write_json

ABLATION_TITLES = {
    "full": "Full model",
    "noalign": "Without cross-modal alignment",
    "noalign_notext": "Without cross-modal alignment & text embedding",
    "noalign_nomi": "Without cross-modal alignment & mutual information maximization",
    "noalign_noaug": "Without cross-modal alignment & data augmentation",
}
METHOD_TITLES = {
    "none": "No augmentation",
    "noise": "Gaussian noise",
    "mixup": "Mixup",
    "smote": "SMOTE",
    "cgauss": "Class-conditional Gaussian",
    "cgan": "Label-conditional GAN (no MI, no text)",
    "ours": "Ours (MI-regularised InfoGAN)",
    "reference": "Logistic regression, same features and folds",
}


def method_title(variant: str) -> str:
    """A variant's row title; "<m>-gated" is m's title marked as validation-gated."""
    if variant.endswith("-gated"):
        return f"{METHOD_TITLES.get(variant[:-6], variant[:-6])}, validation-gated"
    return METHOD_TITLES.get(variant, variant)


def record(
    fold: str,
    seed: int,
    variant: str,
    ratio: float,
    metrics: dict[str, Any],
    *,
    fraction: float = 1.0,
    gate: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One score: `fraction` is the share of training rows (low-resource protocol), `gate` a gated method's
    decision (misgan.augmentation.gating)."""
    out = {
        "fold": fold,
        "seed": seed,
        "variant": variant,
        "ratio": ratio,
        "fraction": fraction,
        "metrics": metrics,
    }
    if gate is not None:
        out["gate"] = gate
    return out


def job_name(fold: str, seed: int) -> str:
    """The name a finished (fold, seed) job is kept under in the run folder."""
    return f"{fold}.seed{seed}"


def assemble(head: dict[str, Any], jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """results.json from its header and the jobs' records, in job order (folds, then seeds)."""
    from misgan.augmentation.summary import summarise

    results: dict[str, Any] = {
        **head,
        "runs": [],
        "multimodal": [],
        "stage1_baseline": {},
        "class_counts": {},
        "gan_history": {},
        "timing": {},
        "gates": [],
        "weak_generators": [],
        "fits": {},
    }
    for job in jobs:
        results["gates"].extend(job.get("gates") or [])
        results["weak_generators"].extend(job.get("weak_generators") or [])
        for method, n in (job.get("fits") or {}).items():
            results["fits"][method] = results["fits"].get(method, 0) + n
        fold = job["fold"]
        results["runs"].extend(job["runs"])
        results["multimodal"].extend(job.get("multimodal") or [])
        results["stage1_baseline"].setdefault(fold, job.get("stage1_baseline"))
        results["class_counts"].setdefault(fold, job["class_counts"])
        if job.get("gan_history") is not None:
            results["gan_history"].setdefault(fold, job["gan_history"])
        if job.get("tsne") and "tsne" not in results:
            results["tsne"] = job["tsne"]
        for method, seconds in (job.get("timing") or {}).items():
            results["timing"][method] = results["timing"].get(method, 0.0) + seconds
    results["timing"]["total_s"] = sum(float(j.get("seconds", 0.0)) for j in jobs)
    results = to_jsonable(results)  # the summary is computed from exactly what is written
    results["summary"] = summarise(results)
    return results


def fold_line(job: dict[str, Any], main_ratio: float, seeds: int) -> list[str]:
    """Plain lines per finished job (one per training fraction): fold, UAR (%) per method, seconds; gated
    methods say what the gate chose; a weak generator used for augmentation is named."""
    seed = f" seed {job['seed']}" if seeds > 1 else ""
    fractions = sorted({float(r.get("fraction", 1.0)) for r in job["runs"]})
    lines = []
    for f in fractions:
        scores = []
        for r in job["runs"]:
            if float(r.get("fraction", 1.0)) != f or (
                r["variant"] == "ours" and not np.isclose(r["ratio"], main_ratio)
            ):
                continue
            name = "LR reference" if r["variant"] == "reference" else r["variant"]
            gate = r.get("gate")
            chose = ""
            if gate is not None:
                chose = f" [r={gate['ratio']:g} w={gate['weight']:g}]" if gate["augmented"] else " [fell back]"
            scores.append(f"{name} {100 * r['metrics']['uar']:.2f}{chose}")
        frac = f" {100 * f:g}% rows" if len(fractions) > 1 or f < 1 else ""
        lines.append(f"fold {job['fold']}{seed}{frac}: UAR % {', '.join(scores)} ({job['seconds']:.1f} s)")
    for w in job.get("weak_generators") or []:
        if w["augmented"]:
            lines.append(
                f"warning: fold {w['fold']}: {w['method']} augmented with a weak generator: "
                + "; ".join(w["warnings"])
            )
    return lines


def tsne_embedding(view: Any, aug: Any, rows: int, seed: int) -> dict[str, Any]:
    """2-D t-SNE of real training features and as many generated ones (same labels), for Fig. 2."""
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    n = min(len(view.y), rows)
    pick = np.sort(rng.choice(len(view.y), size=n, replace=False))
    real, labels = view.h[pick], view.y[pick]
    fake, _ = aug.sample(labels, seed + 104729)
    x = np.concatenate([real, fake]).astype(np.float64)
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3)))
    coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    return {
        "coords": np.round(coords, 4).tolist(),
        "labels": np.concatenate([labels, labels]).tolist(),
        "source": ["real"] * n + ["generated"] * n,
    }


def write_results(run_dir: str | Path, results: dict[str, Any]) -> Path:
    return write_json(Path(run_dir) / "results.json", results)
