"""The small interface every search space implements.

A batch of cells is a dict of numpy arrays (``cell_arrays``), the same layout that
:class:`~nar_core.benchmarks.base.Benchmark` stores, so spaces, encodings and benchmarks work
on whole batches at once. One cell is the same dict with arrays of leading length 1, or the
space's own small object where that is clearer (see each space).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Hashable, Mapping

import numpy as np

CellArrays = Mapping[str, np.ndarray]


class SearchSpace(ABC):
    """A cell-based search space (NAS-Bench-101 or NAS-Bench-201)."""

    #: short name: "nb101" or "nb201"
    name: str
    #: datasets of the benchmark, canonical names
    datasets: tuple[str, ...]
    #: shape (C, P, P) of one encoded cell (Appendix A of the NAR paper)
    feature_shape: tuple[int, int, int]

    @abstractmethod
    def parse(self, text: str) -> CellArrays:
        """One cell from its text form (official arch string; ``adjacency|ops`` JSON for nb101).

        Raises :class:`~nar_core.errors.UnknownCellError` with the reason for malformed text.
        """

    @abstractmethod
    def format(self, cells: CellArrays, i: int = 0) -> str:
        """Text form of cell ``i`` of a batch (inverse of :meth:`parse`)."""

    @abstractmethod
    def keys(self, cells: CellArrays) -> np.ndarray:
        """Benchmark keys of a batch (official index for nb201, module hash for nb101)."""

    @abstractmethod
    def sample_uniform(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """``n`` valid cells drawn uniformly (nb101: uniformly among valid unique cells' specs)."""

    @abstractmethod
    def sample_with_op_probs(
        self, rng: np.random.Generator, n: int, op_probs: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """``n`` cells built by the space's own procedure (NAR App. B), ops drawn from ``op_probs``.

        nb201: each of the 6 edges gets an operation drawn from ``op_probs`` (over the 5 ops).
        nb101: edge sampling of App. B (each vertex connects to a random earlier vertex, op from
        ``op_probs`` over the 3 ops, then 3 extra random edges), pruned; may return invalid cells
        marked by the ``valid`` array in the result.
        """

    @abstractmethod
    def encode(self, cells: CellArrays, dataset: str, normalize: bool = True) -> np.ndarray:
        """Feature tensors ``(n, C, P, P)`` float32 (App. A), vectorised over the batch."""

    @abstractmethod
    def network_cost(self, cells: CellArrays, dataset: str) -> tuple[np.ndarray, np.ndarray]:
        """Whole-network (FLOPs, parameters) as int64 arrays of length n."""

    def key(self, cells: CellArrays, i: int = 0) -> Hashable:
        """Benchmark key of cell ``i`` (a plain int or str); only that cell is keyed."""
        k = self.keys({name: np.asarray(a)[[i]] for name, a in cells.items()})[0]
        return k.item() if hasattr(k, "item") else k

    @abstractmethod
    def op_names(self) -> tuple[str, ...]:
        """Names of the operations the sampler draws, in the order of ``op_probs``."""

    @abstractmethod
    def op_counts(self, cells: CellArrays) -> np.ndarray:
        """``(n, len(op_names()))`` int64: how often each operation occurs in each cell."""

    def describe(self) -> dict[str, Any]:
        return {"space": self.name, "datasets": self.datasets, "feature_shape": self.feature_shape}
