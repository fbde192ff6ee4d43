"""The search-phase sampler (NAR Sec. 3.3 / App. B; NARQ2T Algorithm 4 lines 5-17).

Each call (one search iteration) draws ``k`` cells:

* a proportion ``p`` (``random_proportion``) uniformly over the benchmark's unique cells (NAR
  Sec. 5.3; the authors' ``random.choices`` over dataset rows). Rows, not generated specs: on
  NB101 many specs prune to the same small cell, so a random spec is not a uniform cell;
* the rest built by the space's own procedure (NB201: each edge's op; NB101: the edge sampling of
  App. B; ops from the top tier's counts, or uniform with ``op_sampling="uniform"``) and kept only
  when their FLOPs / parameters satisfy the current constraint (rejection sampling).

Constraints. Algorithm 2 runs on one training batch's tier histograms: when the top tier's
histogram is kept (``sampling_mode="statistics"``) a bin is drawn from it, otherwise a bin is drawn
uniformly from the top tier's interval (``interval_scope="top_tier"``, NAR Algo. 2) or from all q
bins of the batch (``"batch"``, the authors' fallback). With ``constraint_bound="upper"`` (default,
NAR Eq. 1 and the authors' ``f <= flops and p <= params``) the drawn bin's right edge tau bounds the
cell from above; ``"bin"`` keeps the pre-issue-9 two-sided test (inside the drawn bin, or inside the
whole interval). ``"interval"`` never uses the histogram; ``"random"`` draws every cell uniformly.
``constraints`` picks FLOPs, parameters or both (Table 6 / VIII).

Which batch: ``stats_turns="iteration"`` (default) shuffles the batches once and uses one batch
for a whole iteration, each for ceil(T / batches) iterations (the authors' ``distri_reuse_step``);
``"constraint"`` moves to the next batch at every constraint draw (before issue 9).
A constraint is reused (Algorithm 4 line 7) until ``R`` cells were accepted under it
(``constraint_reuse_counts="accepted"``, the authors' ``len(sampled) % reuse_step == 0``: on NB201
the tightest bound accepts about a quarter of the cells, the loosest nearly all, and each still
yields R cells), or for ``R`` built candidates (``"tries"``, before issue 17). Candidates are built
and checked in vectorised chunks. The loop is bounded: ``MAX_TRIALS + 1`` tries per wanted cell
(the authors' ``max_trails``) under ``"accepted"``, ``max_tries_factor * k`` tries under
``"tries"``; cells still missing are then drawn uniformly and counted in ``SampleBatch.fallback``
(the authors keep the last rejected try, also a uniform cell under their uniform operations). ``branch_counts`` counts how often each branch of Algorithm 2 fired.

Restricted pools: when the benchmark does not hold the whole space (the 2,500-cell NB101 subset),
cells are drawn from the benchmark's rows instead of generated, with the same constraints.
Results are benchmark rows, so the caller encodes and queries them directly.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .benchmarks.base import Benchmark
from .config import CHOICES, ExperimentConfig
from .spaces.base import SearchSpace
from .tiers import Selection, TierStatistics


@dataclass
class SampleBatch:
    """``rows`` of the benchmark (k,), and how they were obtained."""

    rows: np.ndarray
    n_random: int
    n_constrained: int
    fallback: int
    tries: int


def keys_to_rows(bench: Benchmark, keys: np.ndarray) -> np.ndarray:
    """Benchmark rows of cell keys; -1 where the benchmark lacks the cell. Vectorised for int keys
    stored in official order (the NB201 case), a dict look-up per cell otherwise."""
    keys = np.asarray(keys)
    n = len(bench)
    bk = np.asarray(bench.keys)
    if keys.dtype.kind in "iu" and bk.dtype.kind in "iu" and np.array_equal(bk, np.arange(n)):
        return np.where((keys >= 0) & (keys < n), keys, -1).astype(np.int64)  # row == official index
    index = bench._index()
    return np.fromiter((index.get(k.item() if hasattr(k, "item") else k, -1) for k in keys),
                       dtype=np.int64, count=len(keys))


#: tries per wanted cell before a constrained draw gives up (authors' config: max_trails 100)
MAX_TRIALS = 100


class CandidateSampler:
    """Draws candidate cells for the search; one instance per search (holds the turn counter).

    Args:
        space, dataset: the search space and the dataset whose FLOPs/params define constraints.
        bench: the benchmark (cells must exist in it to be queried).
        stats: tier statistics collected while training (None: only uniform sampling possible).
        rng: the search's random stream.
        sampling_mode, constraints, random_proportion, constraint_reuse, batch_factor,
        kl_thresholds (flops, params), tier_index: as in :class:`~nar_core.config.ExperimentConfig`.
        restrict_to_benchmark: draw from the benchmark's rows instead of generating cells (forced
            when the benchmark holds fewer cells than the space).
        max_tries_factor: the rejection loop stops after ``max_tries_factor * k`` tries.
    """

    def __init__(
        self,
        space: SearchSpace,
        dataset: str,
        bench: Benchmark,
        stats: TierStatistics | None,
        rng: np.random.Generator,
        *,
        sampling_mode: str = "interval",
        constraints: str = "flops+params",
        random_proportion: float = 0.5,
        constraint_reuse: int = 25,
        batch_factor: float = 0.1,
        kl_thresholds: tuple[float, float] = (2.5, 2.5),
        tier_index: int = 4,
        kl_definition: str = "softmax",
        constraint_bound: str = "upper",
        interval_scope: str = ExperimentConfig.interval_scope,
        op_sampling: str = ExperimentConfig.op_sampling,
        stats_turns: str = "iteration",
        constraint_reuse_counts: str = "accepted",
        cell_size_sampling: str = "batch_range",
        iterations: int = 50,
        restrict_to_benchmark: bool | None = None,
        max_tries_factor: int = 200,
    ):
        self.space, self.dataset, self.bench, self.stats, self.rng = space, dataset, bench, stats, rng
        self.sampling_mode = sampling_mode if stats is not None and len(stats) else "random"
        self.quantities = {"flops+params": ("flops", "params"), "flops": ("flops",), "params": ("params",)}[constraints]
        self.random_proportion = random_proportion
        self.reuse = max(int(constraint_reuse), 1)
        self.batch_factor = batch_factor
        self.kl = {"flops": kl_thresholds[0], "params": kl_thresholds[1]}
        self.tier_index = tier_index
        self.kl_definition = kl_definition
        self.constraint_bound = constraint_bound
        self.interval_scope = interval_scope
        self.stats_turns = stats_turns
        for name, value in (("constraint_reuse_counts", constraint_reuse_counts),
                            ("cell_size_sampling", cell_size_sampling)):
            if value not in CHOICES[name]:
                raise ValueError(f"{name} must be one of {CHOICES[name]}, got {value!r}")
        self.reuse_counts = constraint_reuse_counts
        self.cell_size_sampling = cell_size_sampling
        self._node_range: tuple[int, int] | None = None
        self.max_tries_factor = max_tries_factor
        if restrict_to_benchmark is None:
            restrict_to_benchmark = len(bench) < space.num_cells
        self.restricted = bool(restrict_to_benchmark)
        self._turn = 0
        self._iteration = 0
        self.constraint_draws = 0  # constraints drawn so far (one per R accepted cells or R tries)
        n_batches = len(stats) if stats is not None else 0
        # authors' train.py: random.shuffle(distri_list); distri_reuse_step = ceil(T / len)
        self._order = rng.permutation(n_batches) if n_batches else np.zeros(0, np.int64)
        self._iter_reuse = max(1, -(-int(iterations) // n_batches)) if n_batches else 1
        self._selections: dict[tuple[int, str], Selection] = {}
        self._pool_costs: dict[str, np.ndarray] | None = None
        use_ops = op_sampling == "statistics" and stats is not None and len(stats)
        self.op_probs = stats.op_probs(0) if use_ops else None
        self.selection_log: list[str] = []
        self.branch_counts: dict[str, dict[str, int]] = {
            q: {"distribution": 0, "thin top tier": 0, "not distinct": 0} for q in ("flops", "params")}

    # --- constraints ------------------------------------------------------------------------
    def _selection(self, batch: int, quantity: str) -> Selection:
        key = (batch, quantity)
        if key not in self._selections:
            sel = self.stats.select(batch, quantity, self.batch_factor, self.kl[quantity], self.tier_index,
                                    self.kl_definition)
            self._selections[key] = sel
            self.selection_log.append(f"batch {batch} {quantity}: {sel.reason}")
            self.branch_counts[quantity][sel.branch] = self.branch_counts[quantity].get(sel.branch, 0) + 1
        return self._selections[key]

    def _iteration_batch(self) -> int:
        """The batch whose statistics serve the current iteration (``stats_turns="iteration"``)."""
        return int(self._order[min(self._iteration // self._iter_reuse, len(self._order) - 1)])

    def draw_constraint(self, batch: int | None = None) -> dict[str, tuple[float, float]]:
        """One constraint per active quantity: ``{quantity: (low, high)}``, closed interval.

        ``batch``: the training batch whose statistics to use; None takes the next one by turns.
        """
        if batch is None:
            batch = self._turn % len(self.stats)
            self._turn += 1
        self.constraint_draws += 1
        if self.cell_size_sampling == "batch_range" and self.stats is not None:
            self._node_range = self.stats.size_range(batch)  # the authors' NB101 node count range
        out = {}
        for q in self.quantities:
            sel = self._selection(batch, q)
            if self.constraint_bound == "bin":  # before issue 9: a two-sided window
                if self.sampling_mode == "statistics" and sel.probs is not None:
                    out[q] = sel.bin_range(int(self.rng.choice(len(sel.probs), p=sel.probs)))
                else:
                    out[q] = sel.interval
                continue
            if self.sampling_mode == "statistics" and sel.probs is not None:
                kappa = int(self.rng.choice(len(sel.probs), p=sel.probs))
            elif self.interval_scope == "top_tier":
                kappa = int(self.rng.integers(sel.interval_bins[0], sel.interval_bins[1] + 1))
            else:
                kappa = int(self.rng.integers(sel.num_bins))
            out[q] = (-np.inf, sel.bin_range(kappa)[1])  # tau = the bin's right edge, an upper bound
        return out

    # --- candidates -------------------------------------------------------------------------
    def _uniform_rows(self, n: int) -> np.ndarray:
        """``n`` cells uniform over the benchmark's unique cells (its rows), with replacement."""
        if n <= 0:
            return np.zeros(0, dtype=np.int64)
        return self.rng.integers(0, len(self.bench), size=n).astype(np.int64)

    def _costs(self, rows: np.ndarray, cells: dict[str, np.ndarray] | None = None) -> dict[str, np.ndarray]:
        if self.restricted:
            if self._pool_costs is None:
                f, p = self.space.network_cost(self.bench.cell_arrays, self.dataset)
                self._pool_costs = {"flops": np.asarray(f, np.float64), "params": np.asarray(p, np.float64)}
            return {q: v[rows] for q, v in self._pool_costs.items()}
        f, p = self.space.network_cost(cells, self.dataset)
        return {"flops": np.asarray(f, np.float64), "params": np.asarray(p, np.float64)}

    def _constrained_chunk(self, n: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """``n`` candidate rows built by the space's procedure (or drawn from the pool) + costs."""
        if self.restricted:
            rows = self.rng.integers(0, len(self.bench), size=n).astype(np.int64)
            return rows, self._costs(rows)
        kw = {"node_range": self._node_range} if self._node_range is not None else {}
        cells = self.space.sample_with_op_probs(self.rng, n, self.op_probs, **kw)
        valid = np.asarray(cells.pop("valid")) if "valid" in cells else np.ones(n, dtype=bool)
        cells = {k: v[valid] for k, v in cells.items()}
        rows = keys_to_rows(self.bench, self.space.keys(cells)) if valid.any() else np.zeros(0, np.int64)
        known = rows >= 0
        cells = {k: v[known] for k, v in cells.items()}
        rows = rows[known]
        return rows, (self._costs(rows, cells) if rows.size else {"flops": np.zeros(0), "params": np.zeros(0)})

    def sample(self, k: int) -> SampleBatch:
        """Draw ``k`` candidate rows for one search iteration (Algorithm 4 lines 3-17, vectorised)."""
        batch = None
        if self.sampling_mode != "random" and self.stats_turns == "iteration":
            batch = self._iteration_batch()
        self._iteration += 1
        if self.sampling_mode == "random":
            return SampleBatch(self._uniform_rows(k), k, 0, 0, 0)
        n_random = int(round(self.random_proportion * k))
        n_con = k - n_random
        accepted: list[np.ndarray] = []
        got = tries = fallback = 0
        if self.reuse_counts == "accepted":
            while got < n_con:  # a constraint per R accepted cells (authors' arch_sampler)
                constraint = self.draw_constraint(batch)
                need = min(self.reuse, n_con - got)
                taken, limit, used = 0, need * (MAX_TRIALS + 1), 0
                while taken < need and used < limit:
                    n = min(limit - used, max(4 * (need - taken), 16))
                    rows, costs = self._constrained_chunk(n)
                    used += n
                    take = rows[self._satisfies(constraint, costs, rows.size)][: need - taken]
                    accepted.append(take)
                    taken += take.size
                tries += used
                fallback += need - taken
                got += need
            got -= fallback
        else:
            max_tries = self.max_tries_factor * max(k, 1)
            while got < n_con and tries < max_tries:
                constraint = self.draw_constraint(batch)
                rows, costs = self._constrained_chunk(self.reuse)
                tries += self.reuse
                take = rows[self._satisfies(constraint, costs, rows.size)][: n_con - got]
                accepted.append(take)
                got += take.size
            fallback = n_con - got
        parts = accepted + [self._uniform_rows(fallback + n_random)]
        return SampleBatch(np.concatenate(parts).astype(np.int64), n_random, got, fallback, tries)

    @staticmethod
    def _satisfies(constraint: dict[str, tuple[float, float]], costs: dict[str, np.ndarray], n: int) -> np.ndarray:
        ok = np.ones(n, dtype=bool)
        for q, (lo, hi) in constraint.items():
            ok &= (costs[q] >= lo) & (costs[q] <= hi)
        return ok
