"""Stage 2's per-epoch evaluation: the quality metrics of a generator on fixed evaluation rows.

`EvalSet` fixes the rows, labels, text and noise once, so the metrics of successive epochs are comparable;
`evaluate` scores a generator on it (misgan.gan.metrics: MI bounds, consistency, Fréchet distances, spread,
and on request the real-vs-generated AUC). The epoch kept by training is chosen on these numbers
(`misgan.gan.metrics.Selector`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from misgan.gan import metrics as gm
from misgan.gan.config import GanConfig
from misgan.gan.models import Generator, generate


class EvalSet:
    """Fixed rows, labels, text and noise for the per-epoch evaluation, so curves are comparable."""

    def __init__(self, h, y, t, config: GanConfig, split: str) -> None:
        rng = np.random.default_rng(config.seed + 1)
        keep = np.sort(rng.choice(len(h), len(h), replace=False)[: config.eval_rows])
        self.h, self.y = h[keep], y[keep]
        self.t = None if (t is None or not config.use_text) else t[keep]
        self.split = split
        self.seed = config.seed + 1
        self.fd_ref = gm.FrechetReference.from_rows(self.h)  # the real side is fixed: prepare it once
        self.cfd_ref = gm.ClassFrechetReference(self.h, self.y)
        self.reference: dict[str, float] = {}  # the same metrics for real rows, to read the others against

    def add_reference(self, heads: dict, h_train: np.ndarray | None) -> None:
        """Head consistency and MI bound of the real evaluation rows; on validation rows also the FD
        between real training rows and them (the distance real data itself has across speakers)."""
        logits = self.h @ np.asarray(heads["W_y"]).T + np.asarray(heads["b_y"])
        self.reference["real_consistency"] = gm.consistency(logits, self.y)["accuracy"]
        self.reference["real_mi_bits"] = gm.mi_class_bound(logits, self.y)["mi_bits"]
        if h_train is not None and len(h_train) >= 2:
            self.reference["real_fd_train_vs_eval"] = self.fd_ref.distance(h_train)


def evaluate(generator: Generator, heads: dict, ev: EvalSet, config: GanConfig, auc: bool = False) -> dict:
    """Quality metrics of `generator` on the evaluation rows (see misgan.gan.metrics)."""
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
    if ev.t is not None:
        t_hat = fake @ np.asarray(heads["W_t"]).T + np.asarray(heads["b_t"])
        out["infonce_bits"] = gm.infonce_bound(ev.t, t_hat, config.tau, config.batch_size)["infonce_bits"]
    if auc:
        out["auc_real_vs_fake"] = gm.real_vs_fake_auc(ev.h, fake, seed=config.seed)
    return out
