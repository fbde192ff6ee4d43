"""Ranking metrics (no SciPy dependency): Kendall's tau-b, vectorised in row blocks."""
from __future__ import annotations

import numpy as np


def kendall_tau(x: np.ndarray, y: np.ndarray, block: int = 512) -> float:
    """Kendall's tau-b of two equal-length arrays (ties handled as in tau-b).

    O(n^2) pair comparisons done in numpy blocks of ``block`` rows: ~15k items take about a second.
    NaN when fewer than two items or when one side is constant.
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"kendall_tau: shapes differ {x.shape} vs {y.shape}")
    n = x.size
    if n < 2:
        return float("nan")
    concordant = 0.0
    tx = ty = 0.0  # pairs not tied in x / not tied in y
    for s in range(0, n, block):
        e = min(s + block, n)
        dx = np.sign(x[s:e, None] - x[None, :])
        dy = np.sign(y[s:e, None] - y[None, :])
        # only pairs (i, j) with j > i
        mask = np.arange(n)[None, :] > np.arange(s, e)[:, None]
        concordant += float((dx * dy)[mask].sum())
        tx += float(np.abs(dx)[mask].sum())
        ty += float(np.abs(dy)[mask].sum())
    denom = np.sqrt(tx * ty)
    return float(concordant / denom) if denom > 0 else float("nan")
