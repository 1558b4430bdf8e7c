"""No-op reruns (issue 13 item 5): a rerun of `misgan extract`, `align`, `gan` or `augment` with the very same
arguments finds its finished cache or keyed run and finishes in under 3 s.

    python bench/noop.py [--cache PATH] [--workdir DIR] [--folds 2] [--repeats 3] [--no-extract] [--profile DIR]

1. A small real cache: a copy of /work/research/caches/ravdess-egemaps.zarr in the work folder (or `--cache`),
   so nothing is written next to the original.
2. `misgan align`, `misgan gan --epochs 2` and `misgan augment --methods none,smote,ours --epochs 2` on the
   first `--folds` stage-1 folds (`--fold`; gan and augment name the align run with `--align-run`, since a
   2-fold align run is not complete and is no default), each run once, then rerun with identical arguments.
   Every command is a fresh `python -m misgan` subprocess, as a user types it: the rerun's figures include
   the interpreter start and the imports.
3. `misgan extract` on a tiny synthetic corpus (8 tone clips, tests/store_fixtures.make_wav_corpus) with the
   default offline encoders (eGeMAPS, MiniLM text; --text-encoder none when MiniLM's weights are absent).
4. `align*`: a complete align run (all 4 folds of a 4-speaker synthetic cache, tests/store_fixtures), rerun:
   the 2-fold runs of step 2 stay partial (2 of 24 folds), so this row is the reuse of a finished run.
5. Per command: the fastest of `--repeats` reruns, its wall seconds, its CPU seconds (user + system of the
   child, resource.getrusage(RUSAGE_CHILDREN)), and what it said (reused / up to date / resumed with nothing
   to do).
   `--profile DIR` reruns each command once more under cProfile (DIR/<command>.prof).
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCE = Path("/work/research/caches/ravdess-egemaps.zarr")
LIMIT_S = 3.0
# what each command prints when it finds its finished work (the first match names the outcome)
SAID = (
    (r"reusing the complete run", "reused"),
    (r"align: up to date for these", "up to date (open --fold run)"),
    (r"up to date", "up to date"),
    (r"reused augment run", "reused"),
    (r"resuming .*: (\d+) of (\d+) folds already done", "resumed, nothing to train"),
)


def run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, float, str, int]:
    """(wall s, CPU s, output, exit code) of one `python -m misgan ...` subprocess."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, p.stdout + p.stderr, p.returncode


def said(output: str) -> str:
    for pattern, name in SAID:
        if re.search(pattern, output):
            return name
    return "NOT REUSED"


def fold_names(cache: Path, n: int) -> list[str]:
    from misgan.alignment.config import AlignConfig
    from misgan.data.folds import make_folds
    from misgan.features.store import open_store

    cfg = AlignConfig()
    with open_store(cache) as store:
        return [f.name for f in make_folds(store.meta(), cfg.protocol, k=cfg.k, seed=cfg.seed)[:n]]


def extract_argv(work: Path, env: dict[str, str]) -> list[str] | None:
    """`misgan extract` on 8 synthetic clips; None (with a note) when it cannot be set up here."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from store_fixtures import make_wav_corpus

        from misgan.data.manifest import write_manifest
    except ImportError as e:
        print(f"note: extract skipped ({e})")
        return None
    write_manifest(make_wav_corpus(work / "wavs", n_speakers=2, per_class=1), work / "m.csv")
    return ["extract", "--manifest", "m.csv", "-o", "tiny.zarr", "--no-progress"]  # the default encoders


def tiny_cache(work: Path) -> Path | None:
    """A 4-speaker synthetic cache (tests/store_fixtures) whose align run can be completed in seconds: the
    reuse of a COMPLETE align run (the 2-fold runs above stay partial: 2 of 24 folds)."""
    sys.path.insert(0, str(REPO / "tests"))
    try:
        from store_fixtures import make_feature_store
    except ImportError as e:
        print(f"note: the complete-run align row skipped ({e})")
        return None
    path = work / "tiny4.zarr"
    if not path.exists():
        make_feature_store(path, n_speakers=4, per_class=4, da=8, dt=6).close()
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", type=Path, help="use this cache (runs are written under --workdir)")
    ap.add_argument("--workdir", type=Path, help="default: a new temporary folder")
    ap.add_argument("--folds", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="reruns per command; the fastest is reported")
    ap.add_argument("--no-extract", action="store_true")
    ap.add_argument("--profile", type=Path, help="also rerun each command under cProfile into DIR/<cmd>.prof")
    args = ap.parse_args()

    work = (args.workdir or Path(tempfile.mkdtemp(prefix="misgan-noop-"))).resolve()
    work.mkdir(parents=True, exist_ok=True)
    cache = args.cache.resolve() if args.cache else work / SOURCE.name
    if not args.cache and not cache.exists():
        shutil.copytree(SOURCE, cache)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    env.setdefault("OMP_NUM_THREADS", "1")
    folds = fold_names(cache, args.folds)
    print(f"work folder {work}; cache {cache}; folds {', '.join(folds)}; load {os.getloadavg()[0]:.2f}")
    base = ["--cache", str(cache), *[a for f in folds for a in ("--fold", f)], "--no-progress"]

    def stage(name: str) -> list[str]:  # gan and augment name the (partial) align run made first
        align_run = str(next((work / "runs" / cache.stem).glob("align-*")))
        methods = ["--methods", "none,smote,ours"] if name == "augment" else []
        return [name, *base, "--epochs", "2", "--align-run", align_run, *methods]

    tiny = tiny_cache(work)
    small = ["--h-dim", "8", "--epochs", "3", "--no-progress"]
    commands = [
        ("extract", None if args.no_extract else lambda: extract_argv(work, env)),
        ("align", lambda: ["align", *base]),
        ("gan", lambda: stage("gan")),
        ("augment", lambda: stage("augment")),
        ("align*", None if tiny is None else lambda: ["align", "--cache", str(tiny), *small]),
    ]
    rows = []
    for name, make in commands:
        argv = make() if make is not None else None
        if argv is None:
            continue
        cmd = [sys.executable, "-m", "misgan", *argv]
        first_wall, _, out, rc = run(cmd, work, env)
        if rc != 0 and name == "extract":  # the default text encoder's weights are not on disk here
            print(f"note: extract with the default encoders failed (exit {rc}); using --text-encoder none")
            argv, cmd = [*argv, "--text-encoder", "none"], [*cmd, "--text-encoder", "none"]
            first_wall, _, out, rc = run(cmd, work, env)
        if rc != 0:
            sys.exit(f"{name}: the first run failed (exit {rc}):\n{out[-3000:]}")
        best = None
        for _ in range(max(1, args.repeats)):
            wall, cpu, out, rc = run(cmd, work, env)
            if rc != 0:
                sys.exit(f"{name}: the rerun failed (exit {rc}):\n{out[-3000:]}")
            best = min(best or (wall, cpu, out), (wall, cpu, out))
        rows.append((name, first_wall, best[0], best[1], said(best[2])))
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
            prof = args.profile.resolve() / f"{name.strip('*')}{'-complete' if '*' in name else ''}.prof"
            run([sys.executable, "-m", "cProfile", "-o", str(prof), "-m", "misgan", *argv], work, env)

    threads = env["OMP_NUM_THREADS"]
    print(f"\nno-op reruns: same arguments, each a fresh `python -m misgan` process (OMP_NUM_THREADS={threads}),")
    print(f"fastest of {max(1, args.repeats)} reruns; align* = a complete align run (4 folds, synthetic cache)")
    print(f"{'command':<9} {'first run s':>11} {'rerun wall s':>12} {'rerun CPU s':>11}  {'< 3 s':<5}  said")
    for name, first, wall, cpu, what in rows:
        ok = "yes" if wall < LIMIT_S else "NO"
        print(f"{name:<9} {first:>11.1f} {wall:>12.2f} {cpu:>11.2f}  {ok:<5}  {what}")
    print(f"load average after: {os.getloadavg()[0]:.2f} (this machine: 2 cores)")


if __name__ == "__main__":
    main()
