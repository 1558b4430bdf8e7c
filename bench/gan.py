"""Stage-2 training-loop efficiency: useful FLOP/s of `fit_gan` over this machine's float32 matmul FLOP/s.

An IEMOCAP-sized problem with random data (5,531 rows, 768-dim h and t, 4 classes, paper-default linear
G and D with mixup, both MI terms). Useful FLOPs per step are counted analytically from the matmuls the
step must do (2·m·n·k per matmul; a backward pass costs the input-gradient and/or weight-gradient
matmuls that autograd actually needs: none of the input gradient of G's first layer, none of the weight
gradients of the frozen heads). The diagnostic D(h), D(ĥ) forwards are not counted. Time is the sum of
the epochs' training-step time (`train_s` in the history; per-epoch evaluation excluded and reported
apart, with the fold's wall time).

    python bench/gan.py [--epochs 5] [--threads N] [--preset paper|on_manifold] [--write-docs]

`--preset` picks `GanConfig.paper()` (default) or `GanConfig.on_manifold()`; `--epochs 0` keeps the preset's
epochs (and patience), i.e. the seconds per fold at the default epochs. The quality figures of the kept
generator (consistency, absolute and relative to the real rows', real-vs-generated AUC against the training
rows) are printed with the times.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch


def step_flops(b: int, noise: int, c: int, dh: int, dt: int) -> float:
    """Matmul FLOPs of one training step of the linear, mixup, MI + text configuration."""
    mm = lambda m, n, k: 2.0 * m * n * k  # noqa: E731
    g_in = noise + c + dt
    g = mm(b, g_in, dh) * 2  # forward + weight gradient (its input is data: no input gradient)
    d_step = mm(b, dh, 1) * 2  # D on the mixes: forward + weight gradient (mixes carry no gradient)
    g_adv = mm(b, dh, 1) * 3  # D on the G-step mixes: forward, input and weight gradient
    heads = mm(b, dh, c) * 2  # W_y: forward + input gradient
    if dt > dh:  # L_It factorised through h (info_nce_keys: u·W_t precomputed once per fold, not per step),
        heads += mm(b, dh, dh) * 2  # h·Q (forward + input gradient), the (b, b) similarities in h's width
        nce = mm(b, dh, b) * 2
    else:  # the plain form: t̂ = W_t·h (forward + input gradient), similarities in t's width
        heads += mm(b, dh, dt) * 2
        nce = mm(b, dt, b) * 2
    return g + d_step + g_adv + heads + nce


def matmul_peak(n: int = 2048, repeats: int = 10) -> float:
    """Best float32 torch.mm FLOP/s over `repeats` timed products of two n x n matrices."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return 2.0 * n**3 / best


def problem(n: int, c: int, dh: int, dt: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, c, n)
    # overlapping classes (real rows' head consistency ~0.67, not 1) and a least-squares head, so the
    # quality figures can move both ways
    h = (0.04 * rng.normal(size=(c, dh))[y] + rng.normal(size=(n, dh))).astype(np.float32)
    t = (0.1 * rng.normal(size=(c, dt))[y] + rng.normal(size=(n, dt))).astype(np.float32)
    w = np.linalg.lstsq(np.c_[h, np.ones(n)], np.eye(c)[y], rcond=None)[0]
    heads = {
        "W_y": w[:-1].T.astype(np.float32),
        "b_y": w[-1].astype(np.float32),
        "W_t": (0.05 * rng.normal(size=(dt, dh))).astype(np.float32),
        "b_t": np.zeros(dt, np.float32),
    }
    return h, y, t, heads


def write_section(path: Path, body: str) -> None:
    """Replace (or append) the `## GAN` section of docs/benchmarks.md, leaving other sections alone."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = "## GAN\n\n" + body.strip() + "\n"
    pattern = re.compile(r"^## GAN\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(section + "\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + section
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def run_once(args: argparse.Namespace, threads: int) -> dict[str, float]:
    from misgan.gan.train import GanConfig, fit_gan

    h, y, t, heads = problem(args.rows, args.classes, args.dim, args.text_dim)
    preset = GanConfig.on_manifold if args.preset == "on_manifold" else GanConfig.paper
    fixed = {"epochs": args.epochs, "patience": 0} if args.epochs else {}
    config = preset(batch_size=args.batch_size, threads=threads, **fixed)
    torch.set_num_threads(threads)
    peak_before = matmul_peak()
    t0 = time.perf_counter()
    result = fit_gan(h, y, t, heads, config)
    wall = time.perf_counter() - t0
    torch.set_num_threads(threads)
    peak = max(peak_before, matmul_peak())  # the machine is shared: take the better of two measurements
    hist = result.history
    steps = sum(r["steps"] for r in hist)
    train_s = sum(r["train_s"] for r in hist)
    eval_s = sum(r.get("eval_s", 0.0) for r in hist)
    per_step = step_flops(args.batch_size, config.noise_dim, args.classes, args.dim, args.text_dim)
    return {
        "threads": threads,
        "peak": peak,
        "achieved": per_step * steps / train_s,
        "per_step": per_step,
        "steps": steps,
        "epochs": len(hist),
        "train_s": train_s,
        "eval_s": eval_s,
        "wall": wall,
        "default_epochs": preset().epochs,
        "consistency": result.metrics["consistency"],
        "relative_consistency": result.metrics.get("relative_consistency", float("nan")),
        "auc_train": result.metrics.get("auc_train", float("nan")),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=5531)
    ap.add_argument("--dim", type=int, default=768, help="width of h")
    ap.add_argument("--text-dim", type=int, default=768)
    ap.add_argument("--classes", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=3, help="0: the preset's epochs and patience")
    ap.add_argument("--preset", choices=("paper", "on_manifold"), default="paper")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument(
        "--threads", default=f"1,{os.cpu_count() or 1}", help="comma-separated thread counts to measure"
    )
    ap.add_argument("--write-docs", action="store_true", help="write the figures into docs/benchmarks.md")
    args = ap.parse_args(argv)

    runs = [run_once(args, n) for n in sorted({int(x) for x in args.threads.split(",")})]
    peak = max(r["peak"] for r in runs)  # the machine's float32 matmul rate, whatever the thread count
    best = max(runs, key=lambda r: r["achieved"])
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    lines = [
        f"- problem: {args.rows} rows, h {args.dim}-dim, t {args.text_dim}-dim, {args.classes} classes "
        f"(random data); linear G and D, mixup, both MI terms; batch {args.batch_size}",
        f"- machine: {platform.machine()}, `os.cpu_count()` = {os.cpu_count()}, torch {torch.__version__}, "
        f"1-min load average {load:.1f} when it finished (the CPU is shared)",
        f"- useful matmul FLOPs per step (analytic): {best['per_step'] / 1e9:.3f} GFLOP",
    ]
    for r in runs:
        lines.append(
            f"- {r['threads']} thread(s): loop {r['achieved'] / 1e9:.1f} GFLOP/s over {r['steps']} steps; "
            f"torch.mm peak (2048², best of 10) {r['peak'] / 1e9:.1f} GFLOP/s; "
            f"ratio to this thread count's peak {r['achieved'] / r['peak']:.2f}; kept generator: consistency "
            f"{r['consistency']:.3f} (relative {r['relative_consistency']:.2f}), AUC vs training rows "
            f"{r['auc_train']:.3f}"
        )
    epoch_s = (best["train_s"] + best["eval_s"]) / best["epochs"]
    lines += [
        f"- **ratio useful / peak: {best['achieved'] / peak:.2f}** (best loop, {best['threads']} thread(s), over "
        f"the best measured peak, {peak / 1e9:.1f} GFLOP/s)",
        f"- wall time per fold ({best['threads']} thread(s)): {best['wall']:.1f} s for {best['epochs']} epochs "
        f"({best['train_s'] / best['epochs']:.2f} s/epoch training + {best['eval_s'] / best['epochs']:.2f} "
        f"s/epoch evaluation; the rest is the final real-vs-generated AUC); the default "
        f"{best['default_epochs']} epochs would take about {epoch_s * best['default_epochs'] / 60:.1f} min "
        "per fold before early stopping",
    ]
    print("\n".join(lines))
    if args.write_docs:
        body = (
            f"Measured by `python bench/gan.py --write-docs` on {time.strftime('%Y-%m-%d')} (counting and "
            "timing rules in the script's docstring).\n\n" + "\n".join(lines)
        )
        write_section(Path(__file__).resolve().parents[1] / "docs" / "benchmarks.md", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
