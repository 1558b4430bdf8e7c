"""What `misgan.gan.train.fit_gan` is given: the checks on its training arrays and stage-1 heads
(`check_inputs`), and the text standardisation G's input uses (`text_stats`).
"""

from __future__ import annotations

import numpy as np

from misgan.gan.config import GanConfig
from misgan.gan.models import GanError


def check_inputs(h: np.ndarray, y: np.ndarray, t: np.ndarray | None, heads: dict, config: GanConfig) -> None:
    if h.ndim != 2 or len(h) != len(y):
        raise GanError(f"gan: h {h.shape} and labels {y.shape} disagree")
    if len(h) < 2:
        raise GanError("gan: need at least 2 training rows")
    if not np.isfinite(h).all():
        raise GanError("gan: training features h contain NaN or inf")
    c, dh = np.shape(heads["W_y"])
    if dh != h.shape[1]:
        raise GanError(f"gan: h has {h.shape[1]} columns but the stage-1 head W_y expects {dh}")
    if y.min() < 0 or y.max() >= c:
        raise GanError(f"gan: labels must lie in [0, {c - 1}] (the head has {c} classes)")
    if config.use_text:
        if t is None or len(t) != len(h):
            raise GanError("gan: text conditioning needs one text embedding per training row (or use --no-text)")
        if t.shape[1] != np.shape(heads["W_t"])[0]:
            raise GanError(f"gan: text has {t.shape[1]} columns but W_t maps to {np.shape(heads['W_t'])[0]}")
        if not np.isfinite(t).all():
            raise GanError("gan: text embeddings contain NaN or inf")


def text_stats(heads: dict, t: np.ndarray | None, dt: int) -> tuple[np.ndarray, np.ndarray]:
    """Stage 1's text standardisation when the heads carry it, else that of the training rows."""
    from misgan.alignment.adapter import standardiser

    if "text_mean" in heads and "text_std" in heads:
        return np.asarray(heads["text_mean"], np.float32), np.asarray(heads["text_std"], np.float32)
    if t is None:
        return np.zeros(dt, np.float32), np.ones(dt, np.float32)
    return standardiser(t, np.arange(len(t)))
