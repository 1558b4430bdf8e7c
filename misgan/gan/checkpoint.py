"""Generator checkpoints: `save_generator` writes a fold's trained G with its config, dims and metrics,
`load_generator` reads one back (format `misgan-generator/1`).

torch is imported at module level here, so `misgan/__init__.py` must not import this module.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch

from misgan.config import to_dict
from misgan.gan.models import GanError, Generator
from misgan.io import atomic_write

CHECKPOINT_FORMAT = "misgan-generator/1"


def save_generator(
    path: str | Path,
    result: Any,
    *,
    label_names: list[str] | None = None,
    fold: str | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """torch.save a dict {format, state_dict, config, dims, label_names, fold, metrics, history, best_epoch,
    stopped} to `path` (atomically: misgan.io.atomic_write)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ckpt = {
        "format": CHECKPOINT_FORMAT,
        "state_dict": {k: v.detach().cpu() for k, v in result.generator.state_dict().items()},
        "config": to_dict(result.config),
        "dims": result.generator.dims,
        "label_names": list(label_names) if label_names is not None else None,
        "fold": fold,
        "metrics": to_dict(result.metrics),
        "history": to_dict(result.history),  # the per-epoch metrics, as in the run's log.jsonl
        "best_epoch": result.best_epoch,
        "stopped": result.stopped,
        **(extra or {}),
    }
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    return atomic_write(path, buf.getvalue())


def load_generator(path: str | Path) -> tuple[Generator, dict[str, Any]]:
    """(generator in eval mode, checkpoint dict) from a file written by `save_generator`."""
    path = Path(path)
    if not path.is_file():
        raise GanError(f"{path}: generator checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupt or foreign file
        raise GanError(f"{path}: not a readable generator checkpoint ({exc})") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise GanError(f"{path}: not a misgan generator checkpoint (format {CHECKPOINT_FORMAT} expected)")
    d = ckpt["dims"]
    try:
        g = Generator(
            d["noise_dim"],
            d["n_classes"],
            d["text_dim"],
            d["out_dim"],
            d["arch"],
            d["hidden"],
            d["use_text"],
            subspace_k=int(d.get("subspace_k", 0)),  # checkpoints before the on-manifold G have none
        )
        g.load_state_dict(ckpt["state_dict"])
    except (KeyError, RuntimeError, TypeError, ValueError) as exc:
        raise GanError(f"{path}: generator checkpoint does not match this misgan version ({exc})") from exc
    return g.eval(), ckpt
