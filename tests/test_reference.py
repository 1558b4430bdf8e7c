"""misgan.reference against a direct scikit-learn computation on synthetic speaker data."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from misgan.data.folds import Fold
from misgan.errors import MisganError
from misgan.reference import C_GRID, lr_reference, lr_reference_folds, summarise_reference


def data(seed: int = 0, n_spk: int = 6, per: int = 12, d: int = 10):
    rng = np.random.default_rng(seed)
    means = rng.normal(0, 1.0, (3, d))
    x, y, g = [], [], []
    for s in range(n_spk):
        off = rng.normal(0, 0.5, d)
        for c in range(3):
            x.append(means[c] + off + rng.normal(0, 1.5, (per, d)))
            y += [c] * per
            g += [f"s{s}"] * per
    x = np.vstack(x) * rng.uniform(0.1, 50, d)  # unequal scales: the standardisation matters
    return x, np.array(y), np.array(g)


def loso(groups):
    folds = []
    for s in sorted(set(groups)):
        te = np.flatnonzero(groups == s)
        rest = np.flatnonzero(groups != s)
        val_spk = sorted(set(groups[rest]))[0]
        folds.append(Fold(f"spk-{s}", rest[groups[rest] != val_spk], te, rest[groups[rest] == val_spk]))
    return folds


def sk(c, x, y):
    m = make_pipeline(StandardScaler(), LogisticRegression(C=c, class_weight="balanced", max_iter=5000))
    return m.fit(x, y)


def test_fixed_c_equals_sklearn():
    x, y, g = data()
    fold = loso(g)[2]
    got = lr_reference(x, y, fold, c=0.1)
    tr = fold.train_all
    pred = sk(0.1, x[tr], y[tr]).predict(x[fold.test])
    assert got["uar"] == pytest.approx(balanced_accuracy_score(y[fold.test], pred))
    assert got["macro_f1"] == pytest.approx(f1_score(y[fold.test], pred, average="macro"))
    assert got["c"] == 0.1 and got["inner"] == {}


def test_inner_cv_choice_equals_sklearn_grouped_search():
    x, y, g = data(1)
    fold = loso(g)[0]
    got = lr_reference(x, y, fold, groups=g)
    tr = fold.train_all
    assert set(np.unique(g[tr])).isdisjoint(set(g[fold.test]))
    splits = list(GroupKFold(n_splits=4).split(x[tr], groups=g[tr]))
    scores = {}
    for c in sorted(C_GRID):
        scores[c] = np.mean(
            [balanced_accuracy_score(y[tr][b], sk(c, x[tr][a], y[tr][a]).predict(x[tr][b])) for a, b in splits]
        )
    best = max(scores, key=lambda c: (round(scores[c], 12), -c))
    assert got["c"] == best
    for c in C_GRID:
        assert got["inner"][c] == pytest.approx(scores[c], abs=1e-9)
    pred = sk(best, x[tr], y[tr]).predict(x[fold.test])
    assert got["uar"] == pytest.approx(balanced_accuracy_score(y[fold.test], pred))


def test_test_speaker_cannot_change_the_choice():
    x, y, g = data(2)
    fold = loso(g)[1]
    a = lr_reference(x, y, fold, groups=g)
    x2 = x.copy()
    x2[fold.test] = np.random.default_rng(9).normal(0, 100, x2[fold.test].shape)
    b = lr_reference(x2, y, fold, groups=g)
    assert a["c"] == b["c"] and a["inner"] == b["inner"]


def test_without_groups_selects_on_the_valid_speakers():
    x, y, g = data(3)
    fold = loso(g)[3]
    got = lr_reference(x, y, fold)
    scores = {
        c: balanced_accuracy_score(y[fold.valid], sk(c, x[fold.train], y[fold.train]).predict(x[fold.valid]))
        for c in C_GRID
    }
    for c in C_GRID:
        assert got["inner"][c] == pytest.approx(scores[c])


def test_folds_and_summary():
    x, y, g = data(4)
    folds = loso(g)
    recs = lr_reference_folds(x, y, folds, c=1.0)
    assert [r["fold"] for r in recs] == [f.name for f in folds]
    s = summarise_reference(recs)
    assert s["n_folds"] == len(folds)
    assert s["uar"]["mean"] == pytest.approx(np.mean([r["uar"] for r in recs]))
    assert 0.4 < s["uar"]["mean"] <= 1.0


def test_one_class_is_a_user_error():
    x, y, g = data()
    fold = loso(g)[0]
    with pytest.raises(MisganError, match="single class"):
        lr_reference(x, np.zeros_like(y), fold, c=1.0)


def test_wide_features_same_classifier_as_plain_sklearn():
    """More columns than rows: the row-span rotation must not change the fitted classifier."""
    rng = np.random.default_rng(5)
    x, y, g = data(5, d=8)
    x = np.hstack([x, rng.normal(size=(len(x), 300)) * rng.uniform(0.1, 10, 300)])
    fold = loso(g)[0]
    tr = fold.train_all
    assert x.shape[1] > len(tr)
    got = lr_reference(x, y, fold, c=0.05)
    pred = sk(0.05, x[tr], y[tr]).predict(x[fold.test])
    assert got["uar"] == pytest.approx(balanced_accuracy_score(y[fold.test], pred))
    from misgan.reference import _Features, _fit_lr

    prep = _Features(x[tr])
    ours = _fit_lr(0.05, prep(x[tr]), y[tr]).predict_proba(prep(x[fold.test]))
    np.testing.assert_allclose(ours, sk(0.05, x[tr], y[tr]).predict_proba(x[fold.test]), atol=2e-3)


def test_transfer_fits_every_training_row_and_scores_each_unit():
    """Cross-corpus: C by grouped inner CV over the training corpus's speakers only, then one fit on all its
    rows, scored per test unit; checked against scikit-learn's GroupKFold search and pipeline."""
    from misgan.reference import lr_transfer

    x, y, g = data(6)
    xt, yt, gt = data(7)  # another "corpus": other speakers, other draws
    units = {f"t-{s}": np.flatnonzero(gt == s) for s in sorted(set(gt))}
    got = lr_transfer(x, y, g, xt, yt, units, 3)
    splits = list(GroupKFold(n_splits=4).split(x, groups=g))
    scores = {
        c: np.mean([balanced_accuracy_score(y[b], sk(c, x[a], y[a]).predict(x[b])) for a, b in splits])
        for c in sorted(C_GRID)
    }
    best = max(scores, key=lambda c: (round(scores[c], 12), -c))
    pred = sk(best, x, y).predict(xt)
    assert [r["fold"] for r in got] == list(units)
    for r in got:
        rows = units[r["fold"]]
        assert r["c"] == best and r["inner"][best] == pytest.approx(scores[best], abs=1e-9)
        assert r["uar"] == pytest.approx(balanced_accuracy_score(yt[rows], pred[rows]))
        assert np.asarray(r["confusion"]).sum() == len(rows)
    poisoned = xt.copy()
    poisoned[:] = np.random.default_rng(3).normal(0, 100, xt.shape)  # the test corpus cannot move C
    assert lr_transfer(x, y, g, poisoned, yt, units, 3)[0]["c"] == best
    with pytest.raises(MisganError, match="single class"):
        lr_transfer(x, np.zeros_like(y), g, xt, yt, units, 3)
