"""Baseline parity (issue 11.1): stage-1 head and stage-3 "none" against the logistic-regression reference.

    OMP_NUM_THREADS=1 python bench/parity.py [--caches DIR] [--sets egemaps,compare,whisper] [--folds N]
                                             [--h-dim K]

For each RAVDESS feature cache (DIR/ravdess-<set>.zarr), on the same 24 leave-one-speaker-out folds and in the
same run: the reference (misgan.reference.lr_reference: standardised class-balanced logistic regression, C by
inner grouped CV over the training speakers), the stage-1 head W_y with the default AlignConfig, and stage 3
"none" (the default ClassifierConfig on h). Prints mean ± sample std of UAR over folds, in percent, and Δ vs
the reference. The caches are only read.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def run_set(path: str, n_folds: int | None, with_text: bool = True, h_dim: int = 0) -> dict[str, list[float]]:
    from misgan.alignment.adapter import train_fold
    from misgan.alignment.config import AlignConfig
    from misgan.augmentation.classifier import evaluate_unimodal
    from misgan.augmentation.config import ClassifierConfig
    from misgan.augmentation.fold_data import FoldData
    from misgan.data.folds import make_folds
    from misgan.features.store import open_store

    store = open_store(path)
    audio, text, y = store.read("audio"), store.read("text"), store.labels
    meta = store.meta()
    spk = meta["speaker"].astype(str).to_numpy()
    n_classes = len(store.label_names)
    config = AlignConfig(h_dim=h_dim) if h_dim else AlignConfig()
    folds = make_folds(meta, config.protocol, seed=config.seed)[:n_folds]
    out: dict[str, list[float]] = {"reference": [], "stage 1": [], "stage 3 none": [], "seconds": []}
    for fold in folds:
        t0 = time.process_time()
        r = train_fold(audio, text if with_text else None, y, fold, config, n_classes, progress=False, groups=spk)
        out["seconds"].append(time.process_time() - t0)
        if not with_text:  # FoldData wants a text head; the unimodal "none" classifier never reads it
            r.heads.update(W_t=np.zeros((1, r.h.shape[1]), np.float32), b_t=np.zeros(1, np.float32))
        fd = FoldData(
            fold.name,
            r.h,
            text,
            y,
            fold.train,
            fold.valid,
            fold.test,
            r.heads,
            n_classes,
            attrs={"selection": r.selection},
        )
        none = evaluate_unimodal(fd, None, None, ClassifierConfig(), seed=0)
        out["reference"].append(r.reference["uar"])
        out["stage 1"].append(r.baseline["uar"])
        out["stage 3 none"].append(none["uar"])
    store.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--caches", default="/work/research/caches")
    ap.add_argument("--sets", default="egemaps,compare,whisper")
    ap.add_argument("--folds", type=int, default=None, help="first N folds only (default: all 24)")
    ap.add_argument(
        "--no-text",
        action="store_true",
        help="skip W_t and eq. 5's projections: with the default frozen adapter they change neither h, W_y "
        "nor the unimodal 'none' classifier, so the UAR rows are the same, at a fraction of the CPU",
    )
    ap.add_argument("--h-dim", type=int, default=0, help="stage-1 width of h (0: the AlignConfig default)")
    args = ap.parse_args()
    print(f"{'features':<9} {'row':<13} {'UAR % (mean ± std)':>19} {'Δ vs ref':>9}  folds")
    for name in args.sets.split(","):
        res = run_set(
            f"{args.caches}/ravdess-{name}.zarr", args.folds, with_text=not args.no_text, h_dim=args.h_dim
        )
        ref = 100 * np.mean(res["reference"])
        for row in ("reference", "stage 1", "stage 3 none"):
            v = 100 * np.asarray(res[row])
            delta = "" if row == "reference" else f"{v.mean() - ref:+.2f}"
            print(f"{name:<9} {row:<13} {v.mean():>10.1f} ± {v.std(ddof=1):4.1f} {delta:>9}  {len(v)}", flush=True)
        s = np.asarray(res["seconds"])
        print(f"{name:<9} stage-1 CPU s per fold (incl. reference): median {np.median(s):.2f}", flush=True)


if __name__ == "__main__":
    main()
