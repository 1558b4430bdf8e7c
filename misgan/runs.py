"""Run folders and reproducibility: one seed for everything, and a record of how a result was made.

A run folder (`runs/<name>/`) holds config.yaml (resolved config), command.txt (the command line),
meta.json (seed, versions, start time, host) and whatever the stage writes (log.jsonl, checkpoints,
results.json, report.md, plots).
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import random
import shlex
import sys
from pathlib import Path
from typing import Any

from misgan.config import save_yaml, to_dict


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) from one integer."""
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    os.environ["PYTHONHASHSEED"] = str(seed)


def versions() -> dict[str, str]:
    """Versions of Python and of the libraries that change numbers."""
    from importlib import metadata

    out = {"python": platform.python_version(), "platform": platform.platform()}
    for pkg in ("misgan", "torch", "transformers", "numpy", "scikit-learn", "zarr", "h5py", "opensmile"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def create_run_dir(root: str | Path, name: str, config: Any, seed: int, argv: list[str] | None = None) -> Path:
    """Make (or reuse) `root/name`, recording config, command line, seed and versions."""
    run = Path(root) / name
    run.mkdir(parents=True, exist_ok=True)
    save_yaml(config, run / "config.yaml")
    argv = sys.argv if argv is None else argv
    (run / "command.txt").write_text(shlex.join(argv) + "\n")
    meta = {
        "seed": seed,
        "versions": versions(),
        "started": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
    }
    (run / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return run


class JsonlLog:
    """Append-only JSON-lines log (one dict per line, flushed each write so a killed run keeps its log)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        with self.path.open("a") as fh:
            fh.write(json.dumps(to_dict(record), default=float) + "\n")

    def read(self) -> list[dict[str, Any]]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
