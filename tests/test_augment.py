"""Stage-3 classifier training on arrays, fold hygiene, and augmentation helping where it should."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score

from misgan.alignment.losses import class_weights_from_labels
from misgan.augmentation.augmenters import balance_labels, make_augmenter
from misgan.augmentation.classifier import (
    AugmentError,
    ClassifierConfig,
    FoldData,
    evaluate_multimodal,
    evaluate_unimodal,
    project_text,
)
from misgan.augmentation.trainer import train_classifier
from misgan.errors import FoldError

torch.set_num_threads(1)


def imbalanced_fold(seed: int, n_major: int = 80, n_minor: int = 3, d: int = 16, dt: int = 8, n_test: int = 50):
    """Gaussian class clusters; classes 2 and 3 have only `n_minor` training rows; balanced test set.
    Heads as stage 1 would give them: a class-balanced logistic regression and a least-squares W_t."""
    rng = np.random.default_rng(seed)
    c = 4
    means = rng.normal(size=(c, d))
    means *= 2.0 / np.linalg.norm(means, axis=1, keepdims=True)
    counts = [n_major, n_major, n_minor, n_minor]
    y = np.concatenate([np.repeat(np.arange(c), counts), np.repeat(np.arange(c), n_test)])
    h = (means[y] + 0.7 * rng.normal(size=(len(y), d))).astype(np.float32)
    t = (rng.normal(size=(c, dt))[y] + 0.5 * rng.normal(size=(len(y), dt))).astype(np.float32)
    n_train = sum(counts)
    train, test = np.arange(n_train), np.arange(n_train, len(y))
    lr = LogisticRegression(class_weight="balanced", max_iter=500).fit(h[train], y[train])
    sol = np.linalg.lstsq(np.c_[h[train], np.ones(n_train)], t[train], rcond=None)[0]
    heads = {
        "W_y": lr.coef_.astype(np.float32),
        "b_y": lr.intercept_.astype(np.float32),
        "W_t": sol[:-1].T.astype(np.float32),
        "b_t": sol[-1].astype(np.float32),
    }
    return FoldData("f", h, t, y, train, np.zeros(0, np.int64), test, heads, c)


def test_linear_head_learns_and_matches_sklearn_scoring():
    fold = imbalanced_fold(0, n_major=40, n_minor=40)
    view = fold.train_view()
    clf = train_classifier(view.h, view.y, 4, ClassifierConfig(max_epochs=200), seed=0)
    ht, _, yt = fold.test()
    pred = clf.predict(ht)
    assert balanced_accuracy_score(yt, pred) > 0.8
    out = evaluate_unimodal(fold, None, None, ClassifierConfig(max_epochs=200), seed=0)
    assert out["n_syn"] == 0 and out["n_train"] == 160
    assert np.asarray(out["confusion"]).sum() == len(yt)


def test_init_from_stage1_head_and_zero_epochs_keeps_it():
    fold = imbalanced_fold(1)
    view = fold.train_view()
    init = (fold.heads["W_y"], fold.heads["b_y"])
    # the Adam loop (fine-tuning from W_y); zero epochs leaves the stage-1 head as it is
    clf = train_classifier(view.h, view.y, 4, ClassifierConfig(optimizer="adam", max_epochs=0), init=init)
    np.testing.assert_allclose(clf.model[0].weight.detach().numpy(), fold.heads["W_y"])
    expected = (fold.h[:5] @ fold.heads["W_y"].T + fold.heads["b_y"]).argmax(1)
    np.testing.assert_array_equal(clf.predict(fold.h[:5]), expected)
    with pytest.raises(AugmentError, match="init head"):
        train_classifier(view.h, view.y, 4, ClassifierConfig(), init=(np.zeros((4, 3)), np.zeros(4)))


def test_early_stopping_keeps_best_validation_epoch():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 30)).astype(np.float32)
    y = rng.integers(0, 2, 40)  # pure noise: training longer only overfits
    xv, yv = rng.normal(size=(40, 30)).astype(np.float32), rng.integers(0, 2, 40)
    cfg = ClassifierConfig(optimizer="adam", max_epochs=400, patience=10, lr=1e-2, weight_decay=0)
    clf = train_classifier(x, y, 2, cfg, valid=(xv, yv), seed=0)
    assert clf.epochs < 400  # stopped early
    assert 20 <= clf.best_epoch <= clf.epochs - 10  # chosen among epochs >= min_epochs


def test_class_weights_hand_computed():
    w = class_weights_from_labels(np.array([0, 0, 0, 1]), 3)
    # inverse counts 1/3 and 1, normalised to mean 1 over the two present classes; absent class 0
    np.testing.assert_allclose(w, [0.5, 1.5, 0.0])


def test_fold_data_rejects_overlap_and_hands_out_training_rows_only():
    fold = imbalanced_fold(0)
    with pytest.raises(FoldError, match="train and test"):
        FoldData("bad", fold.h, fold.t, fold.y, fold.train_idx, fold.valid_idx, fold.train_idx[:3], fold.heads, 4)
    view = fold.train_view()
    assert len(view.y) == len(fold.train_idx)
    view.h[:] = 0  # a copy: the fold's features are untouched
    assert np.abs(fold.h[fold.train_idx]).sum() > 0


def test_project_text_is_wt_h_plus_bt():
    fold = imbalanced_fold(0)
    tp = project_text(fold.h[:3], fold.heads)
    np.testing.assert_allclose(tp[1], fold.heads["W_t"] @ fold.h[1] + fold.heads["b_t"], rtol=1e-5, atol=1e-5)


def test_multimodal_columns_and_four_combinations(monkeypatch):
    import misgan.augmentation.classifier as aug

    fold = imbalanced_fold(2, n_major=30, n_minor=30)
    seen = []
    real_train = aug.train_classifier

    def spy(x, y, n, cfg, **kw):
        seen.append((x.shape, len(y)))
        return real_train(x, y, n, cfg, **kw)

    monkeypatch.setattr(aug, "train_classifier", spy)
    n = len(fold.train_idx)
    h_syn = fold.h[fold.train_idx] + 0.1
    t_syn = fold.t[fold.train_idx]
    cfg = ClassifierConfig(hidden=(16,), max_epochs=50)
    out = evaluate_multimodal(fold, h_syn, fold.y[fold.train_idx], t_syn, cfg, seed=0)
    assert set(out) == {"audio", "text", "audio_text"}
    # audio h ∪ ĥ, text t ∪ t′(ĥ), audio+text the four combinations (4n rows, Dh + Dt columns)
    assert seen == [((2 * n, 16), 2 * n), ((2 * n, 8), 2 * n), ((4 * n, 24), 4 * n)]
    for col in out.values():
        assert 0.5 < col["uar"] <= 1.0


@pytest.mark.parametrize("method", ["smote", "ours"])
def test_augmentation_helps_on_imbalanced_clusters(method):
    """Few minority rows, no class weights: balancing with SMOTE or our GAN reliably raises UAR."""
    from misgan.gan.train import GanConfig

    cfg = ClassifierConfig(class_weights=False, max_epochs=200)
    gains = []
    for seed in range(3):
        fold = imbalanced_fold(seed)
        view = fold.train_view()
        labels = balance_labels(view.y, 4)
        assert np.bincount(labels, minlength=4).tolist() == [0, 0, 77, 77]
        base = evaluate_unimodal(fold, None, None, cfg, seed=seed)["uar"]
        gan_cfg = GanConfig(epochs=60, batch_size=64, lr=1e-3, patience=0, threads=1)
        a = make_augmenter(method, gan_cfg, text_mode="class")
        a.fit(view, seed)
        xs, ys = a.sample(labels, seed)
        gains.append(evaluate_unimodal(fold, xs, ys, cfg, seed=seed)["uar"] - base)
    assert min(gains) > 0.0
    assert np.mean(gains) > 0.03


def test_fold_guard_refuses_test_rows_and_records_requests():
    fold = imbalanced_fold(0)
    fold.train_view()
    fold.valid()
    assert fold.requested == set(fold.train_idx.tolist()) | set(fold.valid_idx.tolist())
    with pytest.raises(FoldError, match="leakage"):
        fold._take(fold.test_idx[:2])
    assert not fold.requested & set(fold.test_idx.tolist())


def test_full_batch_head_is_sklearn_logistic_regression_with_sample_weights():
    from sklearn.linear_model import LogisticRegression

    fold = imbalanced_fold(3, n_major=40, n_minor=10)
    view = fold.train_view()
    rng = np.random.default_rng(0)
    sw = rng.uniform(0.2, 2.0, len(view.y))
    clf = train_classifier(view.h, view.y, 4, ClassifierConfig(), c=0.3, sample_weight=sw)
    ref = LogisticRegression(C=0.3, class_weight="balanced", max_iter=5000, tol=1e-8)
    ref.fit(view.h.astype(np.float64), view.y, sample_weight=sw)
    ht, _, _ = fold.test()
    np.testing.assert_allclose(clf.logits(ht).argmax(1), ref.predict(ht))
    np.testing.assert_allclose(clf.model[0].weight.detach().numpy(), ref.coef_, atol=2e-2)
    assert clf.c == 0.3


def test_full_batch_chooses_c_on_groups_and_none_reuses_stage1_c():
    from misgan.alignment.fullbatch import select_c, softmax_scorer

    fold = imbalanced_fold(4, n_major=40, n_minor=40)
    view = fold.train_view()
    groups = np.repeat(np.arange(4), int(np.ceil(len(view.y) / 4)))[: len(view.y)].astype(str)
    cfg = ClassifierConfig()
    clf = train_classifier(view.h, view.y, 4, cfg, groups=groups)
    c, _ = select_c(softmax_scorer(view.h, view.y, 4, class_weights=True), groups, cfg.c_grid, cfg.inner_folds)
    assert clf.c == c
    fold.attrs["selection"] = {"c": 0.05}
    out = evaluate_unimodal(fold, None, None, cfg, seed=0)
    direct = train_classifier(view.h, view.y, 4, cfg, c=0.05)
    ht, _, yt = fold.test()
    assert out["uar"] == pytest.approx(balanced_accuracy_score(yt, direct.predict(ht)))
