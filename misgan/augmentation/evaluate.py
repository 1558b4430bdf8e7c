"""Stage 3 driver: augmenters x folds x seeds on a feature cache with stage-1 folds -> results.json.

What runs (AugmentConfig):
  methods   Table II: each augmenter of misgan.augmentation.augmenters, fitted per fold on training rows only;
            the classifier (stage-1 head fine-tuned on h ∪ ĥ) is scored on the test speakers.
  ablation  Table III: full | no alignment (stage 1 re-trained with α=β=0) | no alignment & no text
            (GAN use_text=False) | no alignment & no MI (use_mi=False) | no alignment & no augmentation.
  multimodal Tables IV-V: audio | text | audio+text classifiers, without and with our ĥ, t′.
  ratios    UAR of ours against the synthetic/real ratio.
  balance   generate only for minority classes (up to the majority count), class-sampled text.
Every record in results["runs"] is one (fold, seed, variant) score; `summarise` turns them into
the tables (mean ± std over folds of the seed-averaged fold score, Wilcoxon and bootstrap against
the matching no-augmentation run).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from misgan.augmentation.augmenters import METHODS, balance_labels, make_augmenter, ratio_labels
from misgan.augmentation.classifier import (
    AugmentError,
    ClassifierConfig,
    FoldData,
    evaluate_multimodal,
    evaluate_unimodal,
)
from misgan.augmentation.config import AugmentConfig
from misgan.config import to_dict
from misgan.metrics import summarise

NOALIGN_SUFFIX = "@noalign"
# the stage-1 heads, plus the text standardisation stage 2 conditions on when stage 1 stored it
HEAD_KEYS = ("W_y", "b_y", "W_t", "b_t", "text_mean", "text_std")
ABLATIONS = ("full", "noalign", "noalign_notext", "noalign_nomi", "noalign_noaug")
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
    "cgan": "Label-conditional GAN (no MI, no text)",
    "ours": "Ours (MI-regularised InfoGAN, text-conditioned)",
}


# ---------------------------------------------------------------- loading folds


def stage1_folds(store: Any) -> list[str]:
    """Fold groups written by stage 1 (variants such as '<fold>@noalign' excluded)."""
    return [f for f in store.folds() if "@" not in f]


def load_fold(store: Any, name: str, text: np.ndarray, y: np.ndarray) -> FoldData:
    from misgan.errors import StoreError

    arrays, attrs = store.read_fold(name)
    need = ("h", "W_y", "b_y", "W_t", "b_t", "train_idx", "valid_idx", "test_idx")
    missing = [k for k in need if k not in arrays]
    if missing:
        raise StoreError(f"{store.path}: fold {name} lacks {', '.join(missing)}; re-run `misgan align`")
    h = np.asarray(arrays["h"], dtype=np.float32)
    if len(h) != len(y):
        raise StoreError(f"{store.path}: fold {name}: h has {len(h)} rows, the cache {len(y)}")
    return FoldData(
        name=name,
        h=h,
        t=text,
        y=y,
        train_idx=np.asarray(arrays["train_idx"], dtype=np.int64),
        valid_idx=np.asarray(arrays["valid_idx"], dtype=np.int64),
        test_idx=np.asarray(arrays["test_idx"], dtype=np.int64),
        heads={k: np.asarray(arrays[k], dtype=np.float32) for k in HEAD_KEYS if k in arrays},
        n_classes=len(store.label_names),
        attrs=attrs,
    )


def noalign_fold(store: Any, fold: FoldData, audio: np.ndarray, save: bool, log: Any = None) -> FoldData:
    """The fold re-trained by stage 1 with α = β = 0 (reused from the store when already there)."""
    from misgan.alignment import adapter as align
    from misgan.config import from_dict
    from misgan.data.folds import Fold

    name = fold.name + NOALIGN_SUFFIX
    if name in store.folds():
        arrays, _ = store.read_fold(name)
        heads = {k: np.asarray(arrays[k], dtype=np.float32) for k in HEAD_KEYS if k in arrays}
        return fold.with_features(name, np.asarray(arrays["h"], dtype=np.float32), heads)
    base = fold.attrs.get("config") or {}
    known = set(align.AlignConfig.__dataclass_fields__)
    cfg = from_dict(align.AlignConfig, {k: v for k, v in base.items() if k in known}, f"fold {fold.name} config")
    cfg = align.AlignConfig(**{**to_dict(cfg), "alpha": 0.0, "beta": 0.0})
    f = Fold(fold.name, fold.train_idx, fold.test_idx, fold.valid_idx)
    res = align.train_fold(audio, fold.t, fold.y, f, cfg, n_classes=fold.n_classes, progress=False)
    if log is not None:
        log.write({"event": "noalign", "fold": fold.name, "baseline_uar": res.baseline["uar"]})
    heads = dict(res.heads)
    heads.update({k: res.extras[k] for k in ("text_mean", "text_std") if k in res.extras})
    if save:
        attrs = {**fold.attrs, "config": to_dict(cfg), "baseline": res.baseline, "variant": "noalign"}
        arrays = {
            "h": res.h,
            **heads,
            "train_idx": fold.train_idx,
            "valid_idx": fold.valid_idx,
            "test_idx": fold.test_idx,
        }
        store.write_fold(name, arrays, _jsonable(attrs))
    return fold.with_features(name, res.h, heads)


def _jsonable(obj: Any) -> Any:
    return json.loads(json.dumps(to_dict(obj), default=_np_default))


def _np_default(o: Any) -> Any:
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


# ---------------------------------------------------------------- GAN configs


def gan_config(overrides: dict[str, Any], **switches: Any) -> Any:
    from misgan.config import from_dict
    from misgan.gan import train as gan

    return from_dict(gan.GanConfig, {**overrides, **switches}, "augment gan settings")


def _generator_loader(gan_run: str | None, fold: str) -> Any:
    """Loader of the stage-2 checkpoint of `fold` in run folder `gan_run` (None: train per fold)."""
    if gan_run is None:
        return None
    from misgan.gan import train as gan

    def load(method: str) -> Any:
        if method != "ours":
            return None
        return gan.load_generator(find_checkpoint(Path(gan_run), fold))

    return load


def find_checkpoint(run: Path, fold: str) -> Path:
    """`<run>/<fold>/generator.pt`, the layout `misgan gan` writes (misgan.gan.run)."""
    if not run.is_dir():
        raise AugmentError(f"{run}: stage-2 run folder not found")
    path = run / fold / "generator.pt"
    if not path.is_file():
        raise AugmentError(f"{path}: no generator checkpoint for fold {fold}; run `misgan gan` for it")
    return path


# ---------------------------------------------------------------- the run


def _labels_for(view_y: np.ndarray, n_classes: int, config: AugmentConfig, ratio: float) -> np.ndarray:
    return balance_labels(view_y, n_classes) if config.balance else ratio_labels(view_y, ratio, n_classes)


def _record(fold: str, seed: int, variant: str, ratio: float, metrics: dict[str, Any]) -> dict[str, Any]:
    return {"fold": fold, "seed": seed, "variant": variant, "ratio": ratio, "metrics": metrics}


def run_augment(
    store: Any, config: AugmentConfig, run_dir: str | Path, *, log: Any = None, progress: bool | None = None
) -> dict[str, Any]:
    """Run every requested experiment on every fold and seed; write run_dir/results.json and return it."""
    from tqdm.auto import tqdm

    from misgan.runs import seed_everything

    run_dir = Path(run_dir)
    unknown = [m for m in config.methods if m not in METHODS]
    if unknown:
        raise AugmentError(f"unknown augmenter(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    if "text" not in store.dims:
        raise AugmentError(f"{store.path}: the cache has no text features; stage 3 needs them")
    folds = stage1_folds(store)
    if config.folds:
        missing = sorted(set(config.folds) - set(folds))
        if missing:
            raise AugmentError(f"{store.path}: no stage-1 fold(s) {', '.join(missing)}")
        folds = [f for f in folds if f in config.folds]
    if not folds:
        raise AugmentError(f"{store.path}: no stage-1 folds; run `misgan align --cache {store.path}` first")
    text = store.read("text")
    y = store.labels
    audio = store.read("audio") if config.ablation else None
    methods = list(dict.fromkeys(["none", *config.methods, *(["ours"] if config.multimodal else [])]))
    base_gan = dict(config.gan)
    results: dict[str, Any] = {
        "config": to_dict(config),
        "cache": str(store.path),
        "label_names": store.label_names,
        "folds": folds,
        "seeds": [config.seed + i for i in range(config.seeds)],
        "runs": [],
        "multimodal": [],
        "stage1_baseline": {},
        "class_counts": {},
        "gan_history": {},
        "timing": {},
    }
    started = time.time()
    jobs = [(f, s) for f in folds for s in results["seeds"]]
    bar = tqdm(jobs, desc="augment", disable=None if progress is None else not progress)
    noalign_cache: dict[str, FoldData] = {}
    for fold_name, seed in bar:
        bar.set_postfix(fold=fold_name, seed=seed)
        seed_everything(seed)
        fold = load_fold(store, fold_name, text, y)
        results["stage1_baseline"][fold_name] = fold.attrs.get("baseline")
        view = fold.train_view()
        labels = _labels_for(view.y, fold.n_classes, config, config.ratio)
        if fold_name not in results["class_counts"]:
            before = np.bincount(view.y, minlength=fold.n_classes)
            results["class_counts"][fold_name] = {
                "before": before.tolist(),
                "after": (before + np.bincount(labels, minlength=fold.n_classes)).tolist(),
            }
        ours = None
        for method in methods:
            t0 = time.time()
            aug = _make(method, config, base_gan, fold_name, log)
            aug.fit(view, seed)
            x_syn, y_syn = aug.sample(labels, seed) if method != "none" else (None, None)
            m = evaluate_unimodal(fold, x_syn, y_syn, config.classifier, seed=seed)
            results["runs"].append(_record(fold_name, seed, method, config.ratio, m))
            results["timing"][method] = results["timing"].get(method, 0.0) + time.time() - t0
            if method == "ours":
                ours = (aug, x_syn, y_syn, aug.last_text)  # last_text: before the ratio runs resample
                if fold_name not in results["gan_history"] and aug.history is not None:
                    results["gan_history"][fold_name] = _jsonable(aug.history)
                for r in config.ratios:
                    if config.balance or np.isclose(r, config.ratio):
                        continue  # --balance fixes the counts; the main ratio is already scored
                    lab = _labels_for(view.y, fold.n_classes, config, r)
                    xs, ys = aug.sample(lab, seed + 7919)
                    mr = evaluate_unimodal(fold, xs, ys, config.classifier, seed=seed)
                    results["runs"].append(_record(fold_name, seed, "ours", r, mr))
        if config.tsne and "tsne" not in results and ours is not None:
            results["tsne"] = tsne_embedding(view, ours[0], config, seed)
        if config.multimodal and ours is not None:
            _, x_syn, y_syn, t_syn = ours
            mm_cfg = _mm_config(config)
            for augmented in (False, True):
                cols = evaluate_multimodal(fold, x_syn if augmented else None, y_syn, t_syn, mm_cfg, seed=seed)
                results["multimodal"].append({"fold": fold_name, "seed": seed, "augmented": augmented, **cols})
        if config.ablation:
            _ablation(store, fold, audio, config, base_gan, labels, seed, results, noalign_cache, log)
        if log is not None:
            last = [
                r
                for r in results["runs"]
                if r["fold"] == fold_name
                and r["seed"] == seed
                and (r["variant"] != "ours" or np.isclose(r["ratio"], config.ratio))
            ]
            log.write({"fold": fold_name, "seed": seed, **{r["variant"]: r["metrics"]["uar"] for r in last}})
    bar.close()
    results["timing"]["total_s"] = time.time() - started
    results["summary"] = summarise(results)
    write_results(run_dir, results)
    return results


def _mm_config(config: AugmentConfig) -> ClassifierConfig:
    from dataclasses import replace

    return replace(
        config.classifier,
        hidden=tuple(config.mm_hidden),
        standardize=True,
        max_epochs=config.mm_max_epochs,
        patience=config.mm_patience,
    )


def _make(method: str, config: AugmentConfig, base_gan: dict[str, Any], fold: str, log: Any) -> Any:
    text_mode = "class" if config.balance else "paired"
    if method == "ours":
        return make_augmenter(
            "ours",
            gan_config(base_gan),
            text_mode=text_mode,
            generator_loader=_generator_loader(config.gan_run, fold),
        )
    if method == "cgan":
        cfg = gan_config(base_gan, use_mi=False, use_text=False, text_mode="none")
        return make_augmenter("cgan", cfg, text_mode=text_mode)
    return make_augmenter(method, sigma=config.noise_sigma, alpha=config.mixup_alpha, k_neighbors=config.smote_k)


def _ablation(
    store: Any,
    fold: FoldData,
    audio: np.ndarray | None,
    config: AugmentConfig,
    base_gan: dict[str, Any],
    labels: np.ndarray,
    seed: int,
    results: dict[str, Any],
    cache: dict[str, FoldData],
    log: Any,
) -> None:
    assert audio is not None
    if fold.name not in cache:
        cache[fold.name] = noalign_fold(store, fold, audio, config.save_noalign, log)
    na = cache[fold.name]
    full = [r for r in results["runs"] if r["fold"] == fold.name and r["seed"] == seed and r["variant"] == "ours"]
    if full:
        results["runs"].append({**full[0], "variant": "ablation:full"})
    view = na.train_view()
    text_mode = "class" if config.balance else "paired"
    variants = {
        "noalign": gan_config(base_gan),
        "noalign_notext": gan_config(base_gan, use_text=False, text_mode="none"),
        "noalign_nomi": gan_config(base_gan, use_mi=False),
    }
    for key, gcfg in variants.items():
        aug = make_augmenter("ours", gcfg, text_mode=text_mode)
        aug.fit(view, seed)
        xs, ys = aug.sample(labels, seed)
        m = evaluate_unimodal(na, xs, ys, config.classifier, seed=seed)
        results["runs"].append(_record(fold.name, seed, f"ablation:{key}", config.ratio, m))
    m = evaluate_unimodal(na, None, None, config.classifier, seed=seed)
    results["runs"].append(_record(fold.name, seed, "ablation:noalign_noaug", 0.0, m))


def tsne_embedding(view: Any, aug: Any, config: AugmentConfig, seed: int) -> dict[str, Any]:
    """2-D t-SNE of real training features and as many generated ones (same labels), for Fig. 2."""
    from sklearn.manifold import TSNE

    rng = np.random.default_rng(seed)
    n = min(len(view.y), config.tsne_rows)
    rows = np.sort(rng.choice(len(view.y), size=n, replace=False))
    real, labels = view.h[rows], view.y[rows]
    fake, _ = aug.sample(labels, seed + 104729)
    x = np.concatenate([real, fake]).astype(np.float64)
    perplexity = float(min(30.0, max(2.0, (len(x) - 1) / 3)))
    coords = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(x)
    return {
        "coords": np.round(coords, 4).tolist(),
        "labels": np.concatenate([labels, labels]).tolist(),
        "source": ["real"] * n + ["generated"] * n,
    }


def write_results(run_dir: Path, results: dict[str, Any]) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "results.json"
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(_jsonable(results), indent=1) + "\n")
    os.replace(tmp, path)
    return path
