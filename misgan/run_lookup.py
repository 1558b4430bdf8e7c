"""Finding the run folders of a cache: every run (`find_runs`), the complete run with a key (`find_run`),
the newest complete run of a kind (`latest_run`), the listing of `misgan info` (`list_runs`, `describe_runs`),
and the folder a stage writes to (`find_or_create`: the complete run with its key, else a new or resumed one).

Run folders themselves (`StageRun`, `run_key`, `begin_run`) are misgan.runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from misgan.errors import MisganError
from misgan.runs import RUNS_ROOT, StageRun, cache_stem, default_run_dir

KINDS = ("align", "gan", "augment")  # the stages whose keys `describe_runs` shows as upstream


def find_runs(cache: str | Path, kind: str | None = None, root: str | Path = RUNS_ROOT) -> list[StageRun]:
    """Every run folder under `root/<cache stem>/` that belongs to `cache` (by path), oldest first."""
    base = Path(root) / cache_stem(cache)
    if not base.is_dir():
        return []
    want = str(Path(cache).resolve())
    out = []
    for d in sorted(base.iterdir()):
        if not (d / "run.json").is_file():
            continue
        try:
            run = StageRun.open(d)
        except MisganError:
            continue  # a foreign or damaged folder is not ours to list
        if run.record.get("cache") == want and (kind is None or run.kind == kind):
            out.append(run)
    # `created` has whole seconds: run.json's modification time orders runs made within one second
    return sorted(out, key=lambda r: (str(r.record.get("created", "")), (r.path / "run.json").stat().st_mtime_ns))


def find_run(cache: str | Path, kind: str, key: str, root: str | Path = RUNS_ROOT) -> StageRun | None:
    """The complete run of `kind` with exactly this key, if any."""
    for run in find_runs(cache, kind, root):
        if run.key == key and run.complete:
            return run
    return None


def latest_run(cache: str | Path, kind: str, root: str | Path = RUNS_ROOT) -> StageRun | None:
    """The most recently created complete run of `kind` for `cache`."""
    done = [r for r in find_runs(cache, kind, root) if r.complete]
    return done[-1] if done else None


def list_runs(cache: str | Path, root: str | Path = RUNS_ROOT) -> list[dict[str, Any]]:
    """One row per run of `cache` (for `misgan info`): kind, key, folder, folds done, complete, upstream."""
    return [
        {
            "kind": r.kind,
            "key": r.key[:12],
            "path": str(r.path),
            "folds": len(r.folds()),
            "complete": r.complete,
            "upstream": {k: v[:12] for k, v in r.upstream.items()},
            "created": r.record.get("created"),
        }
        for r in find_runs(cache, None, root)
    ]


def find_or_create(
    cache: str | Path,
    kind: str,
    key: str,
    run_dir: str | Path | None,
    root: str | Path,
    cache_fingerprint: str | None,
    config: Any,
    upstream: Mapping[str, str] | None,
    seed: int | None,
    threads: int | None,
) -> StageRun:
    if run_dir is None:
        done = find_run(cache, kind, key, root)
        if done is not None:
            return done
        run_dir = default_run_dir(cache, kind, key, root)
    path = Path(run_dir)
    if (path / "run.json").is_file():
        run = StageRun.open(path)
        if run.complete and run.key == key and run.kind == kind:
            return run  # reused as is: nothing in a finished run folder changes
    return StageRun.create(
        path,
        kind=kind,
        key=key,
        cache=cache,
        cache_fingerprint=cache_fingerprint,
        config=config,
        upstream=upstream,
        seed=seed,
        threads=threads,
    )


def describe_runs(cache: str | Path, root: str | Path = RUNS_ROOT) -> str:
    """The `runs` section of `misgan info`: one line per run folder of `cache`, oldest first."""
    rows = list_runs(cache, root)
    where = Path(root) / cache_stem(cache)
    if not rows:
        return f"runs         none under {where} (run misgan align)"
    lines = [f"runs         {len(rows)} under {where}"]
    for r in rows:
        state = "complete" if r["complete"] else "partial"
        up = " ".join(f"{k}={v}" for k, v in r["upstream"].items() if k in KINDS)
        lines.append(
            f"  {r['kind']:<7} {r['key']}  {r['folds']:>3} folds  {state:<8}  {up or '-':<19}  {r['path']}"
        )
    return "\n".join(lines)
