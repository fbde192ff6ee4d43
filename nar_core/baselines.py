"""Baseline helpers: the mutation of regularized evolution, for any search space.

The search loops themselves live in :mod:`nar_core.search` (random search, regularized
evolution) and the ConvNet ranker in :mod:`nar_core.ranker.convnet`; the pipeline runs them all
with the same seeds and query accounting (:func:`nar_core.experiment.run_experiment`).
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from .benchmarks.base import Benchmark
from .sampler import keys_to_rows
from .spaces.base import SearchSpace


def make_mutation(space: SearchSpace, bench: Benchmark, max_tries: int = 100) -> Callable[[np.random.Generator, int], int]:
    """``mutate(rng, row) -> row``: the parent cell with one operation or one edge changed.

    The space's :meth:`~nar_core.spaces.SearchSpace.mutate` makes the child (NB201: one of the 6
    edges gets another operation; NB101: one vertex's operation or one edge, pruned); the child
    must be a different cell present in the benchmark (with the 2,500-cell NB101 subset most
    mutants are absent). After ``max_tries`` failed mutants a uniform row is returned, so the
    loop always progresses.
    """
    cells_all = {k: np.asarray(v) for k, v in bench.cell_arrays.items()}

    def mutate(rng: np.random.Generator, row: int) -> int:
        for _ in range(max_tries):
            child = space.mutate({k: v[row:row + 1] for k, v in cells_all.items()}, rng)
            if child is None:
                continue
            r = int(keys_to_rows(bench, space.keys(child))[0])
            if r >= 0 and r != row:
                return r
        return int(rng.integers(len(bench)))

    return mutate
