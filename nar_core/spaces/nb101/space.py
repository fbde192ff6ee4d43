"""NAS-Bench-101 as a search space plug-in: its cells (:mod:`.cells`), cost model
(:mod:`.encoding`), readers (:mod:`.reader`, :mod:`.tfrecord`), defaults and mutation."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ...benchmarks.base import Benchmark
from ...errors import ConfigError
from ..base import CellArrays, SearchSpace
from . import encoding
from .cells import (
    CODE_NAMES, CONV1X1, CONV3X3, DATASET_ALIASES, DATASETS, INPUT, INTERIOR_OPS, MAX_EDGES, MAX_VERTICES, MAXPOOL3X3, OUTPUT, _cell_batch,
    _num_vertices, _parse_text, _problems, cells_from_specs, module_hashes, prune_cells,
)
from .reader import load_nb101

__all__ = ["NB101Space"]

#: NAR's lambda (Eq. 12) is not printed; the authors' config.yml uses loss_factor 9
NAR_RANK_LOSS_FACTOR = 9.0
#: this space's values of the presets of :data:`nar_core.config.PRESETS` (docs/fidelity.md)
PRESETS: dict[str, dict[str, Any]] = {
    "authors": dict(rank_loss_factor=9.0),       # loss_factor (the public code is NAR's, for every method)
}


class NB101Space(SearchSpace):
    """NAS-Bench-101: 423,624 unique cells stacked 3 x 3 into a CIFAR-10 network."""

    name = "nb101"
    label = "NAS-Bench-101"
    datasets = DATASETS
    dataset_aliases = DATASET_ALIASES
    feature_shape = (19, 7, 7)
    num_cells = 423_624  # unique valid cells of the official file
    data_patterns = ("nasbench_full.tfrecord", "nasbench_only108.tfrecord", "*.tfrecord", "*.csv", "*.json")

    # --- text -----------------------------------------------------------------------------
    def parse(self, text: str) -> dict[str, np.ndarray]:
        """One cell from JSON ``{"adjacency": [[...]], "operations": [...]}`` or ``adjacency|ops``.

        The cell is pruned and checked; any square matrix size is accepted before pruning.
        """
        matrix, ops = _parse_text(text)
        return cells_from_specs([matrix], [ops], what="NAS-Bench-101 cell")

    def format(self, cells: CellArrays, i: int = 0) -> str:
        """Compact JSON ``{"adjacency": [[...]], "operations": [...]}`` of cell ``i`` (pruned form)."""
        adj = np.asarray(cells["adjacency"])[i]
        ops = np.asarray(cells["ops"])[i]
        k = int(_num_vertices(ops))
        return json.dumps(
            {"adjacency": adj[:k, :k].astype(int).tolist(), "operations": [CODE_NAMES[int(c)] for c in ops[:k]]},
            separators=(",", ":"),
        )

    def spec(self, cells: CellArrays, i: int = 0) -> tuple[np.ndarray, list[str]]:
        """(matrix, op names) of cell ``i`` in the official ``ModelSpec`` form (pruned)."""
        ops = np.asarray(cells["ops"])[i]
        k = int(_num_vertices(ops))
        return np.asarray(cells["adjacency"])[i, :k, :k].astype(np.int64), [CODE_NAMES[int(c)] for c in ops[:k]]

    def keys(self, cells: CellArrays) -> np.ndarray:
        """Official module hashes (the keys of the NAS-Bench-101 data)."""
        return module_hashes(cells)

    def op_names(self) -> tuple[str, ...]:
        """Interior operations, in the order of ``op_probs`` and :meth:`op_counts` columns."""
        return INTERIOR_OPS

    def op_counts(self, cells: CellArrays) -> np.ndarray:
        """``(n, 3)`` number of conv1x1 / conv3x3 / maxpool3x3 vertices per cell."""
        ops = np.asarray(cells["ops"])
        return np.stack([(ops == c).sum(axis=1) for c in (CONV1X1, CONV3X3, MAXPOOL3X3)], axis=1)

    def is_valid(self, cells: CellArrays) -> np.ndarray:
        """Bool per cell: pruned and inside the space (see :func:`check_cells`)."""
        adj, ops = _cell_batch(cells)
        return ~np.logical_or.reduce([mask for mask, _ in _problems(adj, ops)])

    # --- sampling ---------------------------------------------------------------------------
    def _finish(self, adj: np.ndarray, ops: np.ndarray) -> tuple[dict[str, np.ndarray], np.ndarray]:
        p_adj, p_ops, connected = prune_cells(adj, ops)
        edges = p_adj.sum(axis=(1, 2))
        valid = connected & (edges <= MAX_EDGES)
        return {"adjacency": p_adj, "ops": p_ops}, valid

    def _sample_authors(self, rng: np.random.Generator, n: int, probs: np.ndarray,
                        node_range: tuple[int, int]) -> dict[str, np.ndarray]:
        lo = int(min(max(node_range[0], 2), MAX_VERTICES))
        hi = int(min(max(node_range[1], lo), MAX_VERTICES))
        v = rng.integers(lo, hi + 1, size=n)
        rows = np.arange(n)
        adj = np.zeros((n, MAX_VERTICES, MAX_VERTICES), dtype=np.uint8)
        ops = np.zeros((n, MAX_VERTICES), dtype=np.int8)
        ops[:, 0] = INPUT
        cdf = np.cumsum(probs, axis=1)
        for j in range(1, MAX_VERTICES):
            src = rng.integers(0, j, size=n)
            on = j < v
            adj[rows[on], src[on], j] = 1
            op = CONV1X1 + np.minimum((rng.random(n)[:, None] > cdf[min(j, 5) - 1][None, :]).sum(axis=1), 2)
            ops[:, j] = np.where(j < v - 1, op, np.where(j == v - 1, OUTPUT, 0))
        for e in range(MAX_EDGES):  # 9 - (v - 1) more edges tried
            begin = np.floor(rng.random(n) * v).astype(np.int64)
            end = begin + np.floor(rng.random(n) * (v - begin)).astype(np.int64)
            on = (e < MAX_EDGES - (v - 1)) & (begin != v - 1) & (end != begin)
            adj[rows[on], begin[on], end[on]] = 1
        cells, valid = self._finish(adj, ops)
        cells["valid"] = valid
        return cells

    def cell_sizes(self, cells: CellArrays) -> np.ndarray:
        """Number of vertices of each cell (2..7)."""
        return _num_vertices(np.asarray(cells["ops"])).astype(np.int64)

    def sample_uniform(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        """``n`` valid cells from the official random-spec distribution, pruned.

        "Uniform" here is the official NAS-Bench-101 random search: each of the 21 upper
        triangular entries is 0/1 with probability 1/2 and each interior op uniform over the 3
        ops; specs outside the space (disconnected, > 9 edges after pruning) are rejected.
        This is uniform over raw 7-vertex specs, not over the 423,624 unique cells: small cells
        (many raw specs prune to them) dominate; measured over 5,000 draws, 2/3/4/5/6/7
        vertices: 10/20/28/29/12/0.3 %, whereas most unique cells have 7 vertices. For uniform
        draws over unique cells, draw rows of a loaded :class:`~nar_core.benchmarks.base.Benchmark`.
        """
        adj_out = [np.zeros((0, MAX_VERTICES, MAX_VERTICES), np.uint8)]
        ops_out, have = [np.zeros((0, MAX_VERTICES), np.int8)], 0
        while have < n:
            m = max(64, 4 * (n - have))  # about 1/3 of random specs are valid
            adj = np.triu(rng.integers(0, 2, size=(m, 7, 7), dtype=np.uint8), k=1)
            ops = np.empty((m, 7), dtype=np.int8)
            ops[:, 0], ops[:, 6] = INPUT, OUTPUT
            ops[:, 1:6] = rng.integers(CONV1X1, MAXPOOL3X3 + 1, size=(m, 5))
            cells, valid = self._finish(adj, ops)
            adj_out.append(cells["adjacency"][valid])
            ops_out.append(cells["ops"][valid])
            have += int(valid.sum())
        return {"adjacency": np.concatenate(adj_out)[:n], "ops": np.concatenate(ops_out)[:n]}

    def sample_with_op_probs(
        self, rng: np.random.Generator, n: int, op_probs: np.ndarray | None = None,
        node_range: tuple[int, int] | None = None,
    ) -> dict[str, np.ndarray]:
        """The NAR App. B edge sampling, vectorised over ``n`` cells.

        Traversing vertices 1..6 (the last is the output), each vertex connects from one earlier
        vertex drawn uniformly, and each interior vertex gets an op drawn from ``op_probs``
        (over :meth:`op_names`: conv1x1, conv3x3, maxpool3x3; shape (3,) or one row per interior
        vertex (5, 3); default uniform). Then 3 more edges join two distinct vertices drawn
        uniformly (an edge already present is not doubled). The cell is pruned. Returns the cell
        arrays plus ``valid`` (bool per cell: within 7 vertices / 9 edges, input reaches output;
        this construction always satisfies it, the array keeps the interface of the space).

        ``node_range=(lo, hi)``: the authors' generator (``sampler/arch_sampler.py``): each cell's
        vertex count is drawn uniformly from ``lo..hi`` (the range of the statistics batch), vertex
        j connects from an earlier vertex, and ``9 - (v - 1)`` more edges are tried, each from a
        uniform vertex b (none if b is the output) to a uniform vertex in ``b..v-1`` (none if it is b).
        """
        probs = np.full(3, 1.0 / 3) if op_probs is None else np.asarray(op_probs, dtype=np.float64)
        if (probs.shape not in ((3,), (5, 3)) or not np.all(np.isfinite(probs)) or np.any(probs < 0)
                or not np.all(probs.sum(axis=-1) > 0)):
            raise ConfigError(
                f"op_probs must be finite non-negative weights of shape (3,) or (5, 3) with positive sums, got {op_probs!r}"
            )
        probs = np.broadcast_to(probs / probs.sum(axis=-1, keepdims=True), (5, 3))
        if node_range is not None:
            return self._sample_authors(rng, n, probs, node_range)
        rows = np.arange(n)
        adj = np.zeros((n, 7, 7), dtype=np.uint8)
        for j in range(1, 7):
            src = rng.integers(0, j, size=n)
            adj[rows, src, j] = 1
        # inverse-CDF draw of the ops, one uniform per interior vertex
        u = rng.random((n, 5))
        cdf = np.cumsum(probs, axis=1)
        op_idx = np.minimum((u[:, :, None] > cdf[None, :, :]).sum(axis=2), 2)
        ops = np.empty((n, 7), dtype=np.int8)
        ops[:, 0], ops[:, 6] = INPUT, OUTPUT
        ops[:, 1:6] = CONV1X1 + op_idx
        a = rng.integers(0, 7, size=(n, 3))
        b = rng.integers(0, 6, size=(n, 3))
        b = b + (b >= a)  # distinct from a
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        for e in range(3):
            adj[rows, lo[:, e], hi[:, e]] = 1
        cells, valid = self._finish(adj, ops)
        cells["valid"] = valid
        return cells

    # --- encoding and cost --------------------------------------------------------------------
    def encode(self, cells: CellArrays, dataset: str = "cifar10", normalize: bool = True) -> np.ndarray:
        self.canonical_dataset(dataset)
        return encoding.encode_cells(cells, normalize=normalize)

    def input_scale(self) -> np.ndarray:
        """The authors' arch_encode.py: op codes as they are, FLOPs / 1e7, parameters / 1e5."""
        return np.array([1.0] + [1e7 if c % 2 else 1e5 for c in range(1, self.feature_shape[0])])

    def network_cost(self, cells: CellArrays, dataset: str = "cifar10") -> tuple[np.ndarray, np.ndarray]:
        self.canonical_dataset(dataset)
        return encoding.network_cost(cells)

    # --- settings, data, mutation -------------------------------------------------------------
    def defaults(self, dataset: str, method: str, preset: str = "default") -> dict[str, Any]:
        # the NAR paper's NB101 protocol (App. B) and the authors' NB101 widths (config.yml)
        out: dict[str, Any] = dict(
            train_size=4236, val_size=1024, d_model=256, d_ff=1024, n_heads=4, epochs=35, batch_size=256,
            warmup_steps=50, adam_beta2=0.982, weight_decay=5e-4, rank_loss_factor=21.0,
            lr_scale=0.1,  # lr_mul
            score_head_width=2048, tier_head_width=2048,  # d_val_acc_prj_inner, d_tier_prj_inner
            sampling_mode="statistics", sample_size=256,  # force_uniform: False
            num_bins=8,  # q: authors' config.yml bins
        )
        if method == "nar":
            out["rank_loss_factor"] = NAR_RANK_LOSS_FACTOR  # NAR's own lambda, not NARQ2T's
        out.update(PRESETS.get(preset, {}))
        return out

    def read(self, source: Path, *, cache: bool = True) -> Benchmark:
        return load_nb101(source, cache=cache)

    def mutate(self, cells: CellArrays, rng: np.random.Generator) -> dict[str, np.ndarray] | None:
        """With probability 1/2 one interior vertex gets a different operation, else one
        upper-triangular edge is flipped; the pruned child, or None if it leaves the space."""
        adj = np.array(cells["adjacency"]).reshape(MAX_VERTICES, MAX_VERTICES)
        ops = np.array(cells["ops"]).reshape(MAX_VERTICES)
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
        if not ok[0] or p_adj[0].sum() > MAX_EDGES:
            return None
        return {"adjacency": p_adj, "ops": p_ops}
