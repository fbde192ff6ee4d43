"""Losses and tier labels against hand-computed values."""
import math

import pytest
import torch

from nar_core.ranker.losses import pairwise_ranking_loss, tier_labels, tier_loss


def psi(e):
    return math.log1p(math.exp(-e))


def test_pairwise_logistic_loss_three_items_by_hand():
    s = torch.tensor([2.0, 0.5, -1.0])
    y = torch.tensor([0.9, 0.95, 0.1])  # item 1 is best, item 0 second
    # pairs (0,1): (2-0.5)*sign(-0.05)=-1.5; (0,2): 3*1=3; (1,2): 1.5*1=1.5
    expected = psi(-1.5) + psi(3.0) + psi(1.5)
    assert pairwise_ranking_loss(s, y, reduction="sum").item() == pytest.approx(expected, rel=1e-6)
    assert pairwise_ranking_loss(s, y).item() == pytest.approx(expected / 3, rel=1e-6)


def test_pairwise_loss_ties_are_constant_log2_and_gradient_free():
    s = torch.tensor([3.0, -2.0], requires_grad=True)
    loss = pairwise_ranking_loss(s, torch.tensor([0.5, 0.5]), reduction="sum")
    loss.backward()
    assert loss.item() == pytest.approx(math.log(2))
    assert torch.all(s.grad == 0)


def test_cross_entropy_by_hand():
    logits = torch.tensor([[1.0, 0.0, 0.0]])
    expected = -math.log(math.e / (math.e + 2))
    assert tier_loss(logits, torch.tensor([0])).item() == pytest.approx(expected, rel=1e-6)


def test_tier_labels_equal_split():
    y = torch.tensor([0.1, 0.9, 0.5, 0.7, 0.3, 0.2, 0.8, 0.6, 0.4, 1.0])
    labels = tier_labels(y, 5)
    # best two (1.0, 0.9) -> tier 0, ..., worst two (0.2, 0.1) -> tier 4
    assert labels.tolist() == [4, 0, 2, 1, 3, 4, 1, 2, 3, 0]
    assert torch.bincount(labels, minlength=5).tolist() == [2, 2, 2, 2, 2]


def test_tier_labels_batch_not_divisible():
    y = torch.arange(7, dtype=torch.float32)  # 6 is best
    labels = tier_labels(y, 5)
    counts = torch.bincount(labels, minlength=5)
    assert counts.sum() == 7 and counts.max() - counts.min() <= 1
    assert labels[6] == 0 and labels[0] == 4
    # monotone: better accuracy never gets a worse tier
    order = torch.argsort(-y)
    assert torch.all(labels[order][1:] >= labels[order][:-1])


def test_tier_labels_ties_share_the_best_tier():
    y = torch.tensor([0.5, 0.5, 0.5, 0.1, 0.0])
    labels = tier_labels(y, 5)
    assert labels.tolist() == [0, 0, 0, 3, 4]
