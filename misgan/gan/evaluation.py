"""Stage 2's evaluation: the quality metrics of a generator on fixed evaluation rows.

`EvalSet` fixes the rows, labels, text and noise once, so the metrics of successive evaluations are
comparable; `evaluate` scores a generator on it (misgan.gan.metrics: MI bounds, consistency absolute and
relative to the real rows', Fréchet distances, spread; with the training rows attached also the
real-vs-generated AUC against the training rows, train-on-synthetic-test-on-real UAR and k-NN
precision/recall). Training evaluates every `eval_every` epochs on a fixed subsample (`eval_rows`) and
once at the end on every row; the kept epoch is chosen on these numbers (`misgan.gan.selection.Selector`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from misgan.gan import metrics as gm
from misgan.gan.config import GanConfig
from misgan.gan.frechet import ClassFrechetReference, FrechetReference
from misgan.gan.models import Generator
from misgan.gan.sampling import generate

KNN_ROWS = 1000  # k-NN precision/recall on at most this many rows per side (cdist is quadratic)
KNN_K = 3


def _subsample(n: int, limit: int | None, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, n, replace=False)[: n if limit is None else limit])


class EvalSet:
    """Fixed rows, labels, text and noise for the evaluation, so curves are comparable. `limit` caps the
    rows (None: all of them, the final evaluation)."""

    def __init__(self, h, y, t, config: GanConfig, split: str, limit: int | None = -1) -> None:
        limit = config.eval_rows if limit == -1 else limit
        keep = _subsample(len(h), limit, config.seed + 1)
        self.h, self.y = h[keep], y[keep]
        self.t = None if (t is None or not config.use_text) else t[keep]
        self.split, self.limit = split, limit
        self.seed = config.seed + 1
        self.fd_ref = FrechetReference.from_rows(self.h)  # the real side is fixed: prepare it once
        self.cfd_ref = ClassFrechetReference(self.h, self.y)
        self.reference: dict[str, float] = {}  # the same metrics for real rows, to read the others against
        self.train: tuple[np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self.knn_radius: np.ndarray | None = None

    def add_reference(self, heads: dict, h_train: np.ndarray | None) -> None:
        """Head consistency and MI bound of the real evaluation rows; on validation rows also the FD
        between real training rows and them (the distance real data itself has across speakers)."""
        logits = self.h @ np.asarray(heads["W_y"]).T + np.asarray(heads["b_y"])
        self.reference["real_consistency"] = gm.consistency(logits, self.y)["accuracy"]
        self.reference["real_mi_bits"] = gm.mi_class_bound(logits, self.y)["mi_bits"]
        if h_train is not None and len(h_train) >= 2:
            self.reference["real_fd_train_vs_eval"] = self.fd_ref.distance(h_train)

    def add_train(self, h: np.ndarray, y: np.ndarray, t: np.ndarray | None, use_text: bool) -> None:
        """The fold's training rows (subsampled like the evaluation rows): generated rows with their labels
        and text are compared with them (AUC, k-NN) and train the TSTR classifier."""
        keep = _subsample(len(h), self.limit, self.seed + 1)
        self.train = (h[keep], y[keep], None if (t is None or not use_text) else t[keep])
        real = np.asarray(h[keep][:KNN_ROWS], np.float64)
        self.knn_radius = gm.kth_radius(real, KNN_K) if len(real) >= 2 else None  # fixed: once, not per call


def evaluate(generator: Generator, heads: dict, ev: EvalSet, config: GanConfig, auc: bool = False) -> dict:
    """Quality metrics of `generator` on the evaluation rows (see misgan.gan.metrics). `auc`: also the
    real-vs-generated AUC against the evaluation rows (the older, weaker figure; final evaluation only)."""
    fake = generate(generator, ev.y, ev.t, ev.seed)
    logits = fake @ np.asarray(heads["W_y"]).T + np.asarray(heads["b_y"])
    mi = gm.mi_class_bound(logits, ev.y)
    cons = gm.consistency(logits, ev.y)
    out: dict[str, Any] = {
        "mi_bits": mi["mi_bits"],
        "h_c_bits": mi["h_c_bits"],
        "mi_bits_per_class": mi["per_class"],
        "consistency": cons["accuracy"],
        "consistency_per_class": cons["per_class"],
        "std_ratio": gm.std_ratio(ev.h, fake),
        "fd": ev.fd_ref.distance(fake),
        "cfd": ev.cfd_ref.distance(fake, ev.y),
    }
    if "real_consistency" in ev.reference:
        out["relative_consistency"] = gm.relative_consistency(cons["accuracy"], ev.reference["real_consistency"])
    if ev.t is not None:
        t_hat = fake @ np.asarray(heads["W_t"]).T + np.asarray(heads["b_t"])
        out["infonce_bits"] = gm.infonce_bound(ev.t, t_hat, config.tau, config.batch_size)["infonce_bits"]
    if ev.train is not None:
        h_tr, y_tr, t_tr = ev.train
        fake_tr = generate(generator, y_tr, t_tr, ev.seed + 1)
        final = ev.limit is None
        out["auc_train"] = gm.real_vs_fake_auc(
            h_tr, fake_tr, folds=5 if final else 3, seed=config.seed, max_rows=2000 if final else 500
        )
        out["tstr_uar"] = gm.tstr_uar(fake_tr, y_tr, ev.h, ev.y)
        knn = gm.knn_precision_recall(h_tr[:KNN_ROWS], fake_tr[:KNN_ROWS], KNN_K, ev.knn_radius)
        out["knn_precision"], out["knn_recall"] = knn["precision"], knn["recall"]
    if auc and ev.split == "train" and "auc_train" in out and ev.limit is None:
        out["auc_real_vs_fake"] = out["auc_train"]  # evaluation rows = training rows: auc_train measured it
    elif auc:
        out["auc_real_vs_fake"] = gm.real_vs_fake_auc(ev.h, fake, seed=config.seed)
    return out
