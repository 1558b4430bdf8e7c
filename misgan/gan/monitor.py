"""What `misgan.gan.train.fit_gan` watches while it trains: the `Collapse` stop (collapsed spread or a saturated
D), the progress bar's postfix, and the warnings on a kept generator that carries no class information.
"""

from __future__ import annotations

import math
from typing import Any

from misgan.gan.config import GanConfig
from misgan.training import Callback


def weak_generator_warnings(metrics: dict[str, Any], n_classes: int, margin: float) -> list[str]:
    """Issue 12: a kept generator at chance consistency (within `margin` of 1/C) or with a non-positive
    class-MI bound carries no class information; augmenting with it only adds noise."""
    out = []
    cons, mi = metrics.get("consistency", math.nan), metrics.get("mi_bits", math.nan)
    if math.isfinite(cons) and cons <= 1.0 / n_classes + margin:
        out.append(f"kept generator is at chance: consistency {cons:.3f} vs chance {1.0 / n_classes:.3f}")
    if math.isfinite(mi) and mi <= 0:
        out.append(f"kept generator has a non-positive class-MI bound ({mi:.3f} bits)")
    return out


def progress_postfix(record: dict[str, Any]) -> dict[str, str]:
    out = {"D": f"{record['d_loss']:.3f}", "G": f"{record['g_adv']:.3f}"}
    if "consistency" in record:  # an evaluated epoch
        out.update(MI=f"{record['mi_bits']:.2f}b", acc=f"{record['consistency']:.2f}")
    return out


class Collapse(Callback):
    """Stops after `collapse_epochs` epochs in a row with the generated spread below `collapse_std` (of the
    real one) or a saturated D (it tells every real and generated row apart)."""

    def __init__(self, config: GanConfig) -> None:
        self.min_std, self.epochs, self.bad = config.collapse_std, config.collapse_epochs, 0
        self.collapsed = False  # the spread is measured only on evaluated epochs: carry it in between

    def on_epoch_end(self, epoch: int, record: dict[str, Any]) -> str | None:
        if "std_ratio" in record:
            self.collapsed = record["std_ratio"] < self.min_std
        collapsed = self.collapsed
        saturated = record["d_real"] > 0.99 and record["d_fake"] < 0.01
        self.bad = self.bad + 1 if (collapsed or saturated) else 0
        if self.bad < self.epochs:
            return None
        why = "generated std collapsed" if collapsed else "D saturated"
        return f"diverged at epoch {epoch}: {why} for {self.bad} epochs"
