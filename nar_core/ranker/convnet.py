"""ReNAS-style ConvNet ranker: the building-block ablation (NAR Table 7 / NARQ2T Table X).

A small 3-layer convolutional network over the same feature tensor (N channels of P x P), trained
with the pairwise ranking loss only (Eq. 9), as the papers compare it to the MSA encoder. It has
no tiers; the search ranks candidates drawn uniformly from the whole space by its score.
"""
from __future__ import annotations

import torch
from torch import nn

from .model import RankerOutput


class ConvNetRanker(nn.Module):
    """Three 3x3 conv layers (ReLU, BatchNorm) -> global average pool -> linear score."""

    tier_mode = None
    latency_head = None

    def __init__(self, feature_shape: tuple[int, int, int], width: int = 64, num_tiers: int = 5):
        super().__init__()
        c = feature_shape[0]
        self.feature_shape = tuple(feature_shape)
        self.num_tiers = num_tiers
        self.d_model = width
        self.body = nn.Sequential(
            nn.Conv2d(c, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(),
        )
        self.head = nn.Linear(2 * width, 1)

    def forward(self, x: torch.Tensor, with_tiers: bool = False) -> RankerOutput:
        h = self.body(x)
        feature = h.flatten(2).transpose(1, 2)  # (B, P*P, C') tokens, for interface parity
        return RankerOutput(score=self.head(h.mean(dim=(2, 3))).squeeze(-1), feature=feature,
                            tier_logits=None, latency=None)

    def update_tier_embeddings(self, feature: torch.Tensor, tiers: torch.Tensor) -> None:
        """No tiers: nothing to update."""

    def reset_tier_embeddings(self) -> None:
        """No tiers: nothing to reset."""
