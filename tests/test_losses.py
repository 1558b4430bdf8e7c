"""Losses against values computed by hand on tiny tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from misgan.alignment.losses import (
    class_weights_from_labels,
    contrastive_alignment,
    cosine_sim,
    cross_entropy,
    info_nce,
    shared_projection,
)

R2 = 1 / math.sqrt(2)


def test_cross_entropy_hand_values():
    # softmax([0, ln 3]) = [1/4, 3/4]
    logits = torch.tensor([[0.0, math.log(3)], [0.0, math.log(3)]])
    y = torch.tensor([1, 0])
    assert cross_entropy(logits[:1], y[:1]).item() == pytest.approx(math.log(4 / 3))
    assert cross_entropy(logits, y).item() == pytest.approx((math.log(4 / 3) + math.log(4)) / 2)
    # weighted mean: (w1·ln(4/3) + w0·ln 4) / (w1 + w0)
    w = torch.tensor([3.0, 1.0])
    expected = (1 * math.log(4 / 3) + 3 * math.log(4)) / 4
    assert cross_entropy(logits, y, class_weights=w).item() == pytest.approx(expected)


def test_class_weights_inverse_frequency_mean_one():
    # counts 3 and 1 -> 1/3 and 1 -> normalised to mean 1: 0.5 and 1.5
    w = class_weights_from_labels(np.array([0, 0, 0, 1]), 2)
    assert w.tolist() == pytest.approx([0.5, 1.5])
    # an absent class gets 0 and does not count in the mean
    w3 = class_weights_from_labels(torch.tensor([0, 0, 0, 1]), 3)
    assert w3.tolist() == pytest.approx([0.5, 1.5, 0.0])
    assert class_weights_from_labels(np.array([0, 1, 2, 0, 1, 2]), 3).tolist() == pytest.approx([1, 1, 1])
    with pytest.raises(ValueError, match="labels must lie"):
        class_weights_from_labels(np.array([0, 3]), 3)


def test_class_weights_are_one_numpy_vector_for_both_stages():
    # stage 1 (torch CE) and stage 3 share this vector: numpy weights go straight into cross_entropy
    w = class_weights_from_labels(np.array([2, 2, 2, 2, 0]), 4)
    assert isinstance(w, np.ndarray) and w.tolist() == pytest.approx([1.6, 0.0, 0.4, 0.0])
    assert class_weights_from_labels(np.array([1, 1]), 3).tolist() == [0.0, 1.0, 0.0]  # one class present
    logits = torch.tensor([[0.0, math.log(3)], [0.0, math.log(3)]])
    y = torch.tensor([1, 0])
    as_numpy = cross_entropy(logits, y, class_weights=np.array([3.0, 1.0])).item()
    assert as_numpy == pytest.approx(cross_entropy(logits, y, class_weights=torch.tensor([3.0, 1.0])).item())
    with pytest.raises(ValueError, match="no labels"):
        class_weights_from_labels(np.array([], np.int64), 2)


def test_info_nce_identity_pairs():
    e = torch.eye(2)
    # s = I, τ = 1: each row -log(e / (e + 1))
    expected = math.log(1 + math.exp(-1))
    assert info_nce(e, e, tau=1.0).item() == pytest.approx(expected)
    # cosine: scaling a side changes nothing; a lower τ sharpens: -log(e^2 / (e^2 + 1))
    assert info_nce(e, 5 * e, tau=1.0).item() == pytest.approx(expected)
    assert info_nce(e, e, tau=0.5).item() == pytest.approx(math.log(1 + math.exp(-2)))


def test_info_nce_asymmetric_and_symmetric():
    a = torch.eye(2)
    c = torch.tensor([[1.0, 0.0], [R2, R2]])
    # s = [[1, r], [0, r]] with r = 1/√2
    row0 = -math.log(math.e / (math.e + math.exp(R2)))
    row1 = -math.log(math.exp(R2) / (1 + math.exp(R2)))
    forward = (row0 + row1) / 2
    assert info_nce(a, c, tau=1.0).item() == pytest.approx(forward)
    col0 = -math.log(math.e / (math.e + 1))
    col1 = math.log(2)  # column [r, r]
    backward = (col0 + col1) / 2
    assert info_nce(a, c, tau=1.0, symmetric=True).item() == pytest.approx((forward + backward) / 2)
    with pytest.raises(ValueError):
        info_nce(a, torch.ones(2, 3))


def test_cosine_sim_matches_numpy():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(4, 3)), rng.normal(size=(5, 3))
    ref = (a / np.linalg.norm(a, axis=1, keepdims=True)) @ (b / np.linalg.norm(b, axis=1, keepdims=True)).T
    got = cosine_sim(torch.tensor(a), torch.tensor(b)).numpy()
    np.testing.assert_allclose(got, ref, rtol=1e-6)


def test_contrastive_alignment_through_projections():
    # t has width 3, h width 2: proj_t keeps t's first two coordinates, proj_h is the identity
    t = torch.tensor([[1.0, 0.0, 7.0], [0.0, 1.0, -3.0]])
    h = torch.tensor([[1.0, 0.0], [R2, R2]])
    pt = torch.nn.Linear(3, 2, bias=False)
    ph = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        pt.weight.copy_(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
        ph.weight.copy_(torch.eye(2))
    row0 = -math.log(math.e / (math.e + math.exp(R2)))
    row1 = -math.log(math.exp(R2) / (1 + math.exp(R2)))
    assert contrastive_alignment(t, h, pt, ph, tau=1.0).item() == pytest.approx((row0 + row1) / 2)


def test_shared_projection_learns_alignment():
    torch.manual_seed(0)
    n, dt, dh = 16, 6, 4
    h = torch.randn(n, dh)
    t = h @ torch.randn(dh, dt)  # t is a linear image of h
    pt, ph = shared_projection(dt, dh, 8)
    opt = torch.optim.Adam([*pt.parameters(), *ph.parameters()], lr=1e-2)
    first = contrastive_alignment(t, h, pt, ph, tau=0.1).item()
    for _ in range(200):
        opt.zero_grad()
        loss = contrastive_alignment(t, h, pt, ph, tau=0.1, symmetric=True)
        loss.backward()
        opt.step()
    last = contrastive_alignment(t, h, pt, ph, tau=0.1).item()
    assert last < 0.3 * first


@pytest.mark.parametrize(("dt", "dh"), [(40, 6), (5, 6)])
def test_info_nce_linear_equals_info_nce_of_the_projection_with_gradients(dt, dh):
    """Eq. 6/13 through a linear map without forming t̂: loss and gradients towards h, W and b equal the plain
    `info_nce(t, h @ W.T + b)`; text narrower than h takes the plain form."""
    from misgan.alignment.losses import info_nce_linear

    g = torch.Generator().manual_seed(5)
    t = torch.randn(12, dt, generator=g)
    base = [torch.randn(12, dh, generator=g), torch.randn(dt, dh, generator=g), torch.randn(dt, generator=g)]
    out = []
    for fast in (True, False):
        h, w, b = (x.clone().requires_grad_(True) for x in base)
        loss = info_nce_linear(t, h, w, b, 0.2) if fast else info_nce(t, h @ w.T + b, 0.2)
        loss.backward()
        out.append((loss.item(), h.grad, w.grad, b.grad))
    assert out[0][0] == pytest.approx(out[1][0], rel=1e-5)
    for fast_grad, plain_grad in zip(out[0][1:], out[1][1:], strict=True):
        assert torch.allclose(fast_grad, plain_grad, rtol=1e-4, atol=1e-6)
