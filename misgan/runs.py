"""Run folders: where every stage's results live, keyed by one fingerprint, so nothing can go stale.

The feature cache is written once (by extract or import) and never modified. Each training stage writes
a run folder instead, by default `runs/<cache stem>/<kind>-<key[:12]>/`:

    run.json      kind, key, cache path and fingerprint, upstream run keys, config, complete flag
    config.yaml   the resolved config;  command.txt  the command line
    meta.json     seed, threads, library versions, host, start time
    log.jsonl     JSON lines; every (re)start opens a new segment with a {"event": "segment"} record
    folds/<fold>/arrays.npz + attrs.json   one completed fold (attrs.json is written last: it marks completion)
    summary.json  written when every fold is done (run.json's `complete` turns true)

The key is `run_key(kind, cache fingerprint, config, upstream keys)`: the stage's output-affecting settings
(`misgan.config.key_fields`), the upstream step's key and the misgan version. A result is reused only when
its key matches; a folder holding another key is refused, never overwritten.
"""

from __future__ import annotations

import io
import os
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from misgan.config import key_fields, save_yaml, to_dict
from misgan.errors import MisganError
from misgan.io import atomic_write, fingerprint, read_json, write_json
from misgan.runtime import JsonlLog, now, run_meta

RUNS_ROOT = Path("runs")
RUN_FORMAT = "misgan-run/1"


WRITER_LOCK = "writer.lock"  # misgan.locks: one writing process per run folder


class RunError(MisganError):
    """A run folder is missing, incomplete, or holds a run with another key."""


@dataclass(frozen=True)
class RunResult:
    """What every stage function returns."""

    kind: str  # "align" | "gan" | "augment"
    key: str  # the run's fingerprint
    run_dir: Path
    summary: dict[str, Any] = field(default_factory=dict)
    reused: bool = False  # True when a complete run with this key already existed (nothing was trained)


# ---------------------------------------------------------------- keyed stage runs


def run_key(
    kind: str, cache_fingerprint: str | None, config: Any, upstream: Mapping[str, str] | None = None
) -> str:
    """The fingerprint of a stage's output: what it read, how it was configured, and which code made it."""
    from misgan import __version__

    payload = {
        "kind": kind,
        "cache": cache_fingerprint,
        "config": _key_config(config),
        "upstream": dict(upstream or {}),
        "misgan": __version__,
    }
    return fingerprint(payload)


def _key_config(config: Any) -> Any:
    """`key_fields` of a config, or of each config in a mapping of them ({"align": ..., "finetune": ...})."""
    if isinstance(config, Mapping):
        return {str(k): _key_config(v) for k, v in config.items()}
    return key_fields(config)


def cache_stem(cache: str | Path) -> str:
    return Path(cache).name.split(".")[0]


def default_run_dir(cache: str | Path, kind: str, key: str, root: str | Path = RUNS_ROOT) -> Path:
    return Path(root) / cache_stem(cache) / f"{kind}-{key[:12]}"


def _fold_dirname(fold: str) -> str:
    return fold.replace(os.sep, "_").replace("/", "_")


class StageRun:
    """One keyed run folder (see the module docstring). Create with `StageRun.create`, read with `open`."""

    def __init__(self, path: Path, record: dict[str, Any]) -> None:
        self.path = path
        self.record = record

    # ---- identity
    @property
    def kind(self) -> str:
        return str(self.record["kind"])

    @property
    def key(self) -> str:
        return str(self.record["key"])

    @property
    def upstream(self) -> dict[str, str]:
        return dict(self.record.get("upstream") or {})

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.record.get("config") or {})

    @property
    def complete(self) -> bool:
        return bool(self.record.get("complete"))

    @property
    def log(self) -> JsonlLog:
        return JsonlLog(self.path / "log.jsonl")

    @classmethod
    def create(
        cls,
        path: str | Path,
        *,
        kind: str,
        key: str,
        cache: str | Path,
        cache_fingerprint: str | None,
        config: Any,
        upstream: Mapping[str, str] | None = None,
        seed: int | None = None,
        threads: int | None = None,
        argv: list[str] | None = None,
    ) -> StageRun:
        """Open the run at `path` if it holds this key (resume), or start it; another key is refused.

        The caller holds the folder's writer lock (misgan.locks) from here until `finish` or its exit: a
        second process writing the same run folder gets a LockError naming this one."""
        from misgan.locks import acquire

        path = Path(path)
        acquire(path / WRITER_LOCK, "run folder")
        if (path / "run.json").exists():
            run = cls.open(path)
            if run.key != key or run.kind != kind:
                raise RunError(
                    f"{path}: holds a {run.kind} run with key {run.key[:12]}, not this {kind} run ({key[:12]}); "
                    "choose another --run-dir or remove that folder"
                )
        else:
            record = {
                "format": RUN_FORMAT,
                "kind": kind,
                "key": key,
                "cache": str(Path(cache).resolve()),
                "cache_fingerprint": cache_fingerprint,
                "upstream": dict(upstream or {}),
                "config": to_dict(config),
                "complete": False,
                "created": now(),
            }
            path.mkdir(parents=True, exist_ok=True)
            save_yaml(config, path / "config.yaml")
            write_json(path / "run.json", record)
            run = cls(path, record)
        atomic_write(path / "command.txt", shlex.join(sys.argv if argv is None else argv) + "\n")
        write_json(path / "meta.json", run_meta(seed, threads))
        run.log.write({"event": "segment", "pid": os.getpid(), "started": now(), "folds_done": run.folds()})
        return run

    @classmethod
    def open(cls, path: str | Path) -> StageRun:
        path = Path(path)
        if not (path / "run.json").is_file():
            raise RunError(f"{path}: not a misgan run folder (no run.json)")
        record = read_json(path / "run.json")
        if record.get("format") != RUN_FORMAT:
            raise RunError(f"{path}/run.json: unknown format {record.get('format')!r} (expected {RUN_FORMAT})")
        return cls(path, record)

    # ---- folds
    def fold_dir(self, fold: str) -> Path:
        return self.path / "folds" / _fold_dirname(fold)

    def has_fold(self, fold: str) -> bool:
        return (self.fold_dir(fold) / "attrs.json").is_file()

    def folds(self) -> list[str]:
        """Names of the completed folds, sorted."""
        root = self.path / "folds"
        if not root.is_dir():
            return []
        names = []
        for d in sorted(root.iterdir()):
            if (d / "attrs.json").is_file():
                names.append(str(read_json(d / "attrs.json").get("fold", d.name)))
        return names

    def write_fold(self, fold: str, arrays: Mapping[str, Any], attrs: Mapping[str, Any]) -> None:
        """Write one fold's arrays (none: no arrays.npz) then its attrs (the completion marker), atomically.

        Other files of the fold (a generator checkpoint) go into `fold_dir(fold)` before this call."""
        import numpy as np

        d = self.fold_dir(fold)
        marker = d / "attrs.json"
        if marker.exists():
            marker.unlink()  # a rewrite is incomplete until its attrs are back
        if arrays:
            buf = io.BytesIO()
            np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
            atomic_write(d / "arrays.npz", buf.getvalue())
        write_json(marker, {"fold": fold, **attrs})

    def read_fold(self, fold: str) -> tuple[dict[str, Any], dict[str, Any]]:
        import numpy as np

        if not self.has_fold(fold):
            raise RunError(f"{self.path}: fold {fold!r} is not complete in this run (done: {self.folds()})")
        d = self.fold_dir(fold)
        arrays: dict[str, Any] = {}
        if (d / "arrays.npz").is_file():
            with np.load(d / "arrays.npz", allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        return arrays, read_json(d / "attrs.json")

    # ---- completion
    def finish(self, summary: Mapping[str, Any]) -> RunResult:
        from misgan.locks import release

        write_json(self.path / "summary.json", summary)
        self.record = {**self.record, "complete": True, "finished": now()}
        write_json(self.path / "run.json", self.record)
        release(self.path / WRITER_LOCK)
        return self.result(reused=False)

    def leave_open(self, summary: Mapping[str, Any]) -> RunResult:
        """End this call on a run that is not complete (a fold subset): the writer lock is released, so the
        next call resumes it without a "writer that is gone" warning; run.json keeps complete False."""
        from misgan.locks import release

        release(self.path / WRITER_LOCK)
        return RunResult(self.kind, self.key, self.path, {**summary, "complete": False}, reused=False)

    def summary(self) -> dict[str, Any]:
        p = self.path / "summary.json"
        return dict(read_json(p)) if p.is_file() else {}

    def result(self, reused: bool) -> RunResult:
        return RunResult(self.kind, self.key, self.path, self.summary(), reused)


def begin_run(
    cache: str | Path,
    kind: str,
    key: str,
    run_dir: str | Path | None = None,
    *,
    cache_fingerprint: str | None,
    config: Any,
    upstream: Mapping[str, str] | None = None,
    seed: int | None = None,
    threads: int | None = None,
    root: str | Path = RUNS_ROOT,
    echo: Callable[[str], None] | None = None,
    total: int | None = None,
) -> StageRun:
    """The run a stage function writes to: a complete run with this key is returned untouched (the caller
    reuses it; `run.complete`), an incomplete one is resumed, else one is started at `run_dir` (default
    `default_run_dir`). A `run_dir` holding another key is refused. `echo` hears which of these happened
    (`total`: the number of folds, for the resume line). Under torchrun, rank 0 creates (or finds) the
    folder and holds its writer lock; the other ranks open it to write their own folds."""
    from misgan.parallel import is_main, share
    from misgan.run_lookup import find_or_create

    if not is_main():
        return StageRun.open(share(None))
    run = find_or_create(cache, kind, key, run_dir, root, cache_fingerprint, config, upstream, seed, threads)
    share(str(run.path))
    if echo is not None and run.complete:
        echo(f"{kind}: reusing the complete run {run.path} (key {key[:12]}); nothing to train")
    elif echo is not None and run.folds():
        of = f" of {total}" if total is not None else ""
        echo(f"{kind}: resuming {run.path}: {len(run.folds())}{of} folds already done")
    return run
