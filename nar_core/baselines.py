"""Baseline helpers: the mutation of regularized evolution, per search space.

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

    NB201: one of the 6 edges gets a different operation (always a cell of the benchmark).
    NB101: with probability 1/2 one interior vertex gets a different operation, else one
    upper-triangular edge is flipped; the child is pruned and must be valid and present in the
    benchmark (with the 2,500-cell subset most mutants are absent). After ``max_tries`` failed
    mutants a uniform row is returned, so the loop always progresses.
    """
    if space.name == "nb201":
        ops_all = np.asarray(bench.cell_arrays["ops"])

        def mutate201(rng: np.random.Generator, row: int) -> int:
            ops = ops_all[row].copy()
            e = int(rng.integers(ops.shape[0]))
            ops[e] = (int(ops[e]) + int(rng.integers(1, 5))) % 5  # a different op, uniformly
            r = keys_to_rows(bench, space.keys({"ops": ops[None, :]}))[0]
            return int(r) if r >= 0 else int(rng.integers(len(bench)))

        return mutate201

    from .spaces.nb101 import CONV1X1, MAXPOOL3X3, OUTPUT, prune_cells

    adj_all = np.asarray(bench.cell_arrays["adjacency"])
    ops_all = np.asarray(bench.cell_arrays["ops"])

    def mutate101(rng: np.random.Generator, row: int) -> int:
        for _ in range(max_tries):
            adj = adj_all[row].copy()
            ops = ops_all[row].copy()
            nv = int(np.count_nonzero(ops))  # padded vertices have code 0
            out = int(np.flatnonzero(ops == OUTPUT)[0]) if (ops == OUTPUT).any() else nv - 1
            if rng.random() < 0.5 and nv > 2:
                v = int(rng.integers(1, out))
                choices = [c for c in range(CONV1X1, MAXPOOL3X3 + 1) if c != ops[v]]
                ops[v] = choices[int(rng.integers(len(choices)))]
            else:
                i, j = np.triu_indices(nv, k=1)
                e = int(rng.integers(i.size))
                adj[i[e], j[e]] ^= 1
            p_adj, p_ops, ok = prune_cells(adj[None], ops[None])
            if not ok[0] or p_adj[0].sum() > 9:
                continue
            r = keys_to_rows(bench, space.keys({"adjacency": p_adj, "ops": p_ops}))[0]
            if r >= 0 and r != row:
                return int(r)
        return int(rng.integers(len(bench)))

    return mutate101
