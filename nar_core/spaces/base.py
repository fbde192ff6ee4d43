"""The interface every search space plug-in implements (see ``docs/search_spaces.md``).

A batch of cells is a dict of numpy arrays (``cell_arrays``), the same layout that
:class:`~nar_core.benchmarks.base.Benchmark` stores, so spaces, encodings and benchmarks work
on whole batches at once. One cell is the same dict with arrays of leading length 1, or the
space's own small object where that is clearer (see each space).

A space owns everything that differs between benchmarks: its cells (text form, keys, sampling),
its cost model (feature tensors with per-node FLOPs and parameters, whole-network cost), its
datasets and their aliases, its default settings, its reader of benchmark files and its
mutation. The ranker, tiers, sampler, search, baselines, experiment, sweeps and tables only call
these methods; they never name a space.
"""
from __future__ import annotations

import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, Hashable, Mapping

import numpy as np

from ..errors import NarError, closest

if TYPE_CHECKING:
    from ..benchmarks.base import Benchmark

CellArrays = Mapping[str, np.ndarray]


def resolve_dataset(name: str, datasets: tuple[str, ...], aliases: Mapping[str, str], space: str) -> str:
    """Canonical dataset name of ``space`` for ``name`` (case-insensitive, aliases allowed)."""
    key = str(name).strip().lower()
    key = aliases.get(key, key)
    if key not in datasets:
        best = closest(key, [*datasets, *aliases])
        hint = f"; did you mean {aliases.get(best, best)!r}?" if best is not None else ""
        raise NarError(f"unknown dataset {name!r} for space {space}; expected one of {', '.join(datasets)}{hint}")
    return key


class SearchSpace(ABC):
    """A cell-based search space with its benchmark: the plug-in the pipeline runs on."""

    #: short name, as given to ``--space`` and stored in results ("nb201", "nb101", ...)
    name: str
    #: name in tables and figures ("NAS-Bench-201"); the short name when not set
    label: str = ""
    #: datasets of the benchmark, canonical names; the first is the default
    datasets: tuple[str, ...]
    #: other spellings of dataset names (lower case) -> canonical name
    dataset_aliases: Mapping[str, str] = {}
    #: shape (C, P, P) of one encoded cell (Appendix A of the NAR paper)
    feature_shape: tuple[int, int, int]
    #: number of cells in the whole space; a benchmark with fewer rows restricts the search to them
    num_cells: int
    #: whether its benchmarks carry latency labels (the NARQ2T latency head needs them)
    has_latency: bool = False
    #: file patterns of its data inside a data directory (``<dir>/<name>/`` or ``<dir>``), preferred first
    data_patterns: tuple[str, ...] = ("*.csv",)

    # --- datasets, defaults, data -----------------------------------------------------------
    def canonical_dataset(self, name: str) -> str:
        """Canonical name of one of :attr:`datasets`; NarError naming the allowed ones."""
        return resolve_dataset(name, self.datasets, self.dataset_aliases, self.name)

    def defaults(self, dataset: str, method: str, preset: str = "default") -> dict[str, Any]:
        """Config settings of this space for ``dataset``, ``method`` and ``preset`` (a name of
        :data:`nar_core.config.PRESETS`: "default", "authors", "paper"), on top of the dataclass
        defaults; the preset's common fields are applied after these."""
        return {}

    @abstractmethod
    def read(self, source: Path, *, cache: bool = True) -> "Benchmark":
        """The benchmark in ``source`` (a file, or a directory for formats that are one).

        Raises :class:`~nar_core.errors.DataError` naming the file; values are range-checked
        (:func:`nar_core.benchmarks.base.check_column`).
        """

    def embedded(self) -> "Benchmark | None":
        """A benchmark shipped with the package, read when the user names no data (None: none)."""
        return None

    def find_source(self, folder: str | os.PathLike) -> Path | None:
        """The preferred data file of this space in ``folder`` (newest version of the first pattern)."""
        for pattern in self.data_patterns:
            hits = sorted(Path(folder).glob(pattern))
            if hits:
                return hits[-1]  # the newest version sorts last (v1_0 < v1_1)
        return None

    @abstractmethod
    def mutate(self, cells: CellArrays, rng: np.random.Generator) -> dict[str, np.ndarray] | None:
        """One cell changed by one operation or one edge (regularized evolution); None if the
        mutant is not a cell of the space (the caller draws another)."""

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

    def sample_uniform(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """``n`` valid cells drawn uniformly (nb101: uniformly among valid unique cells' specs).

        Optional: the pipeline never calls it (its random cells are uniform benchmark rows), only
        tests and tools; a space without it raises NotImplementedError naming the space."""
        raise NotImplementedError(
            f"space {self.name} has no sample_uniform (optional; the pipeline draws random cells from benchmark rows)")

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

    def cell_sizes(self, cells: CellArrays) -> np.ndarray | None:
        """Number of nodes of each cell, for spaces whose cells differ in size (nb101), else None.
        When given, the tier statistics keep each batch's range and the sampler passes it to
        :meth:`sample_with_op_probs` as ``node_range`` (``cell_size_sampling="batch_range"``)."""
        return None

    @abstractmethod
    def encode(self, cells: CellArrays, dataset: str, normalize: bool = True) -> np.ndarray:
        """Feature tensors ``(n, C, P, P)`` float32 (App. A), vectorised over the batch.

        ``normalize=True``: every value in [0, 1] by fixed divisors (``input_scaling="unit"``);
        ``False``: the raw values (op codes, FLOPs, parameters)."""

    def input_scale(self) -> np.ndarray | None:
        """Per-channel divisors ``(C,)`` of the raw encoding (``encode(normalize=False)``) that give
        the values the authors' code feeds the ranker (``input_scaling="authors"``); None: the raw
        values as they are (NB201). NB101 divides FLOPs by 1e7 and parameters by 1e5."""
        return None

    def channel_kinds(self) -> tuple[str, ...]:
        """What each of the ``feature_shape[0]`` channels of :meth:`encode` holds: ``"ops"``,
        ``"flops"`` or ``"params"`` (the encoding-attribute ablation, NARQ2T Fig. 10, zeroes the
        kinds left out). Default, the layout of App. A that nb201 and nb101 use: channel 0 the
        op matrix, then per cell/module its FLOPs (odd channels) and parameters (even >= 2).
        Override it when :meth:`encode` lays out its channels otherwise."""
        return tuple("ops" if c == 0 else "flops" if c % 2 else "params" for c in range(self.feature_shape[0]))

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

    def display_name(self) -> str:
        return self.label or self.name

    def describe(self) -> dict[str, Any]:
        return {"space": self.name, "datasets": self.datasets, "feature_shape": self.feature_shape,
                "num_cells": self.num_cells}
