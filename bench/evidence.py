"""The evidence table of issue 11: does augmentation help, where, and by how much (Δ vs none, Holm p, n).

    python bench/evidence.py [--quick] [--caches egemaps=PATH,compare=PATH,whisper=PATH] [--runs-root DIR]
                             [--fractions 0.1,0.25,0.5,1] [--seeds 3] [--folds 24] [--gan-epochs N]
                             [--source-cache PATH] [--text-source CSV] [--out evidence.md] [--jobs N]

Per feature set: stage 1 (`misgan.align`, grouped folds over speakers: leave-one-speaker-out with --folds 24,
else `kfold` with k = --folds), then stage 3 (`misgan.augment`) with the low-resource protocol (every fraction,
every seed) for: the logistic-regression reference (same features and folds), stage 1 (its stored head, full
fraction), none, noise, mixup, SMOTE, class-conditional Gaussian, label-only GAN (cgan), ours (paper settings),
ours (the tool's default GanConfig), ours (on-manifold), ours (paper with an MLP G and D), ours (paper with a
projection D), ours (validation-gated), ours with a source corpus (--source-cache) and ours with MELD text
(--text-source). Each augment call scores its own "none" on the same
folds, seeds and fraction rows (deterministic), so every Δ is paired per fold × seed; p is the two-sided
Wilcoxon over those units, Holm-corrected across all augmenter rows of one feature set and fraction.
The markdown table is written to --out and printed. Run folders go to --runs-root (a scratch folder; the
caches are only read).

--quick: eGeMAPS only, fractions 0.25,1, 8 grouped folds, 3 seeds, 40 GAN epochs (about 10 minutes on 2
cores). The full form (3 feature sets, 4 fractions, 24 folds, 3 seeds, the GANs' default epochs) is printed
as an estimate scaled from the measured time of the run; expect several hours on 2 cores (the GANs dominate:
one in-fold generator per fold, seed and fraction below 1).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

CACHES = "/work/research/caches/ravdess-{}.zarr"
FEATURES = ("egemaps", "compare", "whisper")
MELD = "/work/shared/data/meld-text/meld_text_emotion.csv"
# paper-faithful generator: one linear layer from random init, plain D, no PCA manifold
PAPER = {"arch": "linear", "init_from_data": False, "manifold": False, "disc": "plain"}
# the tool's default (GanConfig() = GanConfig.paper()): the paper's G and D, but G's noise columns and bias start
# at the data's within-class principal directions and mean (init_from_data); class and text columns at torch's init
DEFAULT: dict[str, Any] = {}
# on-manifold generator (issue 11.2, helper B): data-initialised conditioning, PCA subspace, projection D
ON_MANIFOLD = {"init_from_data": True, "manifold": True, "disc": "projection"}
BASE_METHODS = ("none", "noise", "mixup", "smote", "cgauss", "cgan", "ours", "ours-gated")
TITLES = {
    "reference": "logistic regression, same features and folds",
    "stage1": "stage-1 head",
    "none": "none",
    "noise": "noise",
    "mixup": "mixup",
    "smote": "SMOTE",
    "cgauss": "class-conditional Gaussian",
    "cgan": "label-only GAN",
    "ours": "ours (paper settings, G from torch's init)",
    "ours-gated": "ours (validation-gated)",
    "ours-default": "ours (default GanConfig.paper(): G's noise columns from the data)",
    "ours-manifold": "ours (on-manifold)",
    "ours-mlp": "ours (paper, MLP G and D)",
    "ours-projection": "ours (paper, projection D)",
    "ours-source": "ours + source corpus",
    "ours-text": "ours + MELD text",
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="eGeMAPS, fractions 0.25,1, 8 folds, 3 seeds")
    ap.add_argument("--caches", default="", help="name=path,...; default the three RAVDESS caches")
    ap.add_argument("--runs-root", default="/tmp/misgan-evidence/runs")
    ap.add_argument("--fractions", default="")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--folds", type=int, default=0, help="24 = leave one speaker out; else grouped k-fold")
    ap.add_argument("--gan-epochs", type=int, default=0, help="0: the GanConfig default (quick: 40)")
    ap.add_argument("--clf-epochs", type=int, default=0, help="0: the ClassifierConfig default")
    ap.add_argument("--source-cache", default="", help="another corpus' cache, same encoders (ours + source)")
    ap.add_argument("--text-source", default=MELD, help="text-only CSV for ours + text ('' to skip)")
    ap.add_argument("--out", default="evidence.md")
    ap.add_argument("--jobs", type=int, default=1, help="(fold, seed) jobs in parallel processes (augment --jobs)")
    ap.add_argument(
        "--variants",
        default="base,default,manifold,mlp,projection,source,text",
        help="augment calls to run: base (the methods of Table II, ours, gated), default (GanConfig() as "
        "`misgan gan` runs it), manifold, mlp, projection, source, text, gated (none and ours-gated only)",
    )
    return ap.parse_args(argv)


def settings(args: argparse.Namespace) -> dict[str, Any]:
    caches = dict(kv.split("=", 1) for kv in args.caches.split(",") if kv) or {
        f: CACHES.format(f) for f in (FEATURES[:1] if args.quick else FEATURES)
    }
    fractions = args.fractions or ("0.25,1" if args.quick else "0.1,0.25,0.5,1")
    return {
        "caches": caches,
        "fractions": tuple(float(f) for f in fractions.split(",")),
        "folds": args.folds or (8 if args.quick else 24),
        "gan_epochs": args.gan_epochs or (40 if args.quick else 0),
    }


def variants(args: argparse.Namespace) -> list[tuple[str, tuple[str, ...], dict[str, Any], dict[str, Any]]]:
    """(row prefix, methods, GanConfig overrides, AugmentConfig overrides) per augment call, those of
    --variants only ("gated": none and ours-gated alone, to rerun the gate's rows)."""
    out = [("", BASE_METHODS, PAPER, {}), ("default", ("none", "ours"), DEFAULT, {})]
    out += [("manifold", ("none", "ours"), ON_MANIFOLD, {})]
    # the architecture options of issue 11.2 one at a time on the paper generator: MLP G/D, projection D
    out += [("mlp", ("none", "ours"), {**PAPER, "arch": "mlp"}, {})]
    out += [("projection", ("none", "ours"), {**PAPER, "disc": "projection"}, {})]
    if args.source_cache:
        out.append(("source", ("none", "ours"), ON_MANIFOLD, {"source_caches": (args.source_cache,)}))
    if args.text_source and Path(args.text_source).is_file():
        out.append(("text", ("none", "ours"), ON_MANIFOLD, {"text_source": args.text_source}))
    out.append(("gated", ("none", "ours-gated"), PAPER, {}))
    wanted = set(args.variants.split(","))
    unknown = wanted - {p or "base" for p, *_ in out} - {"source", "text"}
    if unknown:
        raise SystemExit(f"evidence: unknown --variants {', '.join(sorted(unknown))}")
    return [v for v in out if (v[0] or "base") in wanted]


def run_feature_set(name: str, cache: str, args: argparse.Namespace, s: dict[str, Any]) -> list[dict[str, Any]]:
    """Stage 1 once, then one augment call per variant; rows of the evidence table (one per fraction, method)."""
    import misgan
    from misgan.alignment.config import AlignConfig
    from misgan.augmentation.config import AugmentConfig, ClassifierConfig
    from misgan.config import replace
    from misgan.gan.config import GanConfig
    from misgan.io import read_json

    root = Path(args.runs_root)
    protocol = {"protocol": "loso-speaker"} if s["folds"] >= 24 else {"protocol": "kfold", "k": s["folds"]}
    align = misgan.align(cache, replace(AlignConfig(), **protocol), runs_root=root, progress=False)
    rows: list[dict[str, Any]] = []
    for prefix, methods, gan_over, aug_over in variants(args):
        gan = replace(GanConfig(), **gan_over, **({"epochs": s["gan_epochs"]} if s["gan_epochs"] else {}))
        clf = (
            ClassifierConfig() if not args.clf_epochs else replace(ClassifierConfig(), max_epochs=args.clf_epochs)
        )
        cfg = AugmentConfig(
            methods=methods, seeds=args.seeds, train_fractions=s["fractions"], gan=gan, classifier=clf,
            tsne=False, threads=1, jobs=args.jobs, **aug_over,
        )  # fmt: skip
        t0 = time.time()
        result = misgan.augment(cache, cfg, align_run=align.run_dir, runs_root=root, progress=False)
        res = read_json(Path(result.run_dir) / "results.json")
        print(f"{name} {prefix or 'base'}: {time.time() - t0:.0f} s, run {result.run_dir}", file=sys.stderr)
        rows += table_rows(name, prefix, res)
    return rows


def table_rows(name: str, prefix: str, res: dict[str, Any]) -> list[dict[str, Any]]:
    from misgan.metrics import mean_std

    out = []
    for frac, per in res["summary"].get("fractions", {}).items():
        for v, row in per.items():
            if prefix == "gated":
                if v != "ours-gated":
                    continue  # the gate's own call adds only the gated row
                key = v
            elif prefix and v != "ours":
                continue  # the variant calls only add their own "ours" row
            else:
                key = f"ours-{prefix}" if prefix else v
            d = row.get("vs_none") or {}
            out.append(
                {"features": name, "fraction": float(frac), "method": key, "uar": row["uar"]["mean"],
                 "delta": d.get("delta"), "p": d.get("p"), "n": d.get("n_units", row["n_units"]),
                 "worse": d.get("worse"), "better": d.get("better")}
            )  # fmt: skip
    base = [b["uar"] for b in (res.get("stage1_baseline") or {}).values() if b]
    if not prefix and base:
        out.append(
            {"features": name, "fraction": 1.0, "method": "stage1", "uar": mean_std(base)[0], "n": len(base)}
        )
    return out


def holm_rows(rows: list[dict[str, Any]]) -> None:
    """Holm across every augmenter row of one feature set and fraction (all augment calls together)."""
    from misgan.stats import holm

    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("p") is not None and r["method"] not in ("none", "reference", "stage1"):
            groups.setdefault((r["features"], r["fraction"]), []).append(r)
    for group in groups.values():
        for r, p in zip(group, holm([r["p"] for r in group]), strict=True):
            r["p_holm"] = p


def markdown(rows: list[dict[str, Any]], seconds: float, s: dict[str, Any], seeds: int) -> str:
    order = list(TITLES)
    lines = [
        "| features | fraction | method | UAR % | Δ vs none (pp) | Holm p | paired units | worse / better |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(rows, key=lambda r: (r["features"], r["fraction"], order.index(r["method"]))):
        delta = "–" if r.get("delta") is None else f"{100 * r['delta']:+.2f}"
        p = "–" if r.get("p_holm") is None else f"{r['p_holm']:.3g}"
        wb = "–" if r.get("worse") is None else f"{r['worse']} / {r['better']}"
        lines.append(
            f"| {r['features']} | {r['fraction']:g} | {TITLES[r['method']]} | {100 * r['uar']:.2f} | {delta} "
            f"| {p} | {r['n']} | {wb} |"
        )
    lines += [
        "",
        f"{len(s['caches'])} feature set(s), fractions {', '.join(f'{f:g}' for f in s['fractions'])}, "
        f"{s['folds']} grouped folds, {seeds} seeds; wall time {seconds / 60:.1f} min.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    s = settings(args)
    t0 = time.time()
    rows: list[dict[str, Any]] = []
    for name, cache in s["caches"].items():
        if not Path(cache).exists():
            print(f"evidence: {cache}: not found; skipped", file=sys.stderr)
            continue
        rows += run_feature_set(name, cache, args, s)
    holm_rows(rows)
    seconds = time.time() - t0
    text = markdown(rows, seconds, s, args.seeds)
    Path(args.out).write_text(text)
    print(text)
    if args.quick:
        # full form: 3 feature sets, 4 fractions (GANs retrained below 1), 24 folds; GAN epochs ~ default
        scale = (3 / len(s["caches"])) * (4 / len(s["fractions"])) * (24 / s["folds"])
        print(
            f"full form estimate: about {seconds * scale / 3600:.1f} h at the quick GAN epochs (more at defaults)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
