"""Stage-2 quality metrics (misgan.gan.metrics) against closed forms, scipy, sklearn and torch references."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import linalg
from sklearn.metrics import accuracy_score

from misgan.gan import frechet
from misgan.gan import metrics as gm

torch.set_num_threads(1)


def _rotation(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(d, d)))
    return q


def test_frechet_closed_form_for_commuting_covariances():
    # N(m1, Q diag(a) Q') vs N(m2, Q diag(b) Q'): FD = |m1 - m2|^2 + sum (sqrt a - sqrt b)^2
    a, b = np.array([1.0, 4.0, 9.0, 0.25]), np.array([4.0, 1.0, 1.0, 1.0])
    m1, m2 = np.array([0.0, 1.0, 2.0, 3.0]), np.array([1.0, 1.0, 0.0, 3.0])
    expected = 1 + 0 + 4 + 0 + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()  # = 5 + 1 + 1 + 4 + 0.25
    assert expected == pytest.approx(11.25)
    q = _rotation(4, 0)
    got = frechet.frechet_from_moments(m1, q @ np.diag(a) @ q.T, m2, q @ np.diag(b) @ q.T)
    assert got == pytest.approx(expected, rel=1e-9)
    assert frechet.frechet_from_moments(m1, np.diag(a), m1, np.diag(a)) == pytest.approx(0.0, abs=1e-9)


def test_frechet_matches_scipy_sqrtm_for_general_covariances():
    rng = np.random.default_rng(1)
    x, z = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    s1, s2 = x @ x.T + 0.1 * np.eye(6), z @ z.T + 0.1 * np.eye(6)
    m1, m2 = rng.normal(size=6), rng.normal(size=6)
    covmean = linalg.sqrtm(s1 @ s2).real
    ref = ((m1 - m2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean)
    assert frechet.frechet_from_moments(m1, s1, m2, s2) == pytest.approx(ref, rel=1e-7)


@pytest.mark.parametrize("n_fake", [12, 200])  # fewer rows than dims (MM' path) and more (M'M path)
def test_frechet_of_rows_matches_scipy_sqrtm_of_the_sample_covariances(n_fake):
    rng = np.random.default_rng(4)
    real = rng.normal(size=(300, 30)) @ rng.normal(size=(30, 30)) * 0.3
    fake = 1.2 * rng.normal(size=(n_fake, 30)) + 0.5
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    ref = ((real.mean(0) - fake.mean(0)) ** 2).sum() + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert frechet.FrechetReference.from_rows(real).distance(fake) == pytest.approx(ref, rel=1e-7)


def test_frechet_from_samples_approaches_the_gaussian_value():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(40000, 3)) * [1.0, 2.0, 3.0]
    y = rng.normal(size=(40000, 3)) * [2.0, 2.0, 1.0] + [1.0, 0.0, 0.0]
    expected = 1.0 + (1 - 2) ** 2 + 0 + (3 - 1) ** 2  # = 6
    assert frechet.frechet_distance(x, y) == pytest.approx(expected, abs=0.1)
    # rank-deficient covariances (fewer rows than dims) stay finite and non-negative
    assert 0 <= frechet.frechet_distance(rng.normal(size=(5, 20)), rng.normal(size=(5, 20))) < np.inf
    with pytest.raises(ValueError):
        frechet.frechet_distance(x[:, :2], y)


def test_class_frechet_is_zero_only_when_classes_match():
    rng = np.random.default_rng(3)
    y = np.repeat([0, 1], 3000)
    real = rng.normal(size=(6000, 2)) + 4 * y[:, None]
    swapped = rng.normal(size=(6000, 2)) + 4 * (1 - y)[:, None]  # right pooled distribution, wrong classes
    assert frechet.frechet_distance(real, swapped) < 0.1
    assert frechet.class_frechet_distance(real, y, swapped, y) == pytest.approx(32.0, abs=0.5)  # |(4, 4)|^2
    assert frechet.class_frechet_distance(real, y, real[::-1][np.argsort(y[::-1], kind="stable")], y) < 0.1


def test_mi_bound_hand_values():
    y = np.array([0, 1, 2, 3] * 5)
    perfect = np.eye(4)[y] * 50.0
    out = gm.mi_class_bound(perfect, y)
    assert out["h_c_bits"] == pytest.approx(2.0) and out["mi_bits"] == pytest.approx(2.0, abs=1e-6)
    flat = gm.mi_class_bound(np.zeros((20, 4)), y)
    assert flat["mi_bits"] == pytest.approx(0.0, abs=1e-12)  # CE = log2 4 = H(c)
    # unbalanced: the per-class terms average (weighted by p(k)) to the overall bound
    y2 = np.array([0, 0, 0, 1])
    logits = np.array([[2.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 3.0]])
    o = gm.mi_class_bound(logits, y2)
    ce = -np.log2(np.exp(logits[np.arange(4), y2]) / np.exp(logits).sum(1))
    h = -(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25))
    assert o["mi_bits"] == pytest.approx(h - ce.mean())
    assert 0.75 * o["per_class"][0] + 0.25 * o["per_class"][1] == pytest.approx(o["mi_bits"])


def test_infonce_bound_matches_the_torch_loss():
    from misgan.alignment.losses import info_nce

    rng = np.random.default_rng(4)
    t, t_hat = rng.normal(size=(64, 8)), rng.normal(size=(64, 8))
    out = gm.infonce_bound(t, t_hat, tau=0.5, batch_size=32)
    ref = np.mean(
        [float(info_nce(torch.tensor(t[i : i + 32]), torch.tensor(t_hat[i : i + 32]), 0.5)) for i in (0, 32)]
    )
    assert out["infonce_loss"] == pytest.approx(ref, rel=1e-6)
    assert out["infonce_bits"] == pytest.approx((math.log(32) - ref) / math.log(2), rel=1e-6)
    # perfectly recoverable text: the bound approaches log2 B
    e = np.eye(16)
    assert gm.infonce_bound(e, e, tau=0.01, batch_size=16)["infonce_bits"] == pytest.approx(4.0, abs=1e-3)


def test_consistency_matches_sklearn():
    rng = np.random.default_rng(5)
    logits, y = rng.normal(size=(50, 3)), rng.integers(0, 3, 50)
    out = gm.consistency(logits, y)
    assert out["accuracy"] == pytest.approx(accuracy_score(y, logits.argmax(1)))
    assert out["per_class"][1] == pytest.approx(accuracy_score(y[y == 1], logits.argmax(1)[y == 1]))


def test_real_vs_fake_auc():
    rng = np.random.default_rng(6)
    real = rng.normal(size=(1000, 5))
    # same distribution: near 0.5 (cross-validation on pure noise is biased a little below 0.5)
    assert abs(gm.real_vs_fake_auc(real, rng.normal(size=(1000, 5)), seed=0) - 0.5) < 0.05
    assert gm.real_vs_fake_auc(real, rng.normal(size=(1000, 5)) + 3.0, seed=0) > 0.99


def test_metrics_separate_trained_from_untrained_generator():
    from test_gan import clusters

    from misgan.gan.models import Generator
    from misgan.gan.train import GanConfig, evaluate, fit_gan

    h, y, t, heads = clusters(n=400)
    cfg = GanConfig(epochs=25, batch_size=64, min_steps=20, noise_dim=8, lr=3e-3, patience=0, eval_every=1)
    trained = fit_gan(h, y, t, heads, cfg)
    untrained = Generator(8, 4, t.shape[1], h.shape[1], text_mean=t.mean(0), text_std=t.std(0))
    from misgan.gan.train import EvalSet

    ev = EvalSet(h, y, t, cfg, "train")
    good, bad = (
        evaluate(trained.generator, heads, ev, cfg, auc=True),
        evaluate(untrained, heads, ev, cfg, auc=True),
    )
    assert good["consistency"] > 0.9 and bad["consistency"] < 0.5
    assert good["mi_bits"] > good["h_c_bits"] - 0.25 and bad["mi_bits"] < 1.0
    assert good["fd"] < 0.5 * bad["fd"] and good["cfd"] < 0.5 * bad["cfd"]
    assert good["infonce_bits"] > bad["infonce_bits"] + 1.0
    assert good["auc_real_vs_fake"] < bad["auc_real_vs_fake"]


def test_real_vs_fake_auc_on_tiny_sets():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(3, 4))
    # 3 rows per side: 3 folds instead of 5, and a clear shift is still detected
    assert gm.real_vs_fake_auc(real, real + 10.0, seed=0) > 0.9
    assert np.isnan(gm.real_vs_fake_auc(real[:1], real[:1] + 10.0, seed=0))


def test_entropy_bits_matches_scipy():
    from scipy.stats import entropy

    y = np.random.default_rng(0).integers(0, 5, 200)
    assert gm.entropy_bits(y, 6) == pytest.approx(entropy(np.bincount(y, minlength=6), base=2))
    assert gm.entropy_bits(np.zeros(0, np.int64), 3) == 0.0


def test_entropy_bits_hand_values():
    assert gm.entropy_bits(np.array([0, 0, 1, 1]), 3) == pytest.approx(1.0)  # an absent class adds nothing
    assert gm.entropy_bits(np.array([0, 1, 2, 3]), 4) == pytest.approx(2.0)
    assert gm.entropy_bits(np.array([2, 2, 2]), 4) == 0.0
    assert gm.entropy_bits(np.array([], np.int64), 4) == 0.0  # no labels: 0, not NaN


def test_mi_bound_is_stable_for_huge_logits():
    # log-softmax of logits ~1e4 overflows a naive exp; the bound must stay finite and reach H(c)
    y = np.array([0, 1, 2, 3] * 3)
    out = gm.mi_class_bound(np.eye(4)[y] * 1e4, y)
    assert np.isfinite(out["mi_bits"]) and out["mi_bits"] == pytest.approx(2.0)
    wrong = gm.mi_class_bound(np.eye(4)[(y + 1) % 4] * 1e4, y)
    assert np.isfinite(wrong["ce_bits"]) and wrong["ce_bits"] == pytest.approx(1e4 / math.log(2))
