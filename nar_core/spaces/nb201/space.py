"""NAS-Bench-201 as a search space plug-in: its cells (:mod:`.cells`), cost model
(:mod:`.encoding`), readers (:mod:`.reader`), defaults and mutation."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ...benchmarks.base import Benchmark
from ...errors import ConfigError
from ..base import CellArrays, SearchSpace
from . import encoding
from . import reader as readers
from .cells import (
    DATASET_ALIASES, DATASETS, NUM_CELLS, NUM_EDGES, NUM_OPS, OP_NAMES, _check_ops, _format_ops, index_to_ops,
    index_to_str, op_matrix, ops_to_index, parse_arch_str, str_to_index,
)

__all__ = ["NB201Space"]

#: NARQ2T lambda2 per dataset (Table VI bold rows)
RANK_LOSS_FACTOR = {"cifar10": 5.0, "cifar100": 23.0, "imagenet16": 18.0}
#: NAR's lambda (Eq. 12) is not printed; the authors' config201.yml uses loss_factor 1
NAR_RANK_LOSS_FACTOR = 1.0
#: this space's settings: the authors' config/config201.yml (the default follows their code)
DEFAULTS: dict[str, Any] = dict(
    lr_scale=0.07, warmup_steps=30,              # lr_scheduler: lr_mul, n_warmup_steps
    score_head_width=1024, tier_head_width=256,  # ranker: d_val_acc_prj_inner, d_tier_prj_inner
    num_bins=5, kl_threshold_flops=0.35, kl_threshold_params=0.3,
    # force_uniform: True: every bound drawn uniformly from the batch's bin edges, ops uniform
    sampling_mode="interval",
)
#: this space's values of the presets of :data:`nar_core.config.PRESETS` (docs/fidelity.md)
PRESETS: dict[str, dict[str, Any]] = {
    "authors": dict(rank_loss_factor=1.0),       # loss_factor (the public code is NAR's, for every method)
}


class NB201Space(SearchSpace):
    """NAS-Bench-201 (Dong & Yang, ICLR 2020) as used by NAR / NARQ2T."""

    name = "nb201"
    label = "NAS-Bench-201"
    datasets = DATASETS
    dataset_aliases = DATASET_ALIASES
    feature_shape = (31, 4, 4)
    num_cells = NUM_CELLS
    has_latency = True  # latency_ms: GTX 1080 Ti, batch 256 (HELP), the NARQ2T latency target
    data_patterns = ("NAS-Bench-201-v1_*.pth", "NATS-tss-v1_*", "nb201_accuracy.csv", "*.json")

    # --- text form -------------------------------------------------------------------------
    def parse(self, text: str) -> dict[str, np.ndarray]:
        return {"ops": parse_arch_str(text)[None, :]}

    def format(self, cells: CellArrays, i: int = 0) -> str:
        return _format_ops(_check_ops(np.asarray(cells["ops"])[i])[0].tolist())

    # --- keys ------------------------------------------------------------------------------
    def keys(self, cells: CellArrays) -> np.ndarray:
        return ops_to_index(cells["ops"])

    def cells_of_keys(self, keys: np.ndarray | Sequence[int]) -> dict[str, np.ndarray]:
        """Cell arrays of official indices (inverse of :meth:`keys`)."""
        return {"ops": np.atleast_2d(index_to_ops(np.asarray(keys)))}

    index_to_ops = staticmethod(index_to_ops)
    ops_to_index = staticmethod(ops_to_index)
    index_to_str = staticmethod(index_to_str)
    str_to_index = staticmethod(str_to_index)
    op_matrix = staticmethod(op_matrix)

    def all_cells(self) -> dict[str, np.ndarray]:
        """Every cell, row i = official index i."""
        return {"ops": index_to_ops(np.arange(NUM_CELLS))}

    def op_names(self) -> tuple[str, ...]:
        return OP_NAMES

    def op_counts(self, cells: CellArrays) -> np.ndarray:
        """``(n, 5)`` number of edges carrying each operation (:data:`OP_NAMES` order)."""
        ops = _check_ops(cells["ops"]).astype(np.int64)
        return (ops[:, :, None] == np.arange(NUM_OPS)).sum(axis=1)

    # --- sampling --------------------------------------------------------------------------
    def sample_uniform(self, rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
        # every one of the 5^6 op choices is a distinct cell of the benchmark, so drawing the six
        # ops uniformly is drawing a cell uniformly
        return {"ops": rng.integers(0, NUM_OPS, size=(int(n), NUM_EDGES)).astype(np.int8)}

    def sample_with_op_probs(
        self, rng: np.random.Generator, n: int, op_probs: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """Each edge's op drawn independently from ``op_probs`` (5 weights; "we only sample the
        operation type for the edges", NAR App. B). Every result is a valid cell."""
        if op_probs is None:
            return self.sample_uniform(rng, n)
        p = np.asarray(op_probs, dtype=np.float64).ravel()
        if p.shape != (NUM_OPS,) or not np.all(np.isfinite(p)) or (p < 0).any() or p.sum() <= 0:
            raise ConfigError(f"op_probs must be 5 non-negative finite weights with a positive sum, got {op_probs!r}")
        p = p / p.sum()
        return {"ops": rng.choice(NUM_OPS, size=(int(n), NUM_EDGES), p=p).astype(np.int8)}

    # --- encoding (NAR App. A) --------------------------------------------------------------
    def encode(self, cells: CellArrays, dataset: str, normalize: bool = True) -> np.ndarray:
        return encoding.encode(cells["ops"], dataset, normalize=normalize)

    def network_cost(self, cells: CellArrays, dataset: str) -> tuple[np.ndarray, np.ndarray]:
        return encoding.network_cost(cells["ops"], dataset)

    # --- settings, data, mutation -------------------------------------------------------------
    def defaults(self, dataset: str, method: str, preset: str = "default") -> dict[str, Any]:
        # NARQ2T Table VI bold rows: the rank-loss factor chosen per dataset
        out: dict[str, Any] = {**DEFAULTS, "rank_loss_factor": RANK_LOSS_FACTOR[self.canonical_dataset(dataset)]}
        if method == "nar":
            out["rank_loss_factor"] = NAR_RANK_LOSS_FACTOR  # NAR's own lambda, not NARQ2T's
        out.update(PRESETS.get(preset, {}))
        return out

    def read(self, source: Path, *, cache: bool = True) -> Benchmark:
        return readers.add_cost_columns(readers.read_nb201_any(source, cache=cache))

    def embedded(self) -> Benchmark:
        return readers.add_cost_columns(readers.read_nb201_embedded())

    def mutate(self, cells: CellArrays, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """One of the 6 edges gets a different operation, uniformly (always a cell of the space)."""
        ops = np.array(cells["ops"], dtype=np.int8).reshape(1, NUM_EDGES)
        e = int(rng.integers(NUM_EDGES))
        ops[0, e] = (int(ops[0, e]) + int(rng.integers(1, NUM_OPS))) % NUM_OPS
        return {"ops": ops}


