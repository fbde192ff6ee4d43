"""Did the ranker learn? Held-out tier accuracy against chance, the share of cells predicted per
tier, and Kendall tau against 0, with a flag for each way a run can fail to learn.

Every result row carries these (``ExperimentResult.health``); the log warns about a flagged run
and the report never judges with a flagged row without saying so. A classifier that predicts one
constant tier scores exactly 1/T on equal tiers, and a ranker with no signal has tau near 0, so
both are compared with what chance gives on the same number of cells:

* ``tiers at chance``: tier accuracy within 3 binomial standard errors of 1/T;
* ``one tier predicted``: one tier takes at least ``ONE_TIER_SHARE`` of the held-out cells;
* ``tau at chance``: tau within 3 standard errors of 0 (Kendall's null variance
  2(2n+5) / (9n(n-1))).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from .losses import tier_labels
from .metrics import kendall_tau

ONE_TIER_SHARE = 0.9
Z = 3.0


@dataclass
class Health:
    kendall_tau: float = math.nan
    tier_accuracy: float = math.nan
    tier_chance: float = math.nan
    tier_shares: list[float] = field(default_factory=list)
    tiers_predicted: int = 0
    flags: list[str] = field(default_factory=list)

    @property
    def status(self) -> str:
        return "; ".join(self.flags) if self.flags else "ok"


def assess(scores: np.ndarray | None, logits: np.ndarray | None, y: np.ndarray, num_tiers: int) -> Health:
    """Health of a ranker from its held-out ``scores`` (None: score head untrained) and tier
    ``logits`` (None: no classifier or not trained) against the true accuracies ``y``; the held-out
    cells' true tiers split them into ``num_tiers`` equal tiers by ``y``."""
    y = np.asarray(y, dtype=np.float64)
    n = y.size
    h = Health()
    if scores is not None and n >= 2:
        h.kendall_tau = kendall_tau(scores, y)
        sd0 = math.sqrt(2 * (2 * n + 5) / (9 * n * (n - 1)))
        if not (h.kendall_tau > Z * sd0):
            h.flags.append("tau at chance")
    if logits is not None and n >= num_tiers:
        pred = np.asarray(logits).argmax(axis=1)
        truth = tier_labels(torch.as_tensor(y), num_tiers).numpy()
        h.tier_accuracy = float((pred == truth).mean())
        h.tier_chance = 1.0 / num_tiers
        shares = np.bincount(pred, minlength=num_tiers) / n
        h.tier_shares = [float(v) for v in shares]
        h.tiers_predicted = int((shares > 0).sum())
        se = math.sqrt(h.tier_chance * (1 - h.tier_chance) / n)
        if not (h.tier_accuracy > h.tier_chance + Z * se):
            h.flags.append("tiers at chance")
        if shares.max() >= ONE_TIER_SHARE:
            h.flags.append("one tier predicted")
    return h
