"""One writer at a time: an OS file lock (the `filelock` package) on a cache or a run folder.

    with writer_lock(Path("cache/ravdess.zarr"), "feature cache"):
        ...  # extract / import

The lock is `TARGET.lock` (a cache) or `FOLDER/writer.lock` (a run folder), taken without waiting: a
second writer fails at once with a one-line LockError naming the holder's pid, host and start time
(read from the holder record `LOCK.json` beside it). The OS drops the lock when its process dies, even
by SIGKILL; a holder record left behind by such a process is reported (one `warning:` line on stderr)
and replaced.
Within one process the lock is re-entrant (a stage function resuming its own run folder).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from misgan.errors import MisganError


class LockError(MisganError):
    """Another process is writing the same cache or run folder."""


_HELD: dict[str, list[Any]] = {}  # lock path -> [FileLock, depth]


def _holder(record: Path) -> dict[str, Any]:
    from misgan.io import read_json

    try:
        return dict(read_json(record))
    except Exception:  # absent, or half-written by a holder killed mid-write
        return {}


def _describe(h: dict[str, Any]) -> str:
    if not h:
        return "unknown holder"
    return f"pid {h.get('pid', '?')} on {h.get('host', '?')}, started {h.get('started', '?')}"


def acquire(lock_path: Path, what: str) -> None:
    """Take the lock at `lock_path` (re-entrant in this process); LockError if another process holds it."""
    from filelock import FileLock, Timeout

    from misgan.io import write_json

    key = str(lock_path.resolve())
    if key in _HELD:
        _HELD[key][1] += 1
        return
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    record = lock_path.with_name(lock_path.name + ".json")
    lock = FileLock(str(lock_path), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise LockError(
            f"{lock_path.parent / lock_path.name.removesuffix('.lock')}: another misgan process is writing this "
            f"{what} ({_describe(_holder(record))}); wait for it to finish or stop it"
        ) from None
    old = _holder(record)
    if old and old.get("pid") != os.getpid():
        # one plain line on stderr (a Python warning would print its source line too)
        print(f"warning: {lock_path}: took over the lock of a {what} writer that is gone ({_describe(old)})",
              file=sys.stderr)  # fmt: skip
    now = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    write_json(record, {"pid": os.getpid(), "host": socket.gethostname(), "started": now})
    _HELD[key] = [lock, 1]


def release(lock_path: Path) -> None:
    key = str(lock_path.resolve())
    held = _HELD.get(key)
    if held is None:
        return
    held[1] -= 1
    if held[1] > 0:
        return
    del _HELD[key]
    with contextlib.suppress(OSError):
        lock_path.with_name(lock_path.name + ".json").unlink()
    held[0].release()


def cache_lock_path(target: Path) -> Path:
    return target.with_name(target.name + ".lock")


@contextlib.contextmanager
def writer_lock(target: Path, what: str = "feature cache") -> Iterator[None]:
    """Hold the writer lock of a cache (or any path) for the duration of the block."""
    lock_path = cache_lock_path(Path(target))
    acquire(lock_path, what)
    try:
        yield
    finally:
        release(lock_path)
