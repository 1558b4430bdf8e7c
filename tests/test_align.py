"""Stage 1 adapter mode on synthetic arrays (train_fold, retrieval, text head)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge
from sklearn.metrics import balanced_accuracy_score, f1_score

from misgan.alignment.adapter import AlignConfig, recompute_h, train_fold
from misgan.alignment.retrieval import retrieval_accuracy, text_groups
from misgan.alignment.run import align, load_fold
from misgan.data.folds import Fold
from misgan.errors import ConfigError
from misgan.runs import StageRun

torch.set_num_threads(1)
N, C, DA, DT = 240, 4, 30, 12
# the paper's loop (learned adapter, mini-batch Adam, early stopping); the default is full batch (tests below)
PAPER = {"adapter": "learned", "optimizer": "adam", "reference": False}
SMALL = {**PAPER, "h_dim": 16, "shared_dim": 8, "epochs": 25, "batch_size": 32, "lr": 1e-3, "patience": 15}


def synthetic(seed: int = 0):
    """8 speakers x 30 rows; audio = class centre + sentence offset + noise (badly scaled); text = 1 of 2
    sentences. Speakers 0-5 train, 6 validates, 7 is the test speaker."""
    rng = np.random.default_rng(seed)
    y = np.arange(N) % C
    spk = np.repeat(np.arange(8), N // 8)
    sent = rng.integers(0, 2, N)
    audio = rng.normal(size=(C, DA))[y] + 1.5 * rng.normal(size=(N, DA)) + 1.0 * sent[:, None]
    audio = (audio * 50 + 7).astype(np.float32)
    text = rng.normal(size=(2, DT))[sent].astype(np.float32)
    fold = Fold("f", np.flatnonzero(spk < 6), np.flatnonzero(spk == 7), np.flatnonzero(spk == 6))
    return audio, text, y, fold


def test_train_fold_shapes_learning_and_baseline_matches_sklearn():
    audio, text, y, fold = synthetic()
    # the contrastive terms dominate the first epochs (duplicate transcripts), so give it time
    cfg = AlignConfig(**{**SMALL, "epochs": 100})
    r = train_fold(audio, text, y, fold, cfg, progress=False)
    assert r.h.shape == (N, 16)
    assert r.heads["W_y"].shape == (C, 16) and r.heads["b_y"].shape == (C,)
    assert r.heads["W_t"].shape == (DT, 16) and r.heads["b_t"].shape == (DT,)
    assert r.history[-1]["loss"] < r.history[0]["loss"]
    assert {"ser", "cl", "mi", "val_uar"} <= set(r.history[0])
    pred = (r.h @ r.heads["W_y"].T + r.heads["b_y"]).argmax(1)
    assert r.baseline["uar"] == pytest.approx(balanced_accuracy_score(y[fold.test], pred[fold.test]))
    assert r.baseline["macro_f1"] == pytest.approx(f1_score(y[fold.test], pred[fold.test], average="macro"))
    assert r.baseline["uar"] > 0.8
    # the best validation epoch (default monitor: validation CE) is the one kept
    assert r.history[r.best_epoch - 1]["val_ser"] == min(rec["val_ser"] for rec in r.history)


def test_standardisation_uses_training_rows_only_and_h_recomputes():
    audio, text, y, fold = synthetic()
    cfg = AlignConfig(**SMALL)
    r1 = train_fold(audio, text, y, fold, cfg, progress=False)
    np.testing.assert_allclose(r1.extras["audio_mean"], audio[fold.train].mean(0), rtol=1e-5, atol=1e-3)
    changed = audio.copy()
    changed[fold.test] *= 100.0  # test rows must not influence anything learned
    r2 = train_fold(changed, text, y, fold, cfg, progress=False)
    np.testing.assert_array_equal(r1.extras["audio_std"], r2.extras["audio_std"])
    np.testing.assert_array_equal(r1.h[fold.train], r2.h[fold.train])
    np.testing.assert_allclose(recompute_h(r1.extras, audio, cfg), r1.h, atol=1e-5)


def test_same_seed_same_h_other_seed_differs():
    audio, text, y, fold = synthetic()
    small = {**SMALL, "epochs": 5}
    a = train_fold(audio, text, y, fold, AlignConfig(**small, seed=3), progress=False)
    b = train_fold(audio, text, y, fold, AlignConfig(**small, seed=3), progress=False)
    c = train_fold(audio, text, y, fold, AlignConfig(**small, seed=4), progress=False)
    np.testing.assert_array_equal(a.h, b.h)
    assert not np.allclose(a.h, c.h)


def test_without_alignment_text_head_fitted_afterwards():
    audio, text, y, fold = synthetic()
    r = train_fold(audio, text, y, fold, AlignConfig(**SMALL, alpha=0, beta=0), progress=False)
    assert "cl" not in r.history[0] and "mi" not in r.history[0]
    assert not any(k.startswith("shared_") for k in r.retrieval)
    # the sentence is in the audio, so the fitted W_t finds the right transcript well above chance
    assert r.retrieval["wt_text_r@1"] > r.retrieval["wt_text_chance@1"] + 0.2


def test_least_squares_text_head_equals_ridge():
    audio, text, y, fold = synthetic()
    cfg = AlignConfig(**{**SMALL, "epochs": 3}, alpha=0, beta=0, text_head="lstsq", ridge=0.1)
    r = train_fold(audio, text, y, fold, cfg, progress=False)
    ref = Ridge(alpha=0.1 * len(fold.train)).fit(r.h[fold.train].astype(np.float64), text[fold.train])
    np.testing.assert_allclose(r.heads["W_t"], ref.coef_, atol=1e-4)
    np.testing.assert_allclose(r.heads["b_t"], ref.intercept_, atol=1e-4)


def test_early_stopping_bounds_epochs():
    audio, text, y, fold = synthetic()
    cfg = AlignConfig(**{**SMALL, "epochs": 60, "patience": 2}, monitor="uar")
    r = train_fold(audio, text, y, fold, cfg, progress=False)
    assert len(r.history) <= r.best_epoch + 3
    assert r.history[r.best_epoch - 1]["val_uar"] == max(rec["val_uar"] for rec in r.history)


def test_class_weights_option_runs_on_imbalanced_data():
    audio, text, y, fold = synthetic()
    keep = np.concatenate([fold.train[y[fold.train] != 0], fold.train[y[fold.train] == 0][:5]])
    imbalanced = Fold("f", np.sort(keep), fold.test, fold.valid)
    r = train_fold(audio, text, y, imbalanced, AlignConfig(**SMALL, class_weights=True), progress=False)
    assert 0.0 <= r.baseline["uar"] <= 1.0 and len(r.history) > 0


def test_retrieval_accuracy_hand_values():
    q = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    c = np.array([[1.0, 0.1], [1.0, 0.0], [1.0, 1.0]])
    # cos ranks: q0 -> c1 > c0 > c2 (miss@1, hit@2); q1 -> c2 > c0 > c1 (miss@2); q2 -> c2 first (hit)
    out = retrieval_accuracy(q, c, ks=(1, 2))
    assert out["r@1"] == pytest.approx(1 / 3) and out["r@2"] == pytest.approx(2 / 3)
    assert out["chance@1"] == pytest.approx(1 / 3)
    grouped = retrieval_accuracy(q, c, ks=(1,), groups=np.array([0, 0, 1]))
    assert grouped["r@1"] == pytest.approx(2 / 3)  # q0 -> c1 (same group), q1 -> c2 (other), q2 -> c2
    assert grouped["chance@1"] == pytest.approx((2 / 3 + 2 / 3 + 1 / 3) / 3)
    assert text_groups(np.array([[1.0, 2.0], [0.0, 1.0], [1.0, 2.0]])).tolist() == [1, 0, 1]


def test_config_validation():
    with pytest.raises(ConfigError, match="text_head"):
        AlignConfig(text_head="magic")
    with pytest.raises(ConfigError, match="h_dim"):
        AlignConfig(h_dim=0)
    with pytest.raises(ConfigError):
        AlignConfig(tau=0)


# ---- store glue and command line ------------------------------------------------------------------


@pytest.mark.parametrize("name", ["c.zarr", "c.h5"])
def test_align_writes_every_fold_per_contract(tmp_path, name):
    from store_fixtures import make_feature_store

    store = make_feature_store(tmp_path / name, n_speakers=4, per_class=6)
    cfg = AlignConfig(**{**SMALL, "epochs": 8})
    result = align(store, cfg, tmp_path / "run")
    summary = result.summary
    folds = [f"spk-spk{i:02d}" for i in range(4)]
    assert StageRun.open(result.run_dir).folds() == folds and result.kind == "align"
    y, spk = store.labels, store.meta()["speaker"].to_numpy()
    uars = []
    for name in folds:
        arrays, attrs = load_fold(result.run_dir, name)
        test = arrays["test_idx"]
        assert attrs["test_speakers"] == sorted(set(spk[test]))
        assert not set(attrs["test_speakers"]) & set(attrs["train_speakers"] + attrs["valid_speakers"])
        assert len(np.intersect1d(test, np.concatenate([arrays["train_idx"], arrays["valid_idx"]]))) == 0
        pred = (arrays["h"] @ arrays["W_y"].T + arrays["b_y"]).argmax(1)
        assert attrs["baseline"]["uar"] == pytest.approx(balanced_accuracy_score(y[test], pred[test]))
        assert arrays["W_t"].shape == (16, 16) and arrays["b_t"].shape == (16,)
        assert attrs["config"]["h_dim"] == 16 and len(attrs["fingerprint"]) == 64
        np.testing.assert_allclose(
            recompute_h(arrays, store.read("audio"), attrs["config"]), arrays["h"], atol=1e-5
        )
        uars.append(attrs["baseline"]["uar"])
    assert summary["mean_std"]["uar"]["mean"] == pytest.approx(np.mean(uars))
    assert summary["mean_std"]["uar"]["std"] == pytest.approx(np.std(uars, ddof=1))
    assert (tmp_path / "run" / "summary.json").is_file() and (tmp_path / "run" / "log.jsonl").is_file()


def test_cli_same_seed_gives_identical_h(tmp_path):
    from store_fixtures import make_feature_store
    from typer.testing import CliRunner

    from misgan.cli import app

    make_feature_store(tmp_path / "c.zarr", n_speakers=3, per_class=5).close()
    args = ["align", "--cache", str(tmp_path / "c.zarr"), "--epochs", "3", "--h-dim", "8", "--seed", "5"]
    runner = CliRunner()
    h = []
    for run in ("r1", "r2"):
        res = runner.invoke(app, [*args, "--run-dir", str(tmp_path / run)])
        assert res.exit_code == 0, res.output
        assert "uar" in res.output and "±" in res.output
        h.append(load_fold(tmp_path / run, "spk-spk01")[0]["h"])
        log = (tmp_path / run / "log.jsonl").read_text().splitlines()
        # the default stage 1 is full batch: one record per C of the inner CV instead of per epoch
        assert len(log) >= 3 and any('"inner_uar"' in line for line in log)
    np.testing.assert_array_equal(h[0], h[1])
    res = runner.invoke(app, ["align", "--cache", str(tmp_path / "missing.zarr")])
    assert res.exit_code == 2 and "missing.zarr" in res.output


# ---- full batch (the default) ------------------------------------------------------------------------------

SPK = np.repeat(np.arange(8), N // 8).astype(str)
FAST = {"h_dim": 8, "shared_dim": 4, "text_head_epochs": 5, "reference": False}


def test_full_batch_default_is_pca_plus_sklearn_logistic_regression():
    from sklearn.decomposition import PCA
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold

    audio, text, y, fold = synthetic()
    cfg = AlignConfig(**FAST)
    r = train_fold(audio, text, y, fold, cfg, progress=False, groups=SPK)
    tr = fold.train_all
    x = (audio - audio[tr].mean(0)) / audio[tr].std(0)
    ref_h = PCA(8).fit(x[tr]).transform(x)
    np.testing.assert_allclose(np.abs(r.h), np.abs(ref_h), atol=2e-3)  # principal axes up to sign
    # C: inner GroupKFold over the training speakers only, scored by UAR
    splits = list(GroupKFold(n_splits=4).split(tr, groups=SPK[tr]))
    h = r.h.astype(np.float64)
    scores = {}
    for c in cfg.c_grid:
        per = []
        for a, b in splits:
            m = LogisticRegression(C=c, class_weight="balanced", max_iter=2000, tol=1e-4).fit(h[tr][a], y[tr][a])
            per.append(balanced_accuracy_score(y[tr][b], m.predict(h[tr][b])))
        scores[c] = np.mean(per)
    assert r.selection["c"] == max(scores, key=lambda c: (round(scores[c], 12), -c))
    m = LogisticRegression(C=r.selection["c"], class_weight="balanced", max_iter=5000, tol=1e-8).fit(h[tr], y[tr])
    pred = (r.h @ r.heads["W_y"].T + r.heads["b_y"]).argmax(1)
    assert (pred[fold.test] == m.predict(h[fold.test])).mean() >= 0.97
    np.testing.assert_allclose(recompute_h(r.extras, audio, cfg), r.h, atol=1e-4)
    # the test speaker changes nothing that is learned
    changed = audio.copy()
    changed[fold.test] *= 100.0
    r2 = train_fold(changed, text, y, fold, cfg, progress=False, groups=SPK)
    np.testing.assert_array_equal(r.heads["W_y"], r2.heads["W_y"])
    assert r.selection == r2.selection


def test_identity_adapter_head_is_the_reference():
    from misgan.reference import lr_reference

    audio, text, y, fold = synthetic(1)
    cfg = AlignConfig(**{**FAST, "reference": True}, adapter="identity", alpha=0, beta=0, text_head="lstsq")
    r = train_fold(audio, text, y, fold, cfg, progress=False, groups=SPK)
    assert r.h.shape == audio.shape
    ref = lr_reference(audio, y, fold, groups=SPK, grid=cfg.c_grid)
    assert r.reference["uar"] == pytest.approx(ref["uar"])
    assert r.baseline["uar"] >= ref["uar"] - 0.02


def test_full_batch_same_seed_same_result():
    audio, text, y, fold = synthetic()
    a = train_fold(audio, text, y, fold, AlignConfig(**FAST), progress=False, groups=SPK)
    b = train_fold(audio, text, y, fold, AlignConfig(**FAST), progress=False, groups=SPK)
    np.testing.assert_array_equal(a.h, b.h)
    for k in ("W_y", "b_y", "W_t", "b_t"):
        np.testing.assert_array_equal(a.heads[k], b.heads[k])


def test_learned_adapter_full_batch_keeps_the_alignment_terms():
    audio, text, y, fold = synthetic()
    base = {**FAST, "adapter": "learned", "c_grid": (1.0,), "lbfgs_iter": 40}
    aligned = train_fold(audio, text, y, fold, AlignConfig(**base), progress=False, groups=SPK)
    plain = train_fold(audio, text, y, fold, AlignConfig(**base, alpha=0, beta=0), progress=False, groups=SPK)
    assert aligned.h.shape == (N, 8) and aligned.heads["W_t"].shape == (DT, 8)
    assert not np.allclose(aligned.h, plain.h)  # eq. 5 and 6 shape h
    assert aligned.baseline["uar"] > 0.6 and plain.baseline["uar"] > 0.6
    np.testing.assert_allclose(recompute_h(aligned.extras, audio, AlignConfig(**base)), aligned.h, atol=1e-4)


def test_paper_configuration_is_named():
    p = AlignConfig.paper()
    assert (p.adapter, p.optimizer, p.h_dim, p.alpha, p.beta, p.lr, p.batch_size) == (
        "learned",
        "adam",
        256,
        1.0,
        1.0,
        1e-4,
        64,
    )
    assert not p.class_weights and AlignConfig().adapter == "pca" and AlignConfig().optimizer == "lbfgs"
    with pytest.raises(ConfigError, match="adam"):
        AlignConfig(optimizer="adam")  # the paper loop trains the learned adapter only


def test_audio_only_stage1(tmp_path):
    from store_fixtures import make_feature_store

    from misgan.alignment.summary import format_summary

    audio, _, y, fold = synthetic()
    r = train_fold(audio, None, y, fold, AlignConfig(**FAST), progress=False, groups=SPK)
    assert "W_t" not in r.heads and r.retrieval == {} and r.baseline["uar"] > 0.6
    # the frozen default adapter: text changes neither h nor W_y (bench/parity.py --no-text relies on it)
    with_text = train_fold(audio, synthetic()[1], y, fold, AlignConfig(**FAST), progress=False, groups=SPK)
    np.testing.assert_array_equal(r.h, with_text.h)
    np.testing.assert_array_equal(r.heads["W_y"], with_text.heads["W_y"])
    store = make_feature_store(tmp_path / "a.zarr", n_speakers=4, per_class=6, dt=0)
    assert "text" not in store.dims
    lines: list[str] = []
    result = align(store, AlignConfig(h_dim=8, text_head_epochs=5), tmp_path / "run", echo=lines.append)
    assert sum("α = β = 0" in line for line in lines) == 1
    arrays, attrs = load_fold(result.run_dir, "spk-spk00")
    assert "W_t" not in arrays and attrs["text_space"] is None
    text = format_summary(result.summary)
    assert "retrieval" not in text and "logistic regression, same features and folds" in text
    ref = [load_fold(result.run_dir, f"spk-spk{i:02d}")[1]["reference"]["uar"] for i in range(4)]
    assert result.summary["mean_std"]["reference_uar"]["mean"] == pytest.approx(np.mean(ref))
