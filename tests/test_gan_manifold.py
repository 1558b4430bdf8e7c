"""Issue 11.2 / 12.5 / 13.3: the on-manifold generator, the new quality metrics against independent
references, the tstr selection, the weak-generator warning and the cheap evaluation schedule."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from misgan.gan import metrics as gm
from misgan.gan import selection
from misgan.gan.config import GanConfig


def clusters(n=240, c=4, dh=16, dt=6, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % c
    # h lives in a 5-dim subspace of R^16: the principal basis must find it
    basis = np.linalg.qr(rng.normal(size=(dh, 5)))[0].T
    coef = 2.0 * rng.normal(size=(c, 5))[y] + rng.normal(size=(n, 5))
    h = (coef @ basis + 3.0).astype(np.float32)
    t = (rng.normal(size=(c, dt))[y] + 0.3 * rng.normal(size=(n, dt))).astype(np.float32)
    W_y = np.linalg.lstsq(np.c_[h, np.ones(n)], np.eye(c)[y], rcond=None)[0]
    heads = {
        "W_y": W_y[:-1].T.astype(np.float32),
        "b_y": W_y[-1].astype(np.float32),
        "W_t": (0.1 * rng.normal(size=(dt, dh))).astype(np.float32),
        "b_t": np.zeros(dt, np.float32),
    }
    return h, y, t, heads, basis


def test_knn_precision_recall_hand_computed():
    real = np.array([[0.0], [1.0], [2.0], [10.0]])
    fake = np.array([[0.5], [20.0]])
    # k = 1: real radii are the distance to the nearest other real row: 1, 1, 1, 8; fake radii 19.5, 19.5
    out = gm.knn_precision_recall(real, fake, k=1)
    assert out["precision"] == 0.5  # 0.5 lies in real balls, 20 lies in none (10 + 8 = 18 < 20)
    assert out["recall"] == 1.0  # every real row is within 19.5 of 0.5 or of 20
    assert gm.knn_precision_recall(real, real, k=1) == {"precision": 1.0, "recall": 1.0}


def test_knn_precision_recall_matches_a_cdist_reference():
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(3)
    real, fake = rng.normal(size=(300, 40)), 1.3 * rng.normal(size=(200, 40)) + 0.2
    k = 3

    def radius(x):
        d = cdist(x, x)
        np.fill_diagonal(d, np.inf)
        return np.sort(d, axis=1)[:, k - 1]

    cross = cdist(fake, real)
    want_p = (cross <= radius(real)[None, :]).any(axis=1).mean()
    want_r = (cross <= radius(fake)[:, None]).any(axis=0).mean()
    out = gm.knn_precision_recall(real, fake, k=k)
    assert 0 < want_p < 1 and 0 < want_r < 1
    assert out == {"precision": pytest.approx(want_p), "recall": pytest.approx(want_r)}
    # the real side's radii computed once by the caller (the periodic evaluation) give the same figures
    np.testing.assert_allclose(gm.kth_radius(real, k), radius(real) ** 2, rtol=1e-9)
    assert gm.knn_precision_recall(real, fake, k=k, real_radius=gm.kth_radius(real, k)) == out


def test_tstr_matches_sklearn_and_auc_matches_roc_auc_score():
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    h, y, _, _, _ = clusters()
    fake, yf = h[:120] + 0.1, y[:120]
    ref = make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=300)).fit(fake, yf)
    expected = balanced_accuracy_score(y[120:], ref.predict(h[120:]))
    assert gm.tstr_uar(fake, yf, h[120:], y[120:]) == pytest.approx(expected)
    assert np.isnan(gm.tstr_uar(fake, np.zeros(120), h, y))
    # identical sets are inseparable, far-apart sets perfectly separable
    assert gm.real_vs_fake_auc(h, h[::-1].copy()) < 0.6
    assert gm.real_vs_fake_auc(h, h + 100.0) == 1.0
    assert gm.relative_consistency(0.6, 0.8) == pytest.approx(0.75)


def test_tstr_selector_rejects_overshoot_and_off_manifold_epochs():
    sel = selection.Selector("tstr", 0.0, reference=0.8, auc_max=0.9)
    recs = [
        {"consistency": 0.5, "auc_train": 0.99, "relative_consistency": 0.6, "tstr_uar": 0.7},  # off manifold
        {"consistency": 0.7, "auc_train": 0.8, "relative_consistency": 0.9, "tstr_uar": 0.5},  # qualifies
        {"consistency": 0.95, "auc_train": 0.7, "relative_consistency": 1.2, "tstr_uar": 0.9},  # overshoots
        {"consistency": 0.7, "auc_train": 0.85, "relative_consistency": 1.0, "tstr_uar": 0.6},  # better
        {"epoch": 9},  # between evaluations
    ]
    assert [sel.offer(r) for r in recs] == [True, True, False, True, False]
    assert sel.best["tstr_uar"] == 0.6


def test_on_manifold_generator_starts_conditioned_and_stays_in_the_subspace():
    from misgan.gan.initialise import init_on_manifold, principal_basis
    from misgan.gan.models import Generator
    from misgan.gan.sampling import generate

    h, y, t, _heads, basis = clusters()
    ht = torch.from_numpy(h)
    center, vb = principal_basis(ht, 0.999)
    assert vb.shape[0] == 5  # the data's rank: 5 directions carry all the variance
    G = Generator(4, 4, t.shape[1], h.shape[1], "linear", 8, True, t.mean(0), t.std(0), subspace_k=5)
    onehot = torch.nn.functional.one_hot(torch.from_numpy(y)).float()
    init_on_manifold(G, ht, onehot, G.standardise(torch.from_numpy(t)), (center, vb), ridge=1.0)
    lab = np.repeat(np.arange(4), 500)
    rows = np.concatenate([np.flatnonzero(y == k)[np.arange(500) % 60] for k in range(4)])
    fake = generate(G, lab, t[rows], 0)
    # every generated row lies in the affine principal subspace of h (residual after projection ~ 0)
    off = (fake - 3.0) - (fake - 3.0) @ basis.T @ basis
    assert np.abs(off).max() < 1e-3
    # class columns start at the class means: the per-class mean of generated rows is near the real one
    for k in range(4):
        assert np.linalg.norm(fake[lab == k].mean(0) - h[y == k].mean(0)) < 0.5 * np.linalg.norm(h[y == k].std(0))


def test_projection_discriminator_and_weak_generator_warnings():
    from misgan.gan.models import Discriminator
    from misgan.gan.monitor import weak_generator_warnings
    from misgan.gan.train import fit_gan

    D = Discriminator(16, "linear", 8, n_classes=4)
    x = torch.randn(5, 16)
    c = torch.tensor([0, 1, 2, 3, 0])
    with torch.no_grad():
        D.embed.weight[1] = 1.0
    expected = D.psi(x).squeeze(1) + torch.where(c == 1, x.sum(1), torch.zeros(5))
    assert torch.allclose(D(x, c), expected)
    assert weak_generator_warnings({"consistency": 0.27, "mi_bits": 0.3}, 4, 0.05)[0].startswith(
        "kept generator is at chance"
    )
    assert len(weak_generator_warnings({"consistency": 0.9, "mi_bits": -0.1}, 4, 0.05)) == 1
    assert weak_generator_warnings({"consistency": 0.9, "mi_bits": 0.5}, 4, 0.05) == []

    h, y, t, heads, _ = clusters()
    cfg = GanConfig.on_manifold(epochs=7, batch_size=32, min_steps=3, noise_dim=4, eval_every=3, patience=0)
    res = fit_gan(h[:160], y[:160], t[:160], heads, cfg, valid=(h[160:], y[160:], t[160:]))
    evaluated = [r["epoch"] for r in res.history if "consistency" in r]
    assert evaluated == [3, 6, 7] and res.best_epoch in evaluated
    assert res.generator.subspace_k == 5 and res.metrics["warnings"] == res.warnings
    # conditioning in place from step 0: consistency well above chance; AUC against training rows below 1
    assert res.metrics["consistency"] > 0.6 and res.metrics["auc_train"] < 0.95
    assert {"tstr_uar", "knn_precision", "knn_recall", "relative_consistency"} <= set(res.metrics)


def test_checkpoint_round_trip_and_old_format(tmp_path):
    from misgan.gan.checkpoint import load_generator, save_generator
    from misgan.gan.models import GanError, Generator
    from misgan.gan.sampling import generate
    from misgan.gan.train import GanResult

    g = Generator(4, 3, 2, 6, "mlp", 8, True, subspace_k=3)
    with torch.no_grad():
        g.basis.copy_(torch.eye(6)[:3])
    save_generator(tmp_path / "g.pt", GanResult(g, [], {}))
    back, _ckpt = load_generator(tmp_path / "g.pt")
    labels, t = np.array([0, 1, 2]), np.ones((3, 2), np.float32)
    assert np.allclose(generate(back, labels, t, 0), generate(g, labels, t, 0))
    # a checkpoint written before the on-manifold generator (no subspace_k in dims) still loads
    old = Generator(4, 3, 2, 6)
    save_generator(tmp_path / "old.pt", GanResult(old, [], {}))
    raw = torch.load(tmp_path / "old.pt", weights_only=True)
    raw["dims"].pop("subspace_k")
    torch.save(raw, tmp_path / "old.pt")
    assert load_generator(tmp_path / "old.pt")[0].subspace_k == 0
    raw["dims"]["out_dim"] = 7
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(GanError, match="does not match"):
        load_generator(tmp_path / "bad.pt")
