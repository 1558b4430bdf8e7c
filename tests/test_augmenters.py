"""Comparison augmenters: counts of rows per class, where the rows lie, seeding, and the GAN wrappers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from misgan.augmentation.augmenters import METHODS, GanAugmenter, balance_labels, make_augmenter, ratio_labels
from misgan.augmentation.baselines import MixupAugmenter, NoiseAugmenter, SmoteAugmenter
from misgan.augmentation.classifier import AugmentError, TrainView

torch.set_num_threads(1)


def view(seed: int = 0, counts=(30, 20, 10), d: int = 6, dt: int = 4) -> TrainView:
    rng = np.random.default_rng(seed)
    c = len(counts)
    y = np.repeat(np.arange(c), counts)
    centers = 10.0 * np.eye(c, d)  # far-apart classes: any row of class k sits near centers[k]
    h = (centers[y] + rng.normal(size=(len(y), d))).astype(np.float32)
    t = (rng.normal(size=(c, dt))[y] + 0.1 * rng.normal(size=(len(y), dt))).astype(np.float32)
    heads = {
        "W_y": centers.astype(np.float32),
        "b_y": np.zeros(c, np.float32),
        "W_t": rng.normal(size=(dt, d)).astype(np.float32),
        "b_t": np.zeros(dt, np.float32),
    }
    return TrainView(h, t, y, heads, c)


def test_ratio_and_balance_label_counts():
    y = np.repeat([0, 1, 2], [30, 20, 10])
    assert np.bincount(ratio_labels(y, 1.0, 4), minlength=4).tolist() == [30, 20, 10, 0]
    assert np.bincount(ratio_labels(y, 0.5, 3), minlength=3).tolist() == [15, 10, 5]
    assert np.bincount(ratio_labels(y, 2.0, 3), minlength=3).tolist() == [60, 40, 20]
    # --balance: minority classes up to the majority count, the absent class 3 stays absent
    assert np.bincount(balance_labels(y, 4), minlength=4).tolist() == [0, 10, 20, 0]
    with pytest.raises(AugmentError, match="ratio"):
        ratio_labels(y, -1, 3)


@pytest.mark.parametrize("aug", [NoiseAugmenter(0.1), MixupAugmenter(0.2), SmoteAugmenter(5)])
def test_simple_augmenters_rows_belong_to_their_class(aug):
    v = view()
    labels = np.array([0] * 7 + [2] * 11 + [1] * 3)
    aug.fit(v, 0)
    x, y = aug.sample(labels, 0)
    assert x.shape == (len(labels), v.h.shape[1]) and x.dtype == np.float32
    np.testing.assert_array_equal(y, labels)
    # classes are 10 apart with unit noise: each synthetic row is nearest its own class centre
    centers = np.stack([v.h[v.y == k].mean(0) for k in range(3)])
    nearest = np.argmin(((x[:, None, :] - centers[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(nearest, labels)
    x2, _ = aug.sample(labels, 0)
    np.testing.assert_array_equal(x, x2)  # seeded
    x3, _ = aug.sample(labels, 1)
    assert not np.array_equal(x, x3)


def test_smote_rows_lie_between_two_rows_of_the_class():
    v = view(counts=(12, 12, 12))
    aug = SmoteAugmenter(3)
    aug.fit(v, 0)
    x, _y = aug.sample(np.array([1] * 5), 3)
    real = v.h[v.y == 1]
    for row in x:
        # on the segment between some pair (a, b) of class-1 rows: |a-row| + |row-b| == |a-b|
        d = np.linalg.norm(real - row, axis=1)
        pair = np.linalg.norm(real[:, None] - real[None], axis=-1)
        assert np.min(np.abs(d[:, None] + d[None, :] - pair) + np.eye(len(real)) * 1e9) < 1e-3


def test_noise_scale_follows_sigma():
    v = view(counts=(200,), d=3)
    aug = NoiseAugmenter(sigma=0.0)
    aug.fit(v, 0)
    x, _ = aug.sample(np.zeros(50, np.int64), 0)
    assert all(any(np.allclose(r, h) for h in v.h) for r in x)  # sigma 0: exact copies


def test_unknown_class_and_method_errors():
    v = view()
    aug = MixupAugmenter()
    aug.fit(v, 0)
    with pytest.raises(AugmentError, match=r"class\(es\) \[5\]"):
        aug.sample(np.array([5]), 0)
    with pytest.raises(AugmentError, match="unknown augmenter"):
        make_augmenter("diffusion")
    with pytest.raises(AugmentError, match="GAN config"):
        make_augmenter("ours")
    assert METHODS == ("none", "noise", "mixup", "smote", "cgauss", "cgan", "ours")


def test_gan_augmenters_train_on_view_and_condition_on_text(monkeypatch):
    from misgan.gan import train as gan

    v = view(counts=(40, 40, 40))
    calls = []
    real_train = gan.fit_gan

    def spy(h, y, t, heads, config, **kw):
        calls.append((h.copy(), config))
        return real_train(h, y, t, heads, config, **kw)

    monkeypatch.setattr(gan, "fit_gan", spy)
    ours = make_augmenter("ours", gan.GanConfig(epochs=3, patience=0), text_mode="class")
    ours.fit(v, 5)
    x, _y = ours.sample(np.array([0, 1, 2, 2]), 0)
    assert x.shape == (4, 6) and ours.last_text.shape == (4, 4)
    cgan = make_augmenter("cgan", gan.GanConfig(epochs=3, use_mi=False, use_text=False, text_mode="none"))
    cgan.fit(v, 5)
    x, _ = cgan.sample(np.array([0, 1]), 0)
    assert x.shape == (2, 6) and not cgan.generator.use_text
    assert cgan.last_text.shape == (2, 4)  # class-sampled text for the multimodal pairing
    assert [c.seed for _, c in calls] == [5, 5]
    assert not calls[1][1].use_mi
    np.testing.assert_array_equal(calls[0][0], v.h)
    assert isinstance(ours, GanAugmenter) and ours.history and "mi_bits" in ours.history[-1]


# ---------------------------------------------------------------- class-conditional Gaussians, subsets, gating


def _view(n_per=200, d=3, seed=0):
    rng = np.random.default_rng(seed)
    cov = np.array([[1.0, 0.6, 0.0], [0.6, 1.0, 0.0], [0.0, 0.0, 0.25]])[:d, :d]
    h = np.concatenate([rng.multivariate_normal(np.full(d, 3.0 * c), cov, size=n_per) for c in range(2)])
    y = np.repeat([0, 1], n_per)
    return TrainView(h.astype(np.float32), np.zeros((len(y), 2), np.float32), y, {}, 2), cov


@pytest.mark.parametrize("covariance", ["full", "diag"])
def test_class_conditional_gaussian_matches_class_moments(covariance):
    from sklearn.covariance import LedoitWolf

    from misgan.augmentation.baselines import GaussianAugmenter

    view, _ = _view()
    aug = make_augmenter("cgauss", covariance=covariance)
    assert isinstance(aug, GaussianAugmenter)
    aug.fit(view, 0)
    labels = np.repeat([0, 1], 20000)
    x, y = aug.sample(labels, 1)
    assert (y == labels).all()
    for c in (0, 1):
        rows = view.h[view.y == c].astype(np.float64)
        want = LedoitWolf().fit(rows).covariance_ if covariance == "full" else np.diag(rows.var(axis=0, ddof=1))
        assert np.allclose(x[y == c].mean(axis=0), rows.mean(axis=0), atol=0.05)
        assert np.allclose(np.cov(x[y == c].T), want, atol=0.06)
    with pytest.raises(AugmentError):
        make_augmenter("cgauss", covariance="tied")


def test_fraction_rows_stratified_within_speaker_and_nested():
    from misgan.augmentation.subsets import fraction_rows

    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 4, n)
    spk = rng.choice(list("abcde"), n)
    rows = np.arange(0, n, 2)  # a fold's training rows: every other row
    prev = set()
    for f in (0.1, 0.25, 0.5, 1.0):
        keep = fraction_rows(rows, y, spk, f, seed=3)
        assert set(keep) <= set(rows.tolist()) and prev <= set(keep.tolist())  # nested
        prev = set(keep.tolist())
        for s in "abcde":
            for c in range(4):
                group = rows[(spk[rows] == s) & (y[rows] == c)]
                got = np.intersect1d(keep, group)
                assert len(got) == (max(1, int(np.ceil(f * len(group)))) if len(group) else 0)
    assert (fraction_rows(rows, y, spk, 1.0, seed=3) == rows).all()
    assert not np.array_equal(fraction_rows(rows, y, spk, 0.25, 3), fraction_rows(rows, y, spk, 0.25, 4))


class _Fixed:
    """An augmenter that returns given rows (counts its fits and samples)."""

    name = "fixed"

    def __init__(self, make):
        self.make, self.fits, self.samples = make, 0, 0

    def fit(self, view, seed):
        self.fits += 1

    def sample(self, labels, seed):
        self.samples += 1
        return self.make(np.asarray(labels)), np.asarray(labels)


def _fold(n_train_per: int, seed: int = 0):
    """Two Gaussian classes in 20 dims; few training rows, many validation and test rows."""
    from misgan.augmentation.fold_data import FoldData

    rng = np.random.default_rng(seed)
    d = 20
    mu = np.zeros((2, d))
    mu[1, :] = 0.35
    sizes = (n_train_per, 150, 150)
    h, y = [], []
    for n in sizes:
        for c in (0, 1):
            h.append(rng.standard_normal((n, d)) + mu[c])
            y += [c] * n
    h = np.concatenate(h).astype(np.float32)
    y = np.asarray(y)
    ends = np.cumsum([2 * n for n in sizes])
    heads = {"W_y": np.zeros((2, d), np.float32), "b_y": np.zeros(2, np.float32)}
    heads |= {"W_t": np.zeros((2, d), np.float32), "b_t": np.zeros(2, np.float32)}
    fold = FoldData(
        "f", h, np.zeros((len(y), 2), np.float32), y, np.arange(ends[0]), np.arange(ends[0], ends[1]),
        np.arange(ends[1], ends[2]), heads, 2,
    )  # fmt: skip
    return fold, mu


def test_gate_falls_back_when_augmentation_hurts_and_keeps_it_when_it_helps():
    from misgan.augmentation.classifier import ClassifierConfig, evaluate_unimodal
    from misgan.augmentation.config import AugmentConfig
    from misgan.augmentation.gating import gated_score

    clf = ClassifierConfig(max_epochs=60, patience=20, min_epochs=5, lr=0.05)
    cfg = AugmentConfig(classifier=clf, gate_ratios=(1.0, 8.0), gate_weights=(1.0,), gate_margin=0.005)
    fold, mu = _fold(4)
    rng = np.random.default_rng(5)
    none = evaluate_unimodal(fold, None, None, clf, seed=0)

    def labels_for(r):
        return np.repeat([0, 1], int(4 * r))

    # harmful: rows of the OTHER class's distribution, shifted further -> labels effectively flipped
    bad = _Fixed(lambda lab: (rng.standard_normal((len(lab), 20)) + 3 * mu[1 - lab]).astype(np.float32))
    m, gate = gated_score(fold, bad, labels_for, cfg, 0, none)
    assert not gate["augmented"] and m["uar"] == none["uar"] and len(gate["grid"]) == 2
    assert all(g["valid_uar"] <= gate["valid_uar_none"] + cfg.gate_margin for g in gate["grid"])
    assert bad.samples == 2  # one sample per ratio from the single fit
    # helpful: many rows from the true class distributions (an oracle generator) with 4 real rows per class
    good = _Fixed(lambda lab: (rng.standard_normal((len(lab), 20)) + mu[lab]).astype(np.float32))
    m, gate = gated_score(fold, good, labels_for, cfg, 0, none)
    assert gate["augmented"] and min(gate["confirmed_gains"]) > cfg.gate_margin
    assert gate["ratio"] in (1.0, 8.0) and m["n_syn"] == int(8 * gate["ratio"])
    assert set(fold.requested).isdisjoint(fold.test_idx.tolist())  # the gate only read validation rows
    # the cross-fitted gain by hand: the candidate best on one half, scored against none on the other half
    none_a, none_b = gate["none_half_uars"]
    pick_a = max(gate["grid"], key=lambda g: g["half_uars"][0])
    pick_b = max(gate["grid"], key=lambda g: g["half_uars"][1])
    want = [pick_a["half_uars"][1] - none_b, pick_b["half_uars"][0] - none_a]
    assert gate["confirmed_gains"] == pytest.approx(want) and gate["halves"] == "rows"
    assert gate["crossfit_gain"] == pytest.approx(sum(want) / 2)
    assert sum(gate["half_rows"]) == len(fold.valid_idx)


def test_validation_halves_split_whole_speakers_or_class_stratified_rows():
    from misgan.augmentation.gating import validation_halves

    fold, _ = _fold(4)
    n = len(fold.y)
    speakers = np.array([f"s{i % 5}" for i in range(n)])
    a, b, how = validation_halves(fold, speakers)
    spk = speakers[fold.valid_idx]
    assert how == "speakers" and set(spk[a]).isdisjoint(spk[b]) and len(a) + len(b) == len(fold.valid_idx)
    assert set(spk[a]) == {"s0", "s2", "s4"} and set(spk[b]) == {"s1", "s3"}  # sorted names, alternating
    a, b, how = validation_halves(fold, np.array(["one"] * n))
    yv = fold.y[fold.valid_idx]
    assert how == "rows" and not set(a) & set(b) and len(a) + len(b) == len(yv)
    for k in (0, 1):  # each class split in halves (the first half gets the odd one)
        assert 0 <= (yv[a] == k).sum() - (yv[b] == k).sum() <= 1


def test_sample_weight_matches_row_replication():
    """A synthetic weight of 2 gives the same loss as the rows twice: the same trained head (full batch)."""
    import torch

    from misgan.augmentation.classifier import ClassifierConfig
    from misgan.augmentation.trainer import train_classifier

    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    cfg = ClassifierConfig(max_epochs=30, min_epochs=0, lr=0.05)
    w = np.ones(40, np.float32)
    w[:10] = 2.0
    a = train_classifier(x, y, 2, cfg, sample_weight=w, seed=1)
    b = train_classifier(np.concatenate([x, x[:10]]), np.concatenate([y, y[:10]]), 2, cfg, seed=1)
    wa, wb = a.model[0].weight.detach().numpy(), b.model[0].weight.detach().numpy()
    assert np.allclose(wa, wb, atol=1e-4)
