"""The report's stage-2 figure: GAN losses, MI bounds and class consistency per epoch and fold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from misgan.report.figure import _plt, _save

# readable names of the GAN's logged quantities (the keys are misgan.gan.train's record fields)
GAN_LOSSES = {
    "d_loss": "discriminator loss",
    "g_adv": "generator adversarial loss",
    "l_iy": "class information loss (L_Iy)",
    "l_it": "text information loss (L_It)",
}
GAN_BITS = {
    "mi_bits": "MI lower bound I(c; ĥ)",
    "infonce_bits": "InfoNCE bound I(t; ĥ)",
    "h_c_bits": "H(c), the maximum",
}
GAN_FRACTIONS = {"consistency": "class consistency of ĥ", "std_ratio": "std(ĥ) / std(h)"}


def plot_gan_curves(results: dict[str, Any], path: Path) -> bool:
    """Stage-2 curves per epoch: each fold thin, the mean over folds bold; losses, bits and fractions apart."""
    hist: dict[str, Any] = {}
    for f, recs in (results.get("gan_history") or {}).items():
        # cross-corpus: every test speaker's job records the one generator's history; draw it once
        if recs and not any(recs == kept for kept in hist.values()):
            hist[f] = recs
    if not hist:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.4), layout="constrained")
    colors = plt.get_cmap("tab10")
    panels = ((axes[0], GAN_LOSSES, "loss"), (axes[1], GAN_BITS, "bits"), (axes[2], GAN_FRACTIONS, "fraction"))
    for ax, keys, unit in panels:
        for i, (key, label) in enumerate(keys.items()):
            curves = [
                (np.asarray([r["epoch"] for r in recs]), np.asarray([r.get(key, np.nan) for r in recs], float))
                for recs in hist.values()
                if any(key in r for r in recs)
            ]
            if not curves:
                continue
            for ep, v in curves:
                ax.plot(ep, v, color=colors(i), alpha=0.25, lw=0.8)
            n = min(len(ep) for ep, _ in curves)
            stack = np.stack([v[:n] for _, v in curves])
            # metrics are evaluated every `eval_every` epochs: average only the epochs some fold evaluated
            seen = np.isfinite(stack).any(axis=0)
            if seen.any():
                mean = np.nanmean(stack[:, seen], axis=0)
                ax.plot(curves[0][0][:n][seen], mean, color=colors(i), lw=2, label=label)
        ax.set_xlabel("epoch")
        ax.set_ylabel("fraction or ratio" if unit == "fraction" else unit)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    axes[2].set_ylim(0, None)
    axes[0].set_title("losses")
    axes[1].set_title("mutual-information bounds (bits)")
    axes[2].set_title("fractions")
    fig.suptitle(f"GAN training, {len(hist)} fold(s): thin lines per fold, bold the mean over folds")
    _save(fig, path)
    return True
