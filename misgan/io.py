"""The one way misgan writes files, serialises JSON and fingerprints inputs.

- `atomic_write`: every file is written to `NAME.tmp-<pid>` in the same folder and renamed over `NAME`,
  so a reader (or a killed writer) never sees half a file and nothing already written is lost.
- `to_jsonable` / `write_json` / `read_json`: one JSON policy for numpy scalars and arrays, paths and
  dataclasses (NaN and inf are written as null: JSON has no such numbers and a strict reader rejects them).
- `fingerprint`: sha256 of canonical JSON (sorted keys, no whitespace), the same in every process.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from pathlib import Path
from typing import Any


def atomic_write(path: str | Path, data: str | bytes) -> Path:
    """Write `data` to `path` through a temporary file in the same folder and an atomic rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    mode = "wb" if isinstance(data, bytes) else "w"
    try:
        with open(tmp, mode) as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def to_jsonable(obj: Any) -> Any:
    """Plain JSON types for dataclasses, numpy values, paths, tuples and sets (NaN/inf become None)."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, bool) or obj is None or isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    # numpy without importing it: anything with .tolist() (arrays and numpy scalars)
    tolist = getattr(obj, "tolist", None)
    if callable(tolist):
        return to_jsonable(tolist())
    return str(obj)


def dumps(obj: Any, indent: int | None = 2) -> str:
    return json.dumps(to_jsonable(obj), indent=indent, allow_nan=False)


def write_json(path: str | Path, obj: Any) -> Path:
    """Atomically write `obj` as indented JSON (see `to_jsonable` for the type policy)."""
    return atomic_write(path, dumps(obj) + "\n")


def read_json(path: str | Path) -> Any:
    """Read a JSON file; a missing or corrupt file raises MisganError naming it."""
    from misgan.errors import MisganError

    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise MisganError(f"{path}: file not found") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MisganError(f"{path}: not valid JSON ({exc})") from None


def fingerprint(payload: Any) -> str:
    """sha256 (hex) of `payload` as canonical JSON: key order, tuples vs lists and the process do not matter."""
    text = json.dumps(to_jsonable(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def bytes_sha256(data: bytes | memoryview) -> str:
    """sha256 (hex) of raw bytes (an array's buffer: `memoryview(a).cast("B")`)."""
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 (hex) of a file's bytes, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()
