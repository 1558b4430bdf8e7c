"""What makes a run reproducible and readable afterwards: one seed for everything, a thread limit, the library
versions, a record of the command, and JSON-lines logs that a killed run keeps."""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import random
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from misgan.config import save_yaml
from misgan.io import atomic_write, write_json


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
    for pkg in ("misgan", "torch", "transformers", "numpy", "scikit-learn", "scipy", "zarr", "h5py", "opensmile"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def run_meta(seed: int | None, threads: int | None) -> dict[str, Any]:
    """meta.json: the seed, the effective thread count (0/None resolved by the thread policy), versions."""
    eff = resolve_threads(threads)
    return {"seed": seed, "threads": eff, "versions": versions(), "started": now(), "host": platform.node()}


def create_run_dir(root: str | Path, name: str, config: Any, seed: int, argv: list[str] | None = None) -> Path:
    """Make (or reuse) `root/name` for a run that is not keyed (misgan run's own folder, reports):
    config.yaml, command.txt, meta.json."""
    run = Path(root) / name
    run.mkdir(parents=True, exist_ok=True)
    save_yaml(config, run / "config.yaml")
    atomic_write(run / "command.txt", shlex.join(sys.argv if argv is None else argv) + "\n")
    write_json(run / "meta.json", run_meta(seed, None))
    return run


class JsonlLog:
    """Append-only JSON-lines log (one dict per line, flushed each write so a killed run keeps its log)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, record: dict[str, Any]) -> None:
        from misgan.io import dumps

        with self.path.open("a") as fh:
            fh.write(dumps(record, indent=None) + "\n")

    def read(self, segment: int | None = None) -> list[dict[str, Any]]:
        """All records, or those of one segment (0 = the first start, -1 = the latest)."""
        import json

        if not self.path.exists():
            return []
        records = [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]
        if segment is None:
            return records
        starts = [i for i, r in enumerate(records) if r.get("event") == "segment"] or [0]
        begin = starts[segment]
        after = [s for s in starts if s > begin]
        return records[begin : after[0] if after else len(records)]


# more threads than this only add synchronisation for stage-sized matrices (and hurt on a shared machine)
MAX_DEFAULT_THREADS = 8
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "VECLIB_MAXIMUM_THREADS")


def physical_cores() -> int:
    """The machine's physical cores (hyper-threads share one core's arithmetic units); logical ones if unknown."""
    try:
        import psutil

        n = psutil.cpu_count(logical=False)
    except ImportError:  # psutil is optional: fall back to the logical count
        n = None
    return max(1, n or os.cpu_count() or 1)


def idle_cores() -> int:
    """Physical cores (those this process may use) not already busy: their count minus the 1-minute load
    average, at least 1. On a shared machine other processes hold the cores, and torch/OpenMP threads that
    wait for descheduled partners burn CPU: on 2 cores at load 4, stage 1 with 2 threads took 5.2x the CPU
    and 2.8x the wall time of 1 thread (docs/benchmarks.md, "Thread policy")."""
    cores = physical_cores()
    if hasattr(os, "sched_getaffinity"):
        cores = min(cores, len(os.sched_getaffinity(0)))
    try:
        load = os.getloadavg()[0]
    except OSError:  # not available on this platform: assume the machine is ours
        load = 0.0
    return max(1, min(cores, int(cores - load + 0.5)))


def resolve_threads(threads: int | None, jobs: int = 1) -> int:
    """The thread policy: `threads` when > 0; else 1 per worker when folds run in parallel (jobs > 1),
    else the machine's idle physical cores (`idle_cores`), capped at MAX_DEFAULT_THREADS."""
    if threads:
        return int(threads)
    if jobs > 1:
        return 1
    return min(idle_cores(), MAX_DEFAULT_THREADS)


def apply_threads(threads: int) -> None:
    """Set torch's and every BLAS/OpenMP pool's thread count in this process, and the environment that
    subprocess workers inherit. Call before any torch or BLAS work (the first matmul sizes the pools)."""
    import torch
    from threadpoolctl import threadpool_limits

    for name in THREAD_ENV:
        os.environ[name] = str(threads)
    torch.set_num_threads(threads)
    threadpool_limits(limits=threads)


@contextlib.contextmanager
def thread_limit(threads: int | None, jobs: int = 1) -> Iterator[None]:
    """Torch and BLAS/OpenMP threads per the thread policy (`resolve_threads`) inside the block; restored
    afterwards (a library caller's own setting survives)."""
    threads = resolve_threads(threads, jobs)
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with threadpool_limits(limits=threads):
            yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def collect_warnings(log: JsonlLog | None) -> Iterator[None]:
    """Record what goes wrong quietly inside the block in the run's log: Python warnings (still shown once
    on stderr) and WARNING records of misgan's loggers, each as {"event": "warning", ...}."""
    import logging
    import warnings

    if log is None:
        yield
        return

    class Handler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            log.write({"event": "warning", "source": record.name, "message": record.getMessage()})

    handler = Handler(level=logging.WARNING)
    logger = logging.getLogger("misgan")
    logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("default")
            yield
    finally:
        logger.removeHandler(handler)
    for w in caught:
        where = f"{Path(w.filename).name}:{w.lineno}"
        log.write({"event": "warning", "source": w.category.__name__, "message": str(w.message), "where": where})
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)
