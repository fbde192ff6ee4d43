"""Tier statistics (NAR Sec. 3.2 / NARQ2T Sec. III-C) and distribution selection (Algorithm 2 / 5).

While the ranker trains, the cells of every batch of k architectures carry their tier labels (by
ground truth: per batch, NAR Algorithm 1 line 7, or once over the training set, NARQ2T) and, per
tier, we record

* a FLOPs and a parameter histogram over q constraints between the batch minimum and maximum,
  step ``delta = ceil((tau_max - tau_min) / q)`` (Eq. 14-15; bin kappa is (tau_{kappa-1}, tau_kappa],
  the batch minimum itself falls in bin 1), as raw counts;
* the total count of every operation (no discretisation).

The histograms are kept per batch, tagged with their epoch: the search uses them "by turns" (NAR
Sec. 5.3), one batch at a time (see :mod:`nar_core.sampler`). :func:`select_distribution` is
Algorithm 2: keep the top tier's histogram only when the top tier is populated enough and distinct
from the low tiers, else fall back to its interval.

Two KL definitions (``kl_definition``). The papers write only KL(pi_T1 || pi_Ti):

* ``"softmax"`` (default): the authors' ``compute_kl_div`` (sampler/prob_calculate.py): a softmax
  over the *raw per-bin counts* of each tier, KL(softmax(c_T1) || softmax(c_Ti)), divided by q
  (``kl_div(..., reduction="batchmean")`` on a 1-D tensor divides by its length). Their
  thresholds (zeta 2.5 on NB101; 0.35 / 0.3 on NB201) were set on this definition.
* ``"smoothed"`` (before issue 9): the histograms smoothed with ``eps`` (1e-3 of a count) per bin
  and normalised, so the KL stays finite when tier i has no architecture where T1 has some.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .config import CHOICES, ExperimentConfig

KL_EPS = 1e-3


def discretise(values: np.ndarray, num_bins: int) -> tuple[float, float, np.ndarray]:
    """Eq. 14-15 bins of one batch: ``(tau_min, delta, bin index in [0, q))`` for each value."""
    values = np.asarray(values, dtype=np.float64)
    lo, hi = float(values.min()), float(values.max())
    delta = float(max(np.ceil((hi - lo) / num_bins), 1.0))  # step rounded up; >= 1 for a flat batch
    # value v is in bin kappa (1-based) when tau_min + (kappa-1) delta < v <= tau_min + kappa delta
    idx = np.ceil((values - lo) / delta).astype(np.int64) - 1
    return lo, delta, np.clip(idx, 0, num_bins - 1)


def tier_histograms(values: np.ndarray, tiers: np.ndarray, num_tiers: int, num_bins: int):
    """Per-tier histograms of one batch: ``(tau_min, delta, counts (T, q))`` (raw counts)."""
    lo, delta, idx = discretise(values, num_bins)
    flat = np.bincount(np.asarray(tiers, dtype=np.int64) * num_bins + idx, minlength=num_tiers * num_bins)
    return lo, delta, flat.reshape(num_tiers, num_bins)


def kl_divergence(p_counts: np.ndarray, q_counts: np.ndarray, definition: str = ExperimentConfig.kl_definition,
                  eps: float = KL_EPS) -> float:
    """KL(p || q) of two histograms given as raw counts, by ``definition`` (see module doc)."""
    p = np.asarray(p_counts, dtype=np.float64)
    q = np.asarray(q_counts, dtype=np.float64)
    if definition == "softmax":
        def log_softmax(c: np.ndarray) -> np.ndarray:
            c = c - c.max()
            return c - np.log(np.exp(c).sum())

        lp, lq = log_softmax(p), log_softmax(q)
        return float(np.sum(np.exp(lp) * (lp - lq)) / p.size)  # batchmean over the q bins
    if definition == "smoothed":
        p = p + eps
        q = q + eps
        p /= p.sum()
        q /= q.sum()
        return float(np.sum(p * np.log(p / q)))
    raise ValueError(f"kl definition must be one of {CHOICES['kl_definition']}, got {definition!r}")


@dataclass(frozen=True)
class Selection:
    """Result of Algorithm 2 for one quantity of one batch.

    ``probs`` is the top tier's distribution over the q bins, or None when only its interval is
    kept; ``interval`` is ``(low, high)`` in the quantity's units (the top tier's occupied bins),
    ``interval_bins`` the same as 0-based bins ``(first, last)``. ``branch`` is the branch of
    Algorithm 2 that fired: "distribution", "thin top tier" or "not distinct"; ``reason`` says it
    with the KL value.
    """

    probs: np.ndarray | None
    interval: tuple[float, float]
    lo: float
    delta: float
    reason: str
    interval_bins: tuple[int, int] = (0, 0)
    num_bins: int = 1

    @property
    def branch(self) -> str:
        return self.reason.split(" (")[0]

    def bin_range(self, kappa: int) -> tuple[float, float]:
        """Value range (low, high] of bin ``kappa`` (0-based)."""
        return self.lo + kappa * self.delta, self.lo + (kappa + 1) * self.delta


def select_distribution(
    counts: np.ndarray,
    lo: float,
    delta: float,
    batch_size: int,
    batch_factor: float,
    kl_threshold: float,
    tier_index: int,
    kl_definition: str = "softmax",
    eps: float = KL_EPS,
) -> Selection:
    """Algorithm 2 on one batch's per-tier histograms ``counts`` (T, q) of raw counts.

    if #T1 < theta * k: interval of T1; for i in beta..T: if KL(pi_T1 || pi_Ti) < zeta: interval
    of T1. Otherwise return pi_T1. ``tier_index`` is beta, 1-based as in the paper.
    """
    counts = np.asarray(counts, dtype=np.float64)
    t, q = counts.shape
    top = counts[0]
    occupied = np.flatnonzero(top > 0)
    if occupied.size == 0:  # no top-tier architecture in this batch: the whole batch interval
        occupied = np.flatnonzero(counts.sum(axis=0) > 0)
    if occupied.size == 0:
        occupied = np.arange(q)
    first, last = int(occupied[0]), int(occupied[-1])
    interval = (lo + first * delta, lo + (last + 1) * delta)

    def keep_interval(reason: str) -> Selection:
        return Selection(None, interval, lo, delta, reason, (first, last), q)

    n_top = top.sum()
    if n_top < batch_factor * batch_size:
        return keep_interval("thin top tier")
    for i in range(tier_index - 1, t):
        d = kl_divergence(top, counts[i], kl_definition, eps)
        if d < kl_threshold:
            return keep_interval(f"not distinct (KL={d:.3g} < zeta={kl_threshold})")
    return Selection(top / n_top, interval, lo, delta, "distribution", (first, last), q)


@dataclass
class TierStatistics:
    """Per-batch tier histograms of FLOPs and parameters, and per-batch, per-tier operation counts.

    ``flops``/``params``: lists (one entry per training batch) of ``(tau_min, delta, counts (T, q))``.
    ``ops``: list of (T, n_ops) counts per batch. ``batch_sizes``: k of each batch; ``epochs``:
    the training epoch of each batch (:meth:`keep_epoch` keeps one epoch's batches).
    """

    num_tiers: int
    num_bins: int
    num_ops: int
    flops: list[tuple[float, float, np.ndarray]] = field(default_factory=list)
    params: list[tuple[float, float, np.ndarray]] = field(default_factory=list)
    batch_sizes: list[int] = field(default_factory=list)
    ops: list[np.ndarray] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    sizes: list[tuple[int, int] | None] = field(default_factory=list)  # (min, max) cell size per batch

    def __len__(self) -> int:
        return len(self.batch_sizes)

    def update(self, flops: np.ndarray, params: np.ndarray, ops_per_cell: np.ndarray, tiers: np.ndarray,
               epoch: int = 0, sizes: np.ndarray | None = None) -> None:
        """Add one batch: costs (k,), operation counts per cell (k, n_ops), tier labels (k,) and,
        for spaces whose cells differ in size, the cells' node counts (their range is kept: the
        authors' NB101 sampler draws a node count uniformly over the batch's range)."""
        tiers = np.asarray(tiers, dtype=np.int64)
        self.flops.append(tier_histograms(flops, tiers, self.num_tiers, self.num_bins))
        self.params.append(tier_histograms(params, tiers, self.num_tiers, self.num_bins))
        self.batch_sizes.append(int(tiers.shape[0]))
        op = np.zeros((self.num_tiers, self.num_ops), dtype=np.int64)
        np.add.at(op, tiers, np.asarray(ops_per_cell, dtype=np.int64))
        self.ops.append(op)
        self.epochs.append(int(epoch))
        self.sizes.append(None if sizes is None or len(sizes) == 0 else (int(np.min(sizes)), int(np.max(sizes))))

    def keep_epoch(self, epoch: int) -> None:
        """Keep only the batches of ``epoch`` (the authors keep those saved with the best epoch)."""
        keep = [i for i, e in enumerate(self.epochs) if e == epoch]
        for name in ("flops", "params", "batch_sizes", "ops", "epochs", "sizes"):
            setattr(self, name, [getattr(self, name)[i] for i in keep])

    def size_range(self, batch: int) -> tuple[int, int] | None:
        """(min, max) node count of stored batch ``batch``; None when the space has one cell size."""
        return self.sizes[batch] if batch < len(self.sizes) else None

    @property
    def op_counts(self) -> np.ndarray:
        """(T, n_ops) operation counts over the kept batches."""
        if not self.ops:
            return np.zeros((self.num_tiers, self.num_ops), dtype=np.int64)
        return np.sum(self.ops, axis=0)

    def op_probs(self, tier: int = 0) -> np.ndarray:
        """Operation distribution of a tier (top tier by default); uniform if nothing was counted."""
        c = self.op_counts[tier].astype(np.float64)
        return c / c.sum() if c.sum() > 0 else np.full(self.num_ops, 1.0 / self.num_ops)

    def select(self, batch: int, quantity: str, batch_factor: float, kl_threshold: float,
               tier_index: int, kl_definition: str = "softmax") -> Selection:
        """Algorithm 2 for ``quantity`` ("flops" or "params") of stored batch ``batch``."""
        lo, delta, counts = getattr(self, quantity)[batch]
        return select_distribution(counts, lo, delta, self.batch_sizes[batch], batch_factor, kl_threshold,
                                   tier_index, kl_definition)

    def summary(self) -> dict[str, float]:
        """A few plain numbers for logs: batches seen and the top tier's op distribution."""
        out: dict[str, float] = {"batches": float(len(self))}
        for j, p in enumerate(self.op_probs(0)):
            out[f"top_tier_op{j}"] = float(p)
        return out
