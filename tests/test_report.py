"""report.md and plots from a hand-made results.json (known numbers, no training)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from misgan.report.build import ReportError, build_report, load_results


def fake_results(tmp_path, with_extras: bool = True):
    folds = ["f1", "f2", "f3", "f4"]
    # UAR per fold: none 0.50, 0.60, 0.70, 0.80; ours +0.05 everywhere; smote equal to none
    base = {"f1": 0.5, "f2": 0.6, "f3": 0.7, "f4": 0.8}
    runs = []
    cm = [[3, 1], [1, 3]]
    for f in folds:
        for variant, delta in (("none", 0.0), ("smote", 0.0), ("ours", 0.05)):
            m = {"uar": base[f] + delta, "wa": base[f], "macro_f1": base[f], "confusion": cm}
            runs.append({"fold": f, "seed": 0, "variant": variant, "ratio": 1.0, "metrics": m})
        if with_extras:
            m = {"uar": base[f] + 0.1, "wa": base[f], "macro_f1": base[f], "confusion": cm}
            runs.append({"fold": f, "seed": 0, "variant": "ours", "ratio": 2.0, "metrics": m})
            for key, d in (("full", 0.05), ("noalign", 0.02), ("noalign_noaug", 0.0)):
                m = {"uar": base[f] + d, "wa": base[f], "macro_f1": base[f], "confusion": cm}
                runs.append({"fold": f, "seed": 0, "variant": f"ablation:{key}", "ratio": 1.0, "metrics": m})
    rng = np.random.default_rng(0)
    results = {
        "config": {"ratio": 1.0, "seed": 0, "gan": {"epochs": 5}, "mm_hidden": [256]},
        "cache": "x.zarr",
        "label_names": ["neg", "pos"],
        "folds": folds,
        "seeds": [0],
        "runs": runs,
        "multimodal": [
            {
                "fold": f,
                "seed": 0,
                "augmented": a,
                **{c: {"uar": base[f] + 0.01 * a} for c in ("audio", "text", "audio_text")},
            }
            for f in folds
            for a in (False, True)
        ],
        "class_counts": {"f1": {"before": [10, 4], "after": [10, 10]}},
    }
    if with_extras:
        results["tsne"] = {
            "coords": rng.normal(size=(20, 2)).tolist(),
            "labels": [0, 1] * 10,
            "source": ["real"] * 10 + ["generated"] * 10,
        }
        results["gan_history"] = {
            "f1": [
                {"epoch": e, "d_loss": 0.7, "g_adv": 0.7, "l_iy": 1 / e, "mi_bits": 0.1 * e} for e in range(1, 6)
            ]
        }
    run = tmp_path / "run"
    run.mkdir()
    (run / "results.json").write_text(json.dumps(results))
    return run


def test_report_tables_and_figures(tmp_path):
    run = fake_results(tmp_path)
    md = build_report(run).read_text()
    assert "## Table II" in md and "## Table III" in md and "## Tables IV-V" in md
    # ours: 55, 65, 75, 85 -> 70.00 ± 12.91 (sample std); none: 65.00 ± 12.91; Δ exactly +5 on every fold
    assert "| Ours (MI-regularised InfoGAN) | 65.00 ± 12.91 | 70.00 ± 12.91 |" in md
    assert "+5.00 [+5.00, +5.00]" in md
    # Wilcoxon of four equal positive differences: exact two-sided p = 2/16
    assert "| 0.125 |" in md
    # smote == none on every fold: p reported as 1 (all-zero differences)
    assert "| SMOTE | 65.00 ± 12.91 | 65.00 ± 12.91 |" in md and "+0.00 [+0.00, +0.00] | 1 |" in md
    assert "| Without cross-modal alignment | 67.00 ± 12.91 |" in md
    assert "| 2.0 | 75.00 ± 12.91 |" in md  # the ratio table
    assert "| before | 10 | 4 |" in md and "| after | 10 | 10 |" in md
    for name in ("tsne.png", "confusion.png", "gan_curves.png", "uar_vs_ratio.png"):
        assert f"]({name})" in md
        with Image.open(run / name) as im:
            im.verify()
        with Image.open(run / name) as im:
            assert im.format == "PNG" and im.size[0] > 200 and im.size[1] > 100


def test_report_without_optional_parts(tmp_path):
    run = fake_results(tmp_path, with_extras=False)
    md = build_report(run).read_text()
    assert "Table III" not in md and "tsne.png" not in md
    assert (run / "confusion.png").is_file() and not (run / "tsne.png").exists()


def test_load_results_errors_name_the_file(tmp_path):
    with pytest.raises(ReportError, match=r"results\.json: not found"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text('{"runs": [\n  1,\n  oops]}')
    with pytest.raises(ReportError, match=r"results\.json:3: invalid JSON"):
        load_results(tmp_path)
    (tmp_path / "results.json").write_text("[]")
    with pytest.raises(ReportError, match="not a misgan results file"):
        load_results(tmp_path)


# ---------------------------------------------------------------- header lines and the low-resource section


def _rewrite(run, **changes):
    path = run / "results.json"
    results = {**json.loads(path.read_text()), **changes}
    path.write_text(json.dumps(results))
    return results


def _line(md: str, start: str) -> str:
    found = [line for line in md.splitlines() if line.startswith(start)]
    assert len(found) == 1, (start, found)
    return found[0]


def _gan_run(path, key: str, seconds: dict[str, float]):
    """A gan run folder as misgan.gan.run leaves it: run.json via StageRun.create, one fold_done per fold."""
    from misgan.locks import release
    from misgan.runs import WRITER_LOCK, StageRun

    run = StageRun.create(path, kind="gan", key=key, cache="x.zarr", cache_fingerprint="fp", config={"epochs": 5})
    for fold, s in seconds.items():
        run.log.write({"fold": fold, "event": "fold_done", "seconds": s})
    release(path / WRITER_LOCK)


def test_in_corpus_header_stage1_head_and_time_with_the_gan_runs_folds(tmp_path, monkeypatch):
    run = fake_results(tmp_path, with_extras=False)
    base = {f: {"uar": u} for f, u in zip(("f1", "f2", "f3", "f4"), (0.5, 0.55, 0.6, 0.75), strict=True)}
    key = "ab" * 32
    # the gan run trained a fifth fold this augment run did not use: its time is not this run's
    _gan_run(tmp_path / "gan-abab", key, {"f1": 10.0, "f2": 20.5, "f3": 30.0, "f4": 40.0, "f9": 1000.0})
    _rewrite(
        run,
        stage1_baseline=base,
        timing={"none": 1.0, "total_s": 12.4},
        gan_run={"path": "gan-abab", "key": key, "config": {"epochs": 5}, "trained": False},
    )
    monkeypatch.chdir(tmp_path)  # results.json's gan run path is relative to the augment command's directory
    md = build_report(run).read_text()
    # UARs 50, 55, 60, 75: mean 60.00, sample std sqrt(((-10)² + (-5)² + 0² + 15²) / 3) = 10.80
    assert _line(md, "- stage-1 head") == "- stage-1 head as stored (no fine-tuning): UAR 60.00 ± 10.80"
    assert "wall time" not in md
    assert _line(md, "- stage-3 time") == (
        "- stage-3 time: 12 s (4 fold × seed jobs, summed); the generators, not included: gan run `gan-abab` "
        "(found by key), 100 s (summed over 4 folds)"  # 10 + 20.5 + 30 + 40 = 100.5, f9 left out
    )


def test_time_line_finds_the_gan_run_next_to_the_augment_run_or_says_it_is_unknown(tmp_path, monkeypatch):
    run = fake_results(tmp_path, with_extras=False)
    key = "cd" * 32
    gan = {"path": "runs/x/gan-cdcd", "key": key, "config": {}, "trained": True}
    _rewrite(run, timing={"total_s": 3.0}, gan_run=gan)
    monkeypatch.chdir(tmp_path)
    md = build_report(run).read_text()
    assert _line(md, "- stage-3 time") == (
        "- stage-3 time: 3 s (4 fold × seed jobs, summed); the generators, not included: gan run "
        "`runs/x/gan-cdcd` (trained by this augment run), training time unknown (folder not found)"
    )
    # a report rebuilt from another directory: the keyed layout puts the gan run beside the augment run
    _gan_run(tmp_path / "gan-cdcd", key, {f"f{i}": 7.0 for i in range(1, 5)})
    assert "28 s (summed over 4 folds)" in build_report(run).read_text()
    _rewrite(run, gan_run={**gan, "key": "ef" * 32})  # another run's folder under that name is not this one
    assert "training time unknown (folder not found)" in build_report(run).read_text()


def _cross_corpus(run, **cross):
    units = ["b-s1", "b-s2", "b-s3", "b-s4"]
    results = json.loads((run / "results.json").read_text())
    for r in results["runs"]:
        r["fold"] = "b-s" + r["fold"][-1]  # f1 -> b-s1 (and b-s1 stays)
    record = {"path": "b.zarr", "rows": 80, "speakers": 4, "train_fold": "spk-a1", "train_rows": 60, **cross}
    in_corpus = {"uar": 0.8125, "wa": 0.8, "macro_f1": 0.8}  # stage 1's score on ITS fold, copied to every unit
    return _rewrite(
        run,
        runs=results["runs"],
        folds=units,
        cross_corpus=record,
        stage1_baseline=dict.fromkeys(units, in_corpus),
    )


def test_cross_corpus_report_never_shows_the_in_corpus_stage1_score(tmp_path):
    run = fake_results(tmp_path, with_extras=False)
    _cross_corpus(run)
    md = build_report(run).read_text()
    assert "as stored" not in md and "81.25" not in md
    assert _line(md, "- stage-1 head") == (
        "- stage-1 head: not scored cross-corpus (stage 1 stored only fold spk-a1's in-corpus test score)"
    )
    # scored on the test corpus (cross_corpus.stage1_head, per test speaker): mean ± sample std of those
    head = {"b-s1": {"uar": 0.4}, "b-s2": {"uar": 0.5}, "b-s3": {"uar": 0.6}, "b-s4": {"uar": 0.9}}
    _cross_corpus(run, stage1_head=head)
    md = build_report(run).read_text()
    std = np.std([40, 50, 60, 90], ddof=1)
    assert _line(md, "- stage-1 head") == (
        f"- stage-1 head of fold spk-a1 (no fine-tuning) on `b.zarr`: UAR 60.00 ± {std:.2f} over 4 test speakers"
    )


def test_cross_corpus_time_counts_only_the_train_folds_generator(tmp_path, monkeypatch):
    run = fake_results(tmp_path, with_extras=False)
    key = "12" * 32
    _gan_run(tmp_path / "gan-1212", key, {"spk-a1": 877.2, "spk-a2": 900.0})
    _cross_corpus(run)
    _rewrite(run, timing={"total_s": 6.2}, gan_run={"path": "gan-1212", "key": key, "config": {}, "trained": True})
    monkeypatch.chdir(tmp_path)
    assert _line(build_report(run).read_text(), "- stage-3 time") == (
        "- stage-3 time: 6 s (4 fold × seed jobs, summed); the generators, not included: gan run `gan-1212` "
        "(trained by this augment run), 877 s (fold spk-a1)"
    )


def test_low_resource_section_and_curve_only_with_several_fractions(tmp_path):
    run = fake_results(tmp_path, with_extras=False)
    results = json.loads((run / "results.json").read_text())
    for r in results["runs"]:
        r["fraction"] = 1.0  # recorded, but the only one
    _rewrite(run, runs=results["runs"])
    md = build_report(run).read_text()
    assert "Low-resource" not in md and "% rows" not in md
    assert "learning_curve.png" not in md and not (run / "learning_curve.png").exists()

    half = [{**r, "fraction": 0.5, "metrics": {**r["metrics"], "uar": r["metrics"]["uar"] - 0.1}}
            for r in results["runs"]]  # fmt: skip
    _rewrite(run, runs=results["runs"] + half)
    md = build_report(run).read_text()
    assert md.count("## Low-resource protocol") == 1
    assert "| Method | 50 % rows | 100 % rows |" in md.splitlines()
    # none at 50 %: 40, 50, 60, 70 over the four fold units
    assert "| No augmentation | UAR 55.00 (n 4) | UAR 65.00 (n 4) |" in md.splitlines()
    assert md.count("](learning_curve.png)") == 1  # one figure, not drawn twice under two titles
    with Image.open(run / "learning_curve.png") as im:
        assert im.format == "PNG"


def test_report_of_a_real_cross_corpus_run(tmp_path, monkeypatch):
    """A tiny `augment --test-cache` (fixture caches of tests/test_crosscorpus.py): its results.json carries
    stage 1's in-corpus score per unit and one recorded fraction, and the augment run trains the generators."""
    from test_crosscorpus import _other_speakers
    from test_sources import FAST, GAN, STAGE1, make_store

    from misgan.alignment.run import align
    from misgan.augmentation.evaluate import AugmentConfig, augment
    from misgan.runs import StageRun

    monkeypatch.chdir(tmp_path)
    train = make_store(tmp_path / "train.zarr", 0, "corpus-a")
    test = _other_speakers(train, tmp_path / "test.zarr")
    align(train, STAGE1, progress=False)
    cfg = AugmentConfig(
        methods=("none", "ours"), test_cache=str(test), classifier=FAST, gan=GAN, tsne=False, reference=False
    )
    out = augment(train, cfg, progress=False, echo=lambda line: None)
    res = json.loads((out.run_dir / "results.json").read_text())
    fold = res["cross_corpus"]["train_fold"]
    assert {r["fraction"] for r in res["runs"]} == {1.0} and res["stage1_baseline"]  # what the old report misread
    md = (out.run_dir / "report.md").read_text()
    assert "as stored" not in md and "Low-resource" not in md and "learning_curve" not in md
    assert _line(md, "- stage-1 head") == (
        f"- stage-1 head: not scored cross-corpus (stage 1 stored only fold {fold}'s in-corpus test score)"
    )
    gan = StageRun.open(res["gan_run"]["path"])
    seconds = [r["seconds"] for r in gan.log.read() if r.get("event") == "fold_done" and r["fold"] == fold]
    assert len(seconds) == 1
    assert _line(md, "- stage-3 time") == (
        f"- stage-3 time: {res['timing']['total_s']:.0f} s ({len(res['folds'])} fold × seed jobs, summed); the "
        f"generators, not included: gan run `{res['gan_run']['path']}` (trained by this augment run), "
        f"{seconds[0]:.0f} s (fold {fold})"
    )
