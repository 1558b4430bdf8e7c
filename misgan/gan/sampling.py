"""Sampling from a trained generator (paper §3.2): which text conditions each generated row (`conditioning_text`)
and ĥ = G(z, c, t) drawn from a seed (`generate`).

torch is imported at module level here, so `misgan/__init__.py` must not import this module.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from misgan.gan.config import TEXT_MODES
from misgan.gan.models import GanError, Generator


def conditioning_text(
    t: np.ndarray | None, y: np.ndarray, labels: np.ndarray, mode: str, rng: np.random.Generator
) -> np.ndarray | None:
    """Text embeddings (raw, as stored) to condition one generated row per entry of `labels`.

    paired: when `labels` equals `y`, row i gets t[i] (its own real utterance); otherwise each label takes
            the texts of training rows of that class without replacement (reshuffled once a class is used up).
    class:  each label takes t of a training row of that class drawn uniformly with replacement (--balance).
    none:   None (generator trained without text)."""
    if mode not in TEXT_MODES:
        raise GanError(f"conditioning text: mode must be one of {', '.join(TEXT_MODES)} (got {mode!r})")
    if mode == "none":
        return None
    if t is None:
        raise GanError(f"conditioning text: mode {mode!r} needs text embeddings")
    t, y, labels = np.asarray(t), np.asarray(y, np.int64), np.asarray(labels, np.int64)
    if mode == "paired" and len(labels) == len(y) and np.array_equal(labels, y):
        return t.astype(np.float32, copy=True)
    rows = np.empty(len(labels), np.int64)
    for k in np.unique(labels):
        pool = np.flatnonzero(y == k)
        if len(pool) == 0:
            raise GanError(f"conditioning text: no training row of class {k} to take text from")
        where = np.flatnonzero(labels == k)
        if mode == "class":
            rows[where] = rng.choice(pool, size=len(where), replace=True)
        else:
            reps = math.ceil(len(where) / len(pool))
            rows[where] = np.concatenate([rng.permutation(pool) for _ in range(reps)])[: len(where)]
    return t[rows].astype(np.float32)


def generate(
    generator: Generator, labels: np.ndarray, t_cond: np.ndarray | None, seed: int, batch_size: int = 4096
) -> np.ndarray:
    """ĥ = G(z, c, t) for each label (and raw conditioning text row), z drawn from `seed`: float32 (n, Dh)."""
    labels = np.asarray(labels, np.int64)
    if generator.use_text and (t_cond is None or len(t_cond) != len(labels)):
        raise GanError("generate: this generator needs one conditioning text row per label")
    if len(labels) and (labels.min() < 0 or labels.max() >= generator.n_classes):
        raise GanError(f"generate: labels must lie in [0, {generator.n_classes - 1}]")
    dev = next(generator.parameters()).device
    gen = torch.Generator(device=dev).manual_seed(int(seed))
    out = np.empty((len(labels), generator.out_dim), np.float32)
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        for i in range(0, len(labels), batch_size):
            lab = torch.from_numpy(labels[i : i + batch_size]).to(dev)
            z = torch.randn(len(lab), generator.noise_dim, generator=gen, device=dev)
            t = None
            if generator.use_text:
                t = generator.standardise(
                    torch.as_tensor(np.asarray(t_cond[i : i + batch_size], np.float32)).to(dev)
                )
            out[i : i + len(lab)] = generator(z, F.one_hot(lab, generator.n_classes).float(), t).cpu().numpy()
    generator.train(was_training)
    return out
