"""Comparison augmenters: counts of rows per class, where the rows lie, seeding, and the GAN wrappers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from misgan.augmentation.augmenters import (
    METHODS,
    GanAugmenter,
    MixupAugmenter,
    NoiseAugmenter,
    SmoteAugmenter,
    balance_labels,
    make_augmenter,
    ratio_labels,
)
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
    assert METHODS == ("none", "noise", "mixup", "smote", "cgan", "ours")


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
