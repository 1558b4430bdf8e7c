"""Pipeline speed: CPU time of `misgan align` + `misgan gan` + `misgan augment --methods none,smote,ours` over
RAVDESS's 24 leave-one-speaker-out folds (cached eGeMAPS, every command's defaults), next to scikit-learn's
logistic regression over the same folds (process start included), and the IEMOCAP-sized GAN fold of
bench/gan.py (time and quality).

    python bench/pipeline.py [--cache PATH] [--workdir DIR] [--jobs N] [--folds N] [--skip-gan-fold] [--json OUT]

CPU time is user + system of every subprocess (resource.getrusage(RUSAGE_CHILDREN)), so it is the work done,
not the wall time a shared machine stretches. Each command runs in its own process from `--workdir` (its
runs/ folder holds the stage outputs; the cache is only read). PYTHONPATH decides which misgan is measured
(the "before" figures came from a git worktree of the earlier commit). `--folds N` (N >= 2) runs the first N
folds (`--fold` on every stage) and, in a second workdir, the first fold alone: per stage the cost of a fold is
(T_N - T_1) / (N - 1) and the fixed cost (process start, imports, first-call warm-up, report and plots) is
T_1 minus one fold, so the estimate for all folds is fixed + folds x per fold (scaling the whole N-fold time
would count the fixed cost once per N folds: the first fold of augment costs 11 s, the next 0.6 s).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_CACHE = Path("/work/research/caches/ravdess-egemaps.zarr")
TARGET_PIPELINE_CPU = 60.0
TARGET_GAN_FOLD = 60.0

LR_SCRIPT = """
import sys
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from misgan.features.store import open_store

store = open_store(sys.argv[1])
x, y = store.read("audio"), store.labels
spk = store.meta()["speaker"].astype(str).to_numpy()
uars = []
for s in sorted(set(spk)):
    te = spk == s
    m = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, class_weight="balanced", max_iter=2000))
    m.fit(x[~te], y[~te])
    uars.append(balanced_accuracy_score(y[te], m.predict(x[te])))
print(f"LR {len(uars)} folds UAR {np.mean(uars):.4f}")
"""


def children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> dict[str, float | str]:
    """Run `cmd`; its CPU seconds (user + system, its whole process tree once reaped) and wall seconds."""
    c0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    wall, cpu = time.perf_counter() - t0, children_cpu() - c0
    if proc.returncode:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    return {"cpu_s": cpu, "wall_s": wall, "tail": proc.stdout.strip().splitlines()[-1] if proc.stdout else ""}


def fold_names(cache: Path) -> list[str]:
    """The leave-one-speaker-out fold names of `cache`, as `misgan align` names them."""
    from misgan.features.store import open_store

    store = open_store(cache)
    try:
        return [f"spk-{s}" for s in sorted(set(store.meta()["speaker"].astype(str)))]
    finally:
        store.close()


def last_run(workdir: Path, kind: str) -> str:
    runs = sorted((workdir / "runs").glob(f"*/{kind}-*"), key=lambda p: p.stat().st_mtime)
    return str(runs[-1])


def pipeline(cache: Path, workdir: Path, jobs: int, folds: list[str], env: dict[str, str]) -> dict[str, dict]:
    workdir.mkdir(parents=True, exist_ok=True)
    py = [sys.executable, "-m", "misgan"]
    extra = ["--jobs", str(jobs)] if jobs != 1 else []
    only = [a for f in folds for a in ("--fold", f)]
    steps = {
        "align": lambda: [*py, "align", "--cache", str(cache), *only, *extra],
        "gan": lambda: (
            [*py, "gan", "--cache", str(cache), *only, *extra]
            + (["--align-run", last_run(workdir, "align")] if folds else [])
        ),
        "augment": lambda: (
            [*py, "augment", "--cache", str(cache), "--methods", "none,smote,ours", *only, *extra]
            + (["--align-run", last_run(workdir, "align"), "--gan-run", last_run(workdir, "gan")] if folds else [])
        ),
    }
    out = {}
    for name, cmd in steps.items():
        out[name] = timed(cmd(), workdir, env)
        print(f"  {name:<8} {out[name]['cpu_s']:8.1f} s CPU {out[name]['wall_s']:8.1f} s wall", flush=True)
    return out


def gan_fold(env: dict[str, str], epochs: int, preset: str) -> dict[str, float | str]:
    """bench/gan.py's IEMOCAP-sized problem (helper B's; 0 epochs = the preset's own), one thread; its output
    (time per epoch, consistency, AUC) quoted."""
    script = Path(__file__).with_name("gan.py")
    cmd = [sys.executable, str(script), "--epochs", str(epochs), "--preset", preset, "--threads", "1"]
    c0, t0 = children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    res: dict[str, float | str] = {"cpu_s": children_cpu() - c0, "wall_s": time.perf_counter() - t0}
    res["output"] = (proc.stdout + (proc.stderr if proc.returncode else "")).strip()[-2000:]
    res["ok"] = str(proc.returncode == 0)
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/misgan-bench-pipeline"))
    ap.add_argument("--jobs", type=int, default=1, help="--jobs for every stage (1 = the commands' default)")
    ap.add_argument(
        "--folds", type=int, default=0, help="N >= 2: the first N folds and the first alone, extrapolated (0: all)"
    )
    ap.add_argument("--gan-epochs", type=int, default=0, help="IEMOCAP-sized fold: epochs (0: the preset's)")
    ap.add_argument("--gan-preset", choices=("paper", "on_manifold"), default="paper")
    ap.add_argument("--skip-gan-fold", action="store_true", help="skip the IEMOCAP-sized GAN fold")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    if not args.cache.exists():
        print(f"skipped: no cache at {args.cache}")
        return 0
    args.workdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    print(f"pipeline on {args.cache} (workdir {args.workdir}, {os.cpu_count()} logical CPUs, jobs {args.jobs})")
    names = fold_names(args.cache)
    subset = names[: args.folds] if 1 < args.folds < len(names) else []
    if subset:
        print(f"  folds {', '.join(subset)}, and the first alone: per stage, the per-fold cost is the")
        print(f"  difference over {len(subset) - 1} extra fold(s), the fixed cost (start, imports, warm-up,")
        print(f"  report) the rest of the one-fold run; total = fixed + {len(names)} x per fold")
        one = pipeline(args.cache.resolve(), args.workdir / "one-fold", args.jobs, subset[:1], env)
    steps = pipeline(args.cache.resolve(), args.workdir, args.jobs, subset, env)
    lr = timed([sys.executable, "-c", LR_SCRIPT, str(args.cache.resolve())], args.workdir, env)
    cpu = wall = 0.0
    for name, st in steps.items():
        if not subset:
            cpu, wall = cpu + float(st["cpu_s"]), wall + float(st["wall_s"])
            continue
        per = {k: (float(st[k]) - float(one[name][k])) / (len(subset) - 1) for k in ("cpu_s", "wall_s")}
        fixed = {k: float(one[name][k]) - per[k] for k in per}
        st["per_fold"], st["fixed"] = per, fixed
        print(f"  {name:<8} fixed {fixed['cpu_s']:6.1f} s CPU, per fold {per['cpu_s']:6.2f} s CPU")
        cpu += fixed["cpu_s"] + len(names) * per["cpu_s"]
        wall += fixed["wall_s"] + len(names) * per["wall_s"]
    ratio = cpu / float(lr["cpu_s"])
    est = " (estimated from the subset)" if subset else ""
    print(f"  {'total':<8} {cpu:8.1f} s CPU {wall:8.1f} s wall over {len(names)} folds{est}")
    print(f"  sklearn LR {float(lr['cpu_s']):.1f} s CPU ({lr['tail']}); ratio misgan / LR = {ratio:.0f}x")
    verdict = "met" if cpu <= TARGET_PIPELINE_CPU else "MISSED"
    print(f"  target <= {TARGET_PIPELINE_CPU:.0f} s CPU: {verdict}")
    result = {"steps": steps, "cpu_s": cpu, "wall_s": wall, "lr": lr, "ratio": ratio, "folds": subset or names}
    if not args.skip_gan_fold:
        g = gan_fold(env, args.gan_epochs, args.gan_preset)
        print(f"IEMOCAP-sized GAN fold: {float(g['wall_s']):.1f} s wall, {float(g['cpu_s']):.1f} s CPU")
        print("  " + str(g["output"]).replace("\n", "\n  "))
        result["gan_fold"] = g
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
