"""Stage-3 driver on a feature cache: results.json contents, statistics, fold leakage, run folders, the CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import wilcoxon
from sklearn.linear_model import LogisticRegression
from store_fixtures import make_feature_store
from typer.testing import CliRunner

from misgan.alignment.config import AlignConfig
from misgan.augmentation.classifier import AugmentError, ClassifierConfig
from misgan.augmentation.evaluate import AugmentConfig, augment
from misgan.config import to_dict
from misgan.data.folds import make_folds
from misgan.features.store import open_store, store_from_arrays
from misgan.gan.config import GanConfig
from misgan.io import read_json
from misgan.runs import StageRun, default_run_dir, run_key

torch.set_num_threads(1)
GAN = GanConfig(epochs=4, patience=0, batch_size=64, threads=1)
FAST = ClassifierConfig(max_epochs=40, patience=10)
STAGE1 = AlignConfig(h_dim=8, epochs=3, batch_size=32, patience=2)


def write_stage1_run(store, config: AlignConfig = STAGE1, root: str | Path = "runs") -> StageRun:
    """An align run as misgan.alignment.run writes it (same key and folds), with h = the audio features
    and heads fitted by scikit-learn (fast and independent of misgan.alignment.adapter)."""
    meta = store.meta()
    folds = make_folds(meta, config.protocol, k=config.k, seed=config.seed)
    audio, text, y = store.read("audio"), store.read("text"), store.labels
    key = run_key("align", store.fingerprint, config)
    run = StageRun.create(
        default_run_dir(store.path, "align", key, root),
        kind="align",
        key=key,
        cache=store.path,
        cache_fingerprint=store.fingerprint,
        config=config,
    )
    for f in folds:
        lr = LogisticRegression(max_iter=300).fit(audio[f.train], y[f.train])
        sol = np.linalg.lstsq(np.c_[audio[f.train], np.ones(len(f.train))], text[f.train], rcond=None)[0]
        arrays = {
            "h": audio,
            "W_y": lr.coef_.astype(np.float32),
            "b_y": lr.intercept_.astype(np.float32),
            "W_t": sol[:-1].T.astype(np.float32),
            "b_t": sol[-1].astype(np.float32),
            "train_idx": f.train,
            "valid_idx": f.valid,
            "test_idx": f.test,
        }
        attrs = {"config": to_dict(config), "baseline": {"uar": 0.5, "wa": 0.5, "macro_f1": 0.5}}
        run.write_fold(f.name, arrays, attrs)
    run.finish({})
    return run


def tree_digest(path: Path) -> dict[str, str]:
    """sha256 of every file under `path` (a cache must be byte-identical after the stages read it)."""
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(Path(path).rglob("*"))
        if p.is_file()
    }


def without_timing(results: dict) -> dict:
    return {k: v for k, v in results.items() if k != "timing"}


@pytest.fixture(autouse=True)
def _no_auc(monkeypatch):
    """Stage 2's final real-vs-generated AUC (5-fold CV per GAN) dominates these tests' time; its value
    plays no part in stage 3, so it is replaced by a constant here."""
    from misgan.gan import metrics as gan_metrics

    monkeypatch.setattr(gan_metrics, "real_vs_fake_auc", lambda *a, **k: 0.5)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # run folders go to ./runs
    st = make_feature_store(tmp_path / "c.zarr", n_speakers=4, per_class=6, da=12, dt=6, separable=True)
    write_stage1_run(st)
    return open_store(tmp_path / "c.zarr")


def refuse_gan_training(monkeypatch) -> None:
    import misgan.gan.train

    def refuse(*a, **k):
        raise AssertionError("fit_gan must not run: the generators of a matching gan run exist")

    monkeypatch.setattr(misgan.gan.train, "fit_gan", refuse)  # gan.run imports it when it trains


def test_augment_compare_ablation_multimodal(store, tmp_path):
    before = tree_digest(store.path)
    cfg = AugmentConfig(
        methods=("none", "noise", "mixup", "smote", "cgan", "ours"),
        ablation=True,
        multimodal=True,
        mm_hidden=(16,),
        ratios=(0.5, 1.0),
        seeds=2,
        classifier=FAST,
        gan=GAN,
        tsne_rows=40,
    )
    lines: list[str] = []
    out = augment(store.path, cfg, progress=False, echo=lines.append)
    res = read_json(out.run_dir / "results.json")
    assert out.kind == "augment" and not out.reused and out.summary["summary"] == res["summary"]
    assert (out.run_dir / "report.md").is_file() and StageRun.open(out.run_dir).complete
    folds = res["folds"]
    assert len(folds) == 4 and res["seeds"] == [0, 1]
    variants = [r["variant"] for r in res["runs"]]
    per_job = 6 + 1 + 5 + 1  # methods, ours at ratio 0.5, ablation variants, the LR reference
    assert len(res["runs"]) == 4 * 2 * per_job
    assert variants.count("ablation:noalign") == 8
    # one plain line per finished (fold, seed) job, UAR in percent per method
    done = [line for line in lines if line.startswith("fold ")]
    assert len(done) == 8
    assert all(" UAR % LR reference " in line and ", none " in line and " s)" in line for line in done)
    # the α=β=0 stage 1 is a keyed align run (same settings otherwise); the cache is untouched
    assert tree_digest(store.path) == before
    na = StageRun.open(res["noalign_run"]["path"])
    assert na.kind == "align" and (na.config["alpha"], na.config["beta"]) == (0.0, 0.0)
    assert na.config["h_dim"] == STAGE1.h_dim and sorted(na.folds()) == sorted(folds)
    # the generators come from a keyed gan run on the stage-1 run, trained here because none existed
    gan = res["gan_run"]
    assert gan["trained"] and StageRun.open(gan["path"]).upstream == {"align": res["align_run"]["key"]}
    assert gan["config"]["epochs"] == GAN.epochs
    # mean ± std over folds of the seed-averaged fold UAR, recomputed by hand; Wilcoxon against none
    by: dict = {}
    for r in res["runs"]:
        if r["ratio"] == 1.0:
            by.setdefault(r["variant"], {}).setdefault(r["fold"], []).append(r["metrics"]["uar"])
    smote = np.array([np.mean(by["smote"][f]) for f in folds])
    none = np.array([np.mean(by["none"][f]) for f in folds])
    s = res["summary"]["methods"]["smote"]
    assert s["uar"]["mean"] == pytest.approx(smote.mean())
    assert s["uar"]["std"] == pytest.approx(smote.std(ddof=1))
    if np.any(smote != none):
        assert s["vs_none"]["wilcoxon"]["p_value"] == pytest.approx(wilcoxon(smote, none).pvalue)
    else:
        assert s["vs_none"]["wilcoxon"]["p_value"] == 1.0
    assert set(res["summary"]["ablation"]) == {
        "full",
        "noalign",
        "noalign_notext",
        "noalign_nomi",
        "noalign_noaug",
    }
    assert set(res["summary"]["ratios"]) == {"0.5", "1.0"}
    mm = res["summary"]["multimodal"]
    assert set(mm) == {"none", "augmented"} and set(mm["none"]) == {"audio", "text", "audio_text"}
    assert len(res["tsne"]["coords"]) == 80 and res["tsne"]["source"].count("generated") == 40
    assert res["gan_history"] and res["class_counts"][folds[0]]["after"] == [
        2 * v for v in res["class_counts"][folds[0]]["before"]
    ]
    # the same call again is the same keyed run: reused, nothing retrained
    again = augment(store.path, cfg, progress=False)
    assert again.reused and again.run_dir == out.run_dir and again.key == out.key


def test_augmenters_and_gan_never_see_test_rows(tmp_path, monkeypatch):
    """Poison the test speaker's features; every array an augmenter or the GAN receives must be clean."""
    from misgan.augmentation import augmenters, baselines
    from misgan.gan import train as gan

    monkeypatch.chdir(tmp_path)
    base = make_feature_store(tmp_path / "a.zarr", n_speakers=4, per_class=5, da=8, dt=4)
    meta, audio, text = base.meta(), base.read("audio"), base.read("text")
    test_rows = meta["speaker"].to_numpy() == "spk00"
    audio[test_rows] = 999.0
    text[test_rows] = 999.0
    meta = meta.drop(columns=["y"])
    meta["path"], meta["text"], meta["duration"] = "x.wav", "", 1.0
    st = store_from_arrays(tmp_path / "p.zarr", meta, audio, text, base.label_names)
    write_stage1_run(st)
    seen = []
    real_train = gan.fit_gan

    def spy_gan(h, y, t, heads, config, **kw):
        seen.extend([h, t, *[a for a in (kw.get("valid") or ()) if a is not None]])
        return real_train(h, y, t, heads, config, **kw)

    monkeypatch.setattr(gan, "fit_gan", spy_gan)  # also the gan run's, which imports it when it trains
    for cls in (baselines.NoiseAugmenter, baselines.MixupAugmenter, baselines.SmoteAugmenter):
        real_fit = cls.fit

        def spy_fit(self, view, seed, _real=real_fit):
            seen.extend([view.h, view.t, *view.valid])
            return _real(self, view, seed)

        monkeypatch.setattr(cls, "fit", spy_fit)
    cfg = AugmentConfig(methods=augmenters.METHODS, folds=("spk-spk00",), classifier=FAST, gan=GAN, tsne=False)
    out = augment(tmp_path / "p.zarr", cfg, progress=False)
    res = read_json(out.run_dir / "results.json")
    assert len(seen) >= 3 * 4 + 2 * 4
    assert all(np.abs(a).max() < 100 for a in seen)
    # ...while the evaluation did use them (the poisoned test rows give a degenerate score)
    assert {r["variant"] for r in res["runs"]} == {*augmenters.METHODS, "reference"}


def test_balance_and_missing_folds_via_cli(store, tmp_path):
    from misgan.cli import app

    runner = CliRunner()
    run = tmp_path / "runs" / "bal"
    r = runner.invoke(
        app,
        [
            "augment",
            "--cache",
            str(store.path),
            "--balance",
            "--methods",
            "none,smote",
            "--fold",
            "spk-spk01",
            "--run-dir",
            str(run),
            "--clf-epochs",
            "30",
            "--no-tsne",
            "--no-progress",
        ],
    )
    assert r.exit_code == 0, r.output
    assert "class counts" in r.output and "spk-spk01:" in r.output
    res = json.loads((run / "results.json").read_text())
    counts = res["class_counts"]["spk-spk01"]
    assert len(set(counts["after"])) == 1 and max(counts["before"]) == counts["after"][0]
    assert (run / "report.md").is_file() and (run / "config.yaml").is_file()
    (run / "report.md").unlink()
    r = runner.invoke(app, ["report", str(run)])
    assert r.exit_code == 0 and (run / "report.md").is_file()

    empty = make_feature_store(tmp_path / "e.zarr", n_speakers=3, per_class=2, da=4, dt=3)
    r = runner.invoke(app, ["augment", "--cache", str(empty.path), "--run-dir", str(tmp_path / "r2")])
    assert r.exit_code == 2 and "no stage-1 folds" in r.output and "e.zarr" in r.output
    r = runner.invoke(
        app, ["augment", "--cache", str(store.path), "--methods", "vae", "--run-dir", str(tmp_path / "r3")]
    )
    assert r.exit_code == 2 and "unknown augmenter" in r.output


def test_config_round_trips_through_yaml(tmp_path):
    from misgan.config import load_config, save_yaml

    cfg = AugmentConfig(methods=("none", "smote"), ratios=(0.5, 2.0), classifier=ClassifierConfig(hidden=(8,)))
    save_yaml(cfg, tmp_path / "a.yaml")
    back = load_config(AugmentConfig, tmp_path / "a.yaml")
    assert to_dict(back) == to_dict(cfg)


def test_gan_then_augment_reuses_the_gan_run(store, tmp_path, monkeypatch):
    """The README's order: `misgan gan` then `misgan augment` with the same settings. augment must find the
    gan run by key (not retrain), say which run it used, and the report must name that run's settings."""
    from misgan.gan.run import train_gan

    gcfg = GanConfig(epochs=2, patience=0, batch_size=64, threads=1, noise_dim=16)
    trained = train_gan(store.path, gcfg, progress=False)
    assert not trained.reused
    refuse_gan_training(monkeypatch)
    lines: list[str] = []
    cfg = AugmentConfig(folds=("spk-spk02",), classifier=FAST, gan=gcfg, tsne=False)
    out = augment(store.path, cfg, progress=False, echo=lines.append)
    res = read_json(out.run_dir / "results.json")
    assert Path(res["gan_run"]["path"]).resolve() == trained.run_dir.resolve()
    assert res["gan_run"]["key"] == trained.key and res["gan_run"]["trained"] is False
    assert any("found by key" in line and str(trained.run_dir) in line for line in lines)
    assert StageRun.open(out.run_dir).upstream == {"align": res["align_run"]["key"], "gan": trained.key}
    md = (out.run_dir / "report.md").read_text()
    assert f"run {res['gan_run']['path']}" in md and "GAN settings: defaults except " in md
    changed = md.split("GAN settings: defaults except ", 1)[1].split(", run ", 1)[0]
    assert "noise_dim=16" in changed.split(", ") and "lr=" not in changed  # only what differs from GanConfig()
    assert [r["variant"] for r in res["runs"]] == ["reference", "none", "ours"]  # the LR row comes first

    # other gan settings have another key: augment says so and trains its own run (here: refused)
    with pytest.raises(AssertionError, match="fit_gan must not run"):
        augment(store.path, AugmentConfig(folds=("spk-spk02",), classifier=FAST, gan=GAN), progress=False)


def test_explicit_gan_run_is_used_and_checked(store, tmp_path, monkeypatch):
    from misgan.gan.run import train_gan

    gcfg = GanConfig(epochs=2, patience=0, batch_size=64, threads=1, folds=("spk-spk02",))
    given = train_gan(store.path, gcfg, tmp_path / "my-gan", progress=False)
    refuse_gan_training(monkeypatch)
    cfg = AugmentConfig(folds=("spk-spk02",), classifier=FAST, tsne=False)  # default gan settings: other key
    out = augment(store.path, cfg, gan_run=given.run_dir, progress=False)
    res = read_json(out.run_dir / "results.json")
    ours = next(r for r in res["runs"] if r["variant"] == "ours")
    assert res["gan_run"]["key"] == given.key and ours["metrics"]["n_syn"] > 0
    assert res["gan_history"]["spk-spk02"]  # from the checkpoint
    with pytest.raises(AugmentError, match="no generator checkpoint"):
        augment(store.path, AugmentConfig(folds=("spk-spk01",)), gan_run=given.run_dir, progress=False)


def test_changed_stage1_config_uses_another_align_run(store, tmp_path):
    """A new stage-1 run (other settings) is what augment uses next: another align key, another α=β=0
    variant, another augment run; nothing of the first is reused."""
    cfg = AugmentConfig(
        methods=("none",), ablation=True, folds=("spk-spk01",), classifier=FAST, gan=GAN, tsne=False
    )
    first_out = augment(store.path, cfg, progress=False)
    first = read_json(first_out.run_dir / "results.json")
    other = write_stage1_run(open_store(store.path), AlignConfig(h_dim=6, epochs=3, batch_size=32, patience=2))
    second_out = augment(store.path, cfg, progress=False)
    second = read_json(second_out.run_dir / "results.json")
    assert second["align_run"]["key"] == other.key != first["align_run"]["key"]
    assert second["noalign_run"]["key"] != first["noalign_run"]["key"]
    assert StageRun.open(second["noalign_run"]["path"]).config["h_dim"] == 6
    assert not second_out.reused and second_out.key != first_out.key and second_out.run_dir != first_out.run_dir


def test_augment_resumes_per_fold_with_identical_results(store, tmp_path, monkeypatch):
    import misgan.augmentation.evaluate as ev

    cfg = AugmentConfig(methods=("none", "smote"), seeds=2, classifier=FAST, tsne=False)
    whole = read_json(augment(store.path, cfg, tmp_path / "whole", progress=False).run_dir / "results.json")

    real_job, calls = ev.run_job, []

    def dies_on_third(*a, **k):
        calls.append((a[0].name, a[1]))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real_job(*a, **k)

    monkeypatch.setattr(ev, "run_job", dies_on_third)
    with pytest.raises(KeyboardInterrupt):
        augment(store.path, cfg, tmp_path / "parts", progress=False)
    calls.clear()
    monkeypatch.setattr(ev, "run_job", lambda *a, **k: (calls.append((a[0].name, a[1])), real_job(*a, **k))[1])
    lines: list[str] = []
    out = augment(store.path, cfg, tmp_path / "parts", progress=False, echo=lines.append)
    assert len(calls) == 4 * 2 - 2 and ("spk-spk00", 0) not in calls and ("spk-spk00", 1) not in calls
    assert any("2 job(s) kept, 6 to do" in line for line in lines)
    resumed = read_json(out.run_dir / "results.json")
    assert without_timing(resumed)["runs"] == without_timing(whole)["runs"]
    assert resumed["summary"] == whole["summary"]


def test_cli_gan_then_augment_reuses_the_gan_run(store, tmp_path, monkeypatch):
    """The README's order on the command line, one config file for both: `misgan gan` trains the generators,
    `misgan augment` finds them by key and says so (before the fix it always trained its own)."""
    import yaml

    from misgan.cli import app

    cfg = {
        "gan": {"epochs": 2, "patience": 0, "batch_size": 64, "threads": 1, "noise_dim": 16},
        "augment": {"methods": ["none", "ours"], "folds": ["spk-spk02"], "tsne": False,
                    "classifier": {"max_epochs": 40, "patience": 10}},
    }  # fmt: skip
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(cfg))
    runner = CliRunner()
    r = runner.invoke(app, ["gan", "--cache", str(store.path), "--config", "run.yaml", "--no-progress"])
    assert r.exit_code == 0, r.output
    (gan_dir,) = [p for p in (tmp_path / "runs" / "c").iterdir() if p.name.startswith("gan-")]
    refuse_gan_training(monkeypatch)
    r = runner.invoke(app, ["augment", "--cache", str(store.path), "--config", "run.yaml", "--no-progress"])
    assert r.exit_code == 0, r.output
    assert f"generators: gan run {Path('runs') / 'c' / gan_dir.name}" in r.output and "found by key" in r.output
    (aug_dir,) = [p for p in (tmp_path / "runs" / "c").iterdir() if p.name.startswith("augment-")]
    res = read_json(aug_dir / "results.json")
    assert res["gan_run"]["key"] == StageRun.open(gan_dir).key and not res["gan_run"]["trained"]
    assert "GAN settings: defaults except " in (aug_dir / "report.md").read_text()
    assert "noise_dim=16" in (aug_dir / "report.md").read_text()


# ---------------------------------------------------------------- reference, gating, low-resource protocol


def test_reference_gating_fractions_and_one_fit_per_fold(store, tmp_path, monkeypatch):
    """LR reference row, gated SMOTE, fractions 0.5 and 1 with 2 seeds; SMOTE / cgauss fitted once per
    (fold, seed, fraction) although scored at the main ratio and at every ratio of the gate's grid."""
    from misgan.augmentation import baselines
    from misgan.augmentation.subsets import fraction_rows
    from misgan.data.folds import Fold
    from misgan.reference import lr_reference

    fits: dict[str, int] = {}
    for cls in (baselines.SmoteAugmenter, baselines.GaussianAugmenter):
        real = cls.fit

        def spy(self, view, seed, _real=real):
            fits[self.name] = fits.get(self.name, 0) + 1
            return _real(self, view, seed)

        monkeypatch.setattr(cls, "fit", spy)
    cfg = AugmentConfig(
        methods=("none", "cgauss", "smote", "smote-gated"),
        train_fractions=(0.5, 1.0),
        seeds=2,
        gate_ratios=(0.5, 1.0, 2.0),
        classifier=FAST,
        tsne=False,
    )
    out = augment(store.path, cfg, progress=False)
    res = read_json(out.run_dir / "results.json")
    jobs = len(res["folds"]) * 2 * 2  # folds x seeds x fractions
    assert fits == {"smote": jobs, "cgauss": jobs} and res["fits"] == {"none": jobs, "cgauss": jobs, "smote": jobs}
    # the reference: misgan.reference on the cache's raw audio features, same fold rows (fraction 1)
    audio, y = store.read("audio"), store.labels
    speakers = store.meta()["speaker"].astype(str).to_numpy()
    align = StageRun.open(res["align_run"]["path"])
    f0 = res["folds"][0]
    arrays = align.read_fold(f0)[0]
    fold = Fold(f0, train=arrays["train_idx"], test=arrays["test_idx"], valid=arrays["valid_idx"])
    want = lr_reference(audio, y, fold, groups=speakers)
    got = [r for r in res["runs"] if r["variant"] == "reference" and r["fold"] == f0 and r["fraction"] == 1.0]
    assert len(got) == 2 and all(r["metrics"]["uar"] == pytest.approx(want["uar"]) for r in got)
    # fraction 0.5: the subset of misgan.augmentation.subsets, same test rows
    half = [r for r in res["runs"] if r["variant"] == "none" and r["fold"] == f0 and r["fraction"] == 0.5]
    sub = fraction_rows(arrays["train_idx"], y, speakers, 0.5, half[0]["seed"])
    assert half[0]["metrics"]["n_train"] == len(sub) < len(arrays["train_idx"])
    n_test = {sum(map(sum, r["metrics"]["confusion"])) for r in res["runs"] if r["fold"] == f0}
    assert n_test == {len(arrays["test_idx"])}
    # gating: one decision per fold, seed, fraction; a fallback scores exactly as none
    assert len(res["gates"]) == jobs and all(len(g["grid"]) == 3 * len(cfg.gate_weights) for g in res["gates"])
    for g in res["gates"]:
        assert g["augmented"] == (min(g["confirmed_gains"]) > cfg.gate_margin)
        assert g["crossfit_gain"] == pytest.approx(sum(g["confirmed_gains"]) / 2)
        n_valid_spk = len(set(speakers[align.read_fold(g["fold"])[0]["valid_idx"]]))
        assert g["halves"] == ("speakers" if n_valid_spk >= 2 else "rows")
        assert all(len(c["half_uars"]) == 2 for c in g["grid"])
    key = {(r["fold"], r["seed"], r["fraction"]): r for r in res["runs"] if r["variant"] == "none"}
    for r in res["runs"]:
        if r["variant"] == "smote-gated" and not r["gate"]["augmented"]:
            assert r["metrics"]["uar"] == key[(r["fold"], r["seed"], r["fraction"])]["metrics"]["uar"]
    # the Δ table: units = folds x seeds, Holm-corrected across augmenters
    frac = res["summary"]["fractions"]
    assert set(frac) == {"0.5", "1.0"} and frac["0.5"]["smote"]["vs_none"]["n_units"] == len(res["folds"]) * 2
    assert "p_holm" in frac["0.5"]["cgauss"]["vs_none"] and "vs_reference" in frac["1.0"]["none"]
    report = (out.run_dir / "report.md").read_text()
    assert "| Logistic regression, same features and folds |" in report
    assert "Low-resource protocol" in report and "per-fold decisions" in report
    assert "Δ UAR vs reference" in report


@pytest.mark.parametrize("bad", [["--ratio", "0"], ["--ratio", "-1"], ["--ratios", "0.5,0"]])
def test_zero_or_negative_ratio_rejected_in_one_line(store, tmp_path, bad):
    from misgan.cli import app

    r = CliRunner().invoke(app, ["augment", "--cache", str(store.path), *bad, "--run-dir", str(tmp_path / "z")])
    assert r.exit_code == 2 and "not a positive ratio" in r.output and "Traceback" not in r.output
    assert len(r.output.strip().splitlines()) == 1
    assert not (tmp_path / "z").exists()


def test_stage1_is_refitted_on_the_fraction_rows_and_the_generator_uses_it(store, monkeypatch):
    """Below fraction 1 each job refits stage 1 on the fraction's rows (the align run's head saw every
    training row): one refit per (fold, seed) of fraction 0.5, none at 1; the in-job generator of that
    fraction trains against the refit's W_y; with refit_stage1 False the align run's heads are used."""
    from misgan.augmentation import subsets
    from misgan.gan import train as gan

    refits: list = []
    real_refit, real_fit = subsets.refit_stage1, gan.fit_gan

    def refit_spy(fold, audio, speakers):
        out = real_refit(fold, audio, speakers)
        refits.append(out)
        return out

    heads_seen: list[np.ndarray] = []

    def fit_spy(h, y, t, heads, config, **kw):
        heads_seen.append(np.asarray(heads["W_y"]))
        return real_fit(h, y, t, heads, config, **kw)

    monkeypatch.setattr(subsets, "refit_stage1", refit_spy)
    monkeypatch.setattr(gan, "fit_gan", fit_spy)
    cfg = AugmentConfig(
        methods=("none", "ours"), train_fractions=(0.5, 1.0), seeds=2, classifier=FAST, gan=GAN, tsne=False,
        folds=("spk-spk01",),
    )  # fmt: skip
    out = augment(store.path, cfg, progress=False)
    assert len(refits) == 2  # one fold x two seeds, fraction 0.5 only
    res = read_json(out.run_dir / "results.json")
    half = sorted(r["metrics"]["n_train"] for r in res["runs"] if r["variant"] == "none" and r["fraction"] == 0.5)
    full = [r["metrics"]["n_train"] for r in res["runs"] if r["variant"] == "none" and r["fraction"] == 1.0]
    assert half == sorted(len(r.train_idx) for r in refits) and max(half) < min(full)
    assert all(r.attrs["refit"] for r in refits)
    assert any(np.array_equal(w, r.heads["W_y"]) for w in heads_seen for r in refits)
    refits.clear()
    augment(store.path, dataclasses.replace(cfg, refit_stage1=False), progress=False)
    assert refits == []


def test_generator_below_full_fraction_trains_on_the_fraction_rows_only(store, monkeypatch):
    """The gan run's generators saw every training row; at fraction 0.5 ours trains its own on the
    fraction's rows (every fit_gan call of that fraction gets exactly those rows)."""
    from misgan.gan import train as gan

    sizes: list[int] = []
    real = gan.fit_gan

    def spy(h, y, t, heads, config, **kw):
        sizes.append(len(h))
        return real(h, y, t, heads, config, **kw)

    monkeypatch.setattr(gan, "fit_gan", spy)
    cfg = AugmentConfig(
        methods=("none", "ours"), train_fractions=(0.5, 1.0), classifier=FAST, gan=GAN, tsne=False,
        folds=("spk-spk01",),
    )  # fmt: skip
    out = augment(store.path, cfg, progress=False)
    res = read_json(out.run_dir / "results.json")
    half = next(r for r in res["runs"] if r["variant"] == "none" and r["fraction"] == 0.5)
    assert half["metrics"]["n_train"] in sizes  # the in-fold generator of the 0.5 fraction
    assert res["fits"]["ours"] == 2
    weak = res["weak_generators"]
    assert all(w["augmented"] and w["method"] == "ours" for w in weak)


def test_a_fold_subset_run_stays_open_and_a_later_call_for_every_fold_completes_it(store):
    """`folds` is not in the key: a --fold run must not pass for the whole run. The subset call writes its
    results but leaves the run open; the call for every fold resumes it (the subset's job kept, not redone)
    and completes it with every fold's results."""
    cfg = AugmentConfig(methods=("none", "noise"), classifier=FAST, tsne=False)
    folds = StageRun.open(next(Path("runs").glob("*/align-*"))).folds()
    part = augment(store.path, dataclasses.replace(cfg, folds=(folds[0],)), progress=False)
    assert not StageRun.open(part.run_dir).complete and part.summary["folds_todo"] == folds[1:]
    assert read_json(part.run_dir / "results.json")["folds"] == [folds[0]]
    kept = (part.run_dir / "folds" / f"{folds[0]}.seed0").stat().st_mtime_ns
    report = (part.run_dir / "report.md").stat().st_mtime_ns
    same = augment(store.path, dataclasses.replace(cfg, folds=(folds[0],)), progress=False)
    assert same.reused and same.run_dir == part.run_dir and not StageRun.open(same.run_dir).complete
    assert (part.run_dir / "report.md").stat().st_mtime_ns == report  # nothing rebuilt for the same subset
    assert not (part.run_dir / "writer.lock.json").exists()  # the open run's writer lock is released
    lines: list[str] = []
    whole = augment(store.path, cfg, progress=False, echo=lines.append)
    assert whole.run_dir == part.run_dir and not whole.reused and StageRun.open(whole.run_dir).complete
    assert read_json(whole.run_dir / "results.json")["folds"] == folds
    assert (whole.run_dir / "folds" / f"{folds[0]}.seed0").stat().st_mtime_ns == kept
    assert any("1 job(s) kept" in line for line in lines)


def test_gated_generator_is_its_own_and_chosen_without_the_validation_rows(store, monkeypatch):
    """ours-gated trains its own generator with no validation rows (its kept epoch chosen on the training rows:
    the gate then judges on validation speakers that chose nothing); plain ours keeps the validation rows."""
    from misgan.gan import train as gan

    calls: list[bool] = []
    seen: list[tuple] = []
    real = gan.fit_gan

    def spy(h, y, t, heads, config, **kw):
        calls.append(kw.get("valid") is None)
        heads_np = {k: np.asarray(v) for k, v in heads.items()}
        seen.append((kw.get("valid") is None, np.asarray(h), np.asarray(y), heads_np))
        return real(h, y, t, heads, config, **kw)

    monkeypatch.setattr(gan, "fit_gan", spy)
    cfg = AugmentConfig(
        methods=("none", "ours", "ours-gated"), classifier=FAST, gan=GAN, tsne=False, folds=("spk-spk01",),
        reference=False,
    )  # fmt: skip
    out = augment(store.path, cfg, progress=False)
    res = read_json(out.run_dir / "results.json")
    assert res["fits"]["ours-gated"] == 1 and calls.count(True) == 1 and calls.count(False) >= 1
    # the gated generator's L_Iy head is a class-balanced logistic regression of ITS training rows alone (sklearn,
    # the fold's stage-1 C; stage 1's own W_y saw the validation rows too); W_t is stage 1's
    from sklearn.linear_model import LogisticRegression

    from misgan.alignment.run import load_fold

    ((_, h, y, heads),), plain = [x for x in seen if x[0]], next(x for x in seen if not x[0])

    attrs = load_fold(res["align_run"]["path"], "spk-spk01")[1]
    c = (attrs.get("selection") or {}).get("c") or cfg.classifier.c_default  # this fixture's stage 1 chose none
    ref = LogisticRegression(C=c, class_weight="balanced", max_iter=5000, tol=1e-10).fit(h, y)
    np.testing.assert_allclose(heads["W_y"], ref.coef_, atol=2e-3)
    np.testing.assert_array_equal(plain[3]["W_t"], heads["W_t"])
    (gate,) = res["gates"]
    assert gate["method"] == "ours-gated" and len(gate["grid"]) == len(cfg.gate_ratios) * len(cfg.gate_weights)


def test_only_gated_ours_trains_no_gan_run():
    from misgan.augmentation.evaluate import needs_generators

    assert needs_generators(AugmentConfig(methods=("none", "ours")))
    assert needs_generators(AugmentConfig(methods=("none", "ours", "ours-gated")))
    assert not needs_generators(AugmentConfig(methods=("none", "ours-gated", "smote")))
    assert needs_generators(AugmentConfig(methods=("none", "ours"), gate_all=True))
