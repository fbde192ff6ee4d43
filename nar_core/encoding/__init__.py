"""Architecture encodings (NAR paper, Appendix A): cells -> feature tensors for the ranker.

NAS-Bench-201: :mod:`.nb201` (31x4x4; analytic per-edge FLOPs/params of the 15 cells).
NAS-Bench-101: :mod:`.nb101` (19x7x7).
:func:`encode` dispatches on the space name, so callers need not know either module.
"""
from __future__ import annotations

import numpy as np

from ..spaces import CellArrays, get_space

__all__ = ["encode", "network_cost"]


def encode(space: str, cells: CellArrays, dataset: str, normalize: bool = True) -> np.ndarray:
    """Feature tensors ``(n, C, P, P)`` float32 of a batch of cells of ``space``."""
    return get_space(space).encode(cells, dataset, normalize=normalize)


def network_cost(space: str, cells: CellArrays, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Whole-network (FLOPs, params) int64 arrays of a batch of cells of ``space``."""
    return get_space(space).network_cost(cells, dataset)
