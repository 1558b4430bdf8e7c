"""Low-resource protocol: stage 1 refitted on a fraction's rows (misgan.augmentation.subsets.refit_stage1)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression

from misgan.alignment.config import AlignConfig
from misgan.augmentation.fold_data import AugmentError, FoldData
from misgan.augmentation.subsets import fraction_fold, refit_stage1
from misgan.io import to_jsonable


def _fold(text_dim: int = 6) -> tuple[FoldData, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    n_spk, per, d, c = 6, 24, 10, 3
    speakers = np.repeat([f"s{i}" for i in range(n_spk)], per)
    y = np.tile(np.arange(c), n_spk * per // c)
    audio = (rng.normal(size=(c, d))[y] + rng.normal(size=(len(y), d))).astype(np.float32)
    text = rng.normal(size=(len(y), text_dim)).astype(np.float32)
    test = np.flatnonzero(speakers == "s0")
    valid = np.flatnonzero(speakers == "s1")
    train = np.flatnonzero(~np.isin(speakers, ["s0", "s1"]))
    config = AlignConfig(h_dim=4, c_grid=(0.01, 1.0), inner_folds=2, text_head_epochs=5, reference=False)
    old = {"W_y": np.zeros((c, 4), np.float32), "b_y": np.zeros(c, np.float32)}
    old |= {"W_t": np.zeros((text_dim, 4), np.float32), "b_t": np.zeros(text_dim, np.float32)}
    fold = FoldData(
        "spk-s0", np.zeros((len(y), 4), np.float32), text, y, train, valid, test, old, c,
        attrs={"config": to_jsonable(dataclasses.asdict(config)), "selection": {"c": 99.0}},
    )  # fmt: skip
    return fold, audio, speakers


def test_refit_uses_only_the_fraction_rows():
    fold, audio, speakers = _fold()
    sub = fraction_fold(fold, speakers, 0.5, seed=3)
    rows = np.sort(np.concatenate([sub.train_idx, sub.valid_idx]))
    assert len(rows) < len(fold.train_idx) + len(fold.valid_idx)
    out = refit_stage1(sub, audio, speakers)
    # h: the principal subspace of the fraction's standardised rows only (sklearn PCA; signs free)
    mu, sd = audio[rows].astype(np.float64).mean(0), audio[rows].astype(np.float64).std(0)
    x = (audio - mu) / sd
    ref = PCA(n_components=4).fit(x[rows]).transform(x)  # x[rows] has mean 0: transform is x @ V
    assert np.allclose(np.abs(out.h), np.abs(ref), atol=1e-3)
    # W_y: sklearn's balanced logistic regression at the C the refit chose, on the fraction's rows
    c = out.attrs["selection"]["c"]
    assert c in (0.01, 1.0) and c != fold.attrs["selection"]["c"]
    lr = LogisticRegression(C=c, class_weight="balanced", max_iter=2000).fit(out.h[rows], fold.y[rows])
    pred = (out.h @ out.heads["W_y"].T + out.heads["b_y"]).argmax(1)
    assert (pred == lr.predict(out.h)).mean() > 0.98
    # the partition is the fraction's; the test rows never change; text statistics of the fraction rows
    assert np.array_equal(out.train_idx, sub.train_idx) and np.array_equal(out.test_idx, fold.test_idx)
    assert np.allclose(out.heads["text_mean"], fold.t[rows].mean(0), atol=1e-5)
    assert out.heads["W_t"].shape == (fold.t.shape[1], 4) and out.attrs["refit"] is True
    # the arrays that map other rows (source caches) into this h: recompute_h gives the same h
    from misgan.alignment.adapter import recompute_h

    assert np.allclose(recompute_h(out.attrs["stage1_arrays"], audio, out.attrs["config"]), out.h, atol=1e-5)


def test_refit_audio_only_fold_has_an_empty_text_head():
    fold, audio, speakers = _fold(text_dim=0)
    fold = dataclasses.replace(fold, heads={**fold.heads, "W_t": np.zeros((0, 4), np.float32)})
    out = refit_stage1(fraction_fold(fold, speakers, 0.5, seed=1), audio, speakers)
    assert out.heads["W_t"].shape == (0, 4) and out.heads["b_t"].shape == (0,)


def test_refit_names_a_fold_without_its_stage1_config():
    fold, audio, speakers = _fold()
    fold = dataclasses.replace(fold, attrs={})
    with pytest.raises(AugmentError, match=r"fold spk-s0: .*no stage-1 config"):
        refit_stage1(fold, audio, speakers)
