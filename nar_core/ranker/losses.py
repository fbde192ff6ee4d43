"""Losses of the ranker: pairwise logistic ranking (Eq. 9), tier cross-entropy, latency regression.

Also :func:`tier_labels`, the per-batch tier labels of NAR Algorithm 1 line 7.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def pairwise_ranking_loss(score: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Eq. 9: sum over pairs m < n of psi((s_m - s_n) * sign(y_m - y_n)), psi(e) = log(1 + exp(-e)).

    ``reduction="sum"`` is the printed formula; ``"mean"`` (default) divides by the number of
    pairs k(k-1)/2 so that the rank-loss factor keeps one meaning across batch sizes (with the sum,
    a batch of 128 would weigh the ranking term 8128 times the cross-entropy). Tied targets give
    sign 0, i.e. the constant log 2 with no gradient, exactly as in the formula.
    """
    k = score.shape[0]
    if k < 2:
        return score.sum() * 0.0
    i, j = torch.triu_indices(k, k, offset=1, device=score.device)
    diff = (score[i] - score[j]) * torch.sign(target[i] - target[j]).to(score.dtype)
    losses = F.softplus(-diff)  # log(1 + exp(-e)), numerically stable
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        return losses.mean()
    raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")


def tier_labels(target: torch.Tensor, num_tiers: int) -> torch.Tensor:
    """Tier of each item when the batch is split into ``num_tiers`` equal quality tiers (Alg. 1 l. 7).

    Tier 0 holds the best items (T1 in the papers). The item at descending rank r (0-based) of a
    batch of k goes to tier floor(r * T / k), so tier sizes differ by at most one when T does not
    divide k. Tied targets share the tier of their best rank (a tie never splits across tiers).
    """
    k = target.shape[0]
    if k == 0:
        return torch.zeros(0, dtype=torch.long, device=target.device)
    neg_sorted, _ = torch.sort(-target)
    # "min" rank: number of items strictly better than this one.
    rank = torch.searchsorted(neg_sorted.contiguous(), (-target).contiguous(), right=False)
    return torch.div(rank * num_tiers, k, rounding_mode="floor").clamp_(max=num_tiers - 1)


def tier_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross-entropy between the tier logits (softmax of Eq. 11 / 13) and the tier labels."""
    return F.cross_entropy(logits, labels)


def latency_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """NARQ2T Eq. 11 as mean squared error on the normalised latency (the paper calls it MSE)."""
    return F.mse_loss(pred, target)
