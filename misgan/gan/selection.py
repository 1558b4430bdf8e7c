"""Which epoch's generator stage 2 keeps: `Selector`, fed each epoch's record by `misgan.callbacks.BestState`."""

from __future__ import annotations

import math
from typing import Any


class Selector:
    """Which epoch's generator to keep.

    consistent_cfd (default): among epochs whose consistency reaches the target, the lowest
    class-conditional FD. The target is min(best consistency seen so far, `reference`) − `tolerance`,
    `reference` being the frozen head's accuracy on the *real* evaluation rows: a generator as
    class-consistent as real data, and otherwise as realistic as possible. (The CE term keeps pushing
    ĥ past the real class means, so consistency and MI overshoot real data while FD grows; FD alone
    prefers an early, barely conditioned G.) When the target rises past the kept epoch's consistency,
    the current epoch replaces it. cfd / fd: lowest; consistency / mi: highest.

    tstr: the highest train-on-synthetic-test-on-real UAR among epochs whose real-vs-generated AUC
    (training rows) is at most `auc_max` and whose relative consistency is at most 1 + `tolerance`; until
    an epoch qualifies, the one closest to qualifying (least AUC excess + overshoot) is kept.
    Records without metrics (epochs between evaluations) are never taken."""

    def __init__(self, how: str, tolerance: float, reference: float = 1.0, auc_max: float = 1.0) -> None:
        self.how, self.tolerance, self.reference, self.auc_max = how, tolerance, reference, auc_max
        self.best: dict[str, Any] | None = None
        self.top_consistency = -math.inf

    def _tstr_score(self, rec: dict[str, Any]) -> tuple[int, float]:
        auc = rec.get("auc_train", math.nan)
        rel = rec.get("relative_consistency", math.nan)
        excess = max(auc - self.auc_max, 0.0) + max(rel - 1.0 - self.tolerance, 0.0)
        if not math.isfinite(excess):
            return (0, -math.inf)
        tstr = rec.get("tstr_uar", math.nan)
        return (1, tstr if math.isfinite(tstr) else -math.inf) if excess == 0 else (0, -excess)

    def offer(self, rec: dict[str, Any]) -> bool:
        """True when `rec` (an epoch record) becomes the kept epoch."""
        needs = {"cfd": "cfd", "fd": "fd", "mi": "mi_bits"}.get(self.how, "consistency")
        if needs not in rec:  # an epoch between evaluations
            return False
        best = self.best
        if self.how == "tstr":
            score = self._tstr_score(rec)
            take = score[1] > -math.inf and (best is None or score > best["_score"])
            rec = {**rec, "_score": score}
        elif self.how == "consistent_cfd":
            self.top_consistency = max(self.top_consistency, rec["consistency"])
            floor = min(self.top_consistency, self.reference) - self.tolerance
            dist = rec["cfd"] if math.isfinite(rec["cfd"]) else rec["fd"]
            if rec["consistency"] < floor or not math.isfinite(dist):
                return False
            take = best is None or best["consistency"] < floor or dist < best["_dist"]
            rec = {**rec, "_dist": dist}
        else:
            sign = -1.0 if self.how in ("cfd", "fd") else 1.0
            key = {"cfd": "cfd", "fd": "fd", "consistency": "consistency", "mi": "mi_bits"}[self.how]
            score = sign * rec[key]
            take = math.isfinite(score) and (best is None or score > best["_score"])
            rec = {**rec, "_score": score}
        if take:
            self.best = rec
        return take
