"""The search phase (NAR Sec. 3.3, NARQ2T Algorithm 4) and query accounting.

Each of the T iterations draws k candidates with :class:`~nar_core.sampler.CandidateSampler`,
orders them with the ranker and queries the accuracy of the first m. ``order`` says how:

* ``"tier+score"`` (both heads trained): the predicted top tier by score, best first (NAR Fig. 3
  "selects the architecture with highest score in tier 1"). When it holds fewer than m cells
  (``tier_short``): ``"skip"`` queries nothing in that iteration (the authors' sample_201.py
  requires at least 5 top-tier cells), ``"fill"`` fills up with the best-scored cells of the other
  tiers. ``SearchOutcome.tier_short`` counts those iterations either way;
* ``"tier_prob"`` (classification loss only, NAR Table 4 / NARQ2T Table V): the predicted top
  tier by its softmax probability of tier 1 ("chooses the candidate architectures according to the
  highest logits", NAR Sec. 5.2; authors' sample.py when ``aux_loss`` is off); the untrained score
  head is never read;
* ``"score"`` (ranking loss only, the no-tier ranker, the ConvNet): every sample by score alone,
  the untrained or absent classifier is never read.

``duplicates``: ``"keep"`` ranks the k draws as drawn, a cell drawn twice twice (authors; it
may then be picked twice and costs one query), ``"drop"`` ranks each drawn cell once.

``queried``: ``"allow"`` (the authors' code) lets a cell queried before (a training label, an
earlier iteration) be chosen again; the repeat costs nothing new and a training cell can be the
result. ``"skip"`` (before issue 9) removes queried cells from the candidates so every query is
new; training cells can then never be returned.

NAR (running-mean tiers) updates its tier embeddings with the predicted tiers of each iteration's
samples (NAR Sec. 3.2, "we update according to tier predictions during search"). The returned
cell is the searched cell with the best queried ``select_column`` (the papers query test
accuracy; ``query_metric="val"`` keeps test labels out of the decision).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from .benchmarks.base import Benchmark
from .config import CHOICES, ExperimentConfig


SEARCH_ORDERS = ("tier+score", "tier_prob", "score")


def search_order(has_tiers: bool, cls_loss_factor: float, rank_loss_factor: float) -> str:
    """How the search orders candidates given what was trained (item 1 of issue 9)."""
    if not has_tiers or cls_loss_factor == 0:
        return "score"
    if rank_loss_factor == 0:
        return "tier_prob"
    return "tier+score"


class QueryLog:
    """Counts benchmark queries: each distinct cell once, attributed to the phase that first asked."""

    def __init__(self, bench: Benchmark):
        self.bench = bench
        self._phase_of: dict[int, str] = {}
        self.counts = {"train": 0, "search": 0}

    def query(self, rows: np.ndarray, column: str, phase: str) -> np.ndarray:
        """Values of ``column`` at ``rows`` (counting rows never queried before under ``phase``)."""
        if phase not in self.counts:
            raise ValueError(f"phase must be 'train' or 'search', got {phase!r}")
        rows = np.asarray(rows, dtype=np.int64)
        for r in rows.tolist():
            if r not in self._phase_of:
                self._phase_of[r] = phase
                self.counts[phase] += 1
        return np.asarray(self.bench.column(column)[rows], dtype=np.float64)

    def phase_of(self, row: int) -> str:
        """The phase that first queried ``row`` ("train": a labelled cell, "search"), or "" if never."""
        return self._phase_of.get(int(row), "")

    def rows_of(self, phase: str) -> np.ndarray:
        """The rows first queried by ``phase``, sorted."""
        return np.array(sorted(r for r, p in self._phase_of.items() if p == phase), dtype=np.int64)

    def seen(self, rows: np.ndarray) -> np.ndarray:
        return np.fromiter((int(r) in self._phase_of for r in np.asarray(rows).tolist()), dtype=bool, count=len(rows))

    @property
    def total(self) -> int:
        return len(self._phase_of)


@dataclass
class SearchOutcome:
    """What a search returns: the chosen row, the rows it queried and the best-so-far curve."""

    best_row: int
    queried_rows: list[int] = field(default_factory=list)
    queried_select: list[float] = field(default_factory=list)   # select_column of each queried row
    best_so_far_val: list[float] = field(default_factory=list)  # best val accuracy after each iteration
    predicted_latency: dict[int, float] = field(default_factory=dict)
    fallbacks: int = 0
    tier_short: int = 0  # iterations whose predicted top tier had fewer than m new cells
    skipped: int = 0     # of those, the iterations that queried nothing (tier_short="skip")
    filled: int = 0      # of those, the iterations filled up from the other tiers (tier_short="fill")


def ranker_search(
    model,
    encode_rows: Callable[[np.ndarray], torch.Tensor],
    sampler,
    queries: QueryLog,
    *,
    iterations: int,
    sample_size: int,
    top_k: int,
    val_column: str,
    select_column: str,
    order: str = "tier+score",
    queried: str = ExperimentConfig.search_queried,
    tier_short: str = ExperimentConfig.tier_short,
    duplicates: str = ExperimentConfig.sample_duplicates,
    latency_norm: tuple[float, float] | None = None,
    progress: Callable[[int, float], None] | None = None,
) -> SearchOutcome:
    """Algorithm 4 with ``model`` (a NARanker or any module returning ``.score``/``.tier_logits``).

    ``order`` and ``queried``: see the module doc. ``progress(iteration, best_val)`` is called
    after each iteration (1-based), for progress bars."""
    if order not in SEARCH_ORDERS:
        raise ValueError(f"order must be one of {SEARCH_ORDERS}, got {order!r}")
    for name, value in (("search_queried", queried), ("tier_short", tier_short), ("sample_duplicates", duplicates)):
        if value not in CHOICES[name]:
            raise ValueError(f"{name} must be one of {CHOICES[name]}, got {value!r}")
    use_tiers = order != "score"
    device = next(model.parameters()).device
    model.eval()
    out = SearchOutcome(best_row=-1)
    best_val = -np.inf
    best_sel, best_row = -np.inf, -1
    for _ in range(iterations):
        batch = sampler.sample(sample_size)
        out.fallbacks += batch.fallback
        # sorted: order-independent of the sampler's internals; duplicates kept or dropped
        rows = np.sort(batch.rows, kind="stable") if duplicates == "keep" else np.unique(batch.rows)
        with torch.no_grad():
            res = model(encode_rows(rows).to(device))
            score = res.score.float().cpu().numpy()
            tiers = probs_top = None
            if use_tiers and getattr(res, "tier_logits", None) is not None:
                tiers_t = res.tier_logits.argmax(dim=1)
                if hasattr(model, "update_tier_embeddings"):
                    model.update_tier_embeddings(res.feature, tiers_t)  # NAR: Eq. 13 by prediction
                tiers = tiers_t.cpu().numpy()
                probs_top = torch.softmax(res.tier_logits.float(), dim=1)[:, 0].cpu().numpy()
            lat = getattr(res, "latency", None)
            lat = lat.float().cpu().numpy() if lat is not None else None
        new = ~queries.seen(rows) if queried == "skip" else np.ones(rows.size, dtype=bool)
        key = probs_top if order == "tier_prob" and probs_top is not None else score
        ranked = np.lexsort((-key,))  # best first; ties keep row order
        if tiers is not None:
            top = ranked[(tiers[ranked] == 0) & new[ranked]]
            rest = ranked[(tiers[ranked] != 0) & new[ranked]]
            chosen = np.concatenate([top, rest])[:top_k]
            if top.size < top_k:
                out.tier_short += 1
                if tier_short == "skip":
                    out.skipped += 1
                    chosen = top[:0]
                else:
                    out.filled += 1
        else:
            chosen = ranked[new[ranked]][:top_k]
        picked = rows[chosen]
        if picked.size:
            sel = queries.query(picked, select_column, "search")
            val = queries.query(picked, val_column, "search")
            out.queried_rows.extend(picked.tolist())
            out.queried_select.extend(sel.tolist())
            best_val = max(best_val, float(val.max()))
            j = int(np.argmax(sel))
            if sel[j] > best_sel:
                best_sel, best_row = float(sel[j]), int(picked[j])
            if lat is not None and latency_norm is not None:
                m, s = latency_norm
                for r, v in zip(picked.tolist(), lat[chosen].tolist()):
                    out.predicted_latency[r] = v * s + m
        out.best_so_far_val.append(float(best_val) if np.isfinite(best_val) else float("nan"))
        if progress is not None:
            progress(len(out.best_so_far_val), float(best_val))
    out.best_row = best_row
    return out


def random_search(bench: Benchmark, queries: QueryLog, rng: np.random.Generator, budget: int, *,
                  val_column: str, select_column: str, curve_points: list[int]) -> SearchOutcome:
    """Uniform random search over the benchmark's cells, ``budget`` distinct queries.

    ``curve_points``: query counts after which ``best_so_far_val`` is recorded (aligned with the
    ranker's iterations). On NB201 (all cells present) a uniform row is a uniform cell.
    """
    budget = min(budget, len(bench))
    rows = rng.choice(len(bench), size=budget, replace=False)
    sel = queries.query(rows, select_column, "search")
    val = queries.query(rows, val_column, "search")
    best_val = np.maximum.accumulate(val)
    curve = [float(best_val[min(p, budget) - 1]) for p in curve_points]
    j = int(np.argmax(sel))
    return SearchOutcome(best_row=int(rows[j]), queried_rows=rows.tolist(), queried_select=sel.tolist(),
                         best_so_far_val=curve)


def regularized_evolution(
    bench: Benchmark,
    queries: QueryLog,
    rng: np.random.Generator,
    budget: int,
    mutate: Callable[[np.random.Generator, int], int],
    *,
    val_column: str,
    select_column: str,
    curve_points: list[int],
    population_size: int = 50,
    tournament_size: int = 10,
) -> SearchOutcome:
    """Regularized evolution (Real et al., 2019) on benchmark rows with a query budget.

    The population starts with ``population_size`` uniform cells; each cycle samples a tournament,
    mutates the winner (``mutate(rng, row) -> row``: one op or edge changed), queries the child
    and removes the oldest member. Fitness is ``val_column``, the signal the rankers are trained
    on (evolving on test accuracy would optimise the reported metric itself); the returned cell is
    the queried one with the best ``select_column``, as for every method. Duplicate children cost
    nothing new (the query log counts a cell once) but still age the population.
    """
    budget = min(budget, len(bench))
    init = rng.choice(len(bench), size=min(population_size, budget), replace=False)
    fit_init = queries.query(init, select_column, "search")
    val_init = queries.query(init, val_column, "search")
    population = list(zip(init.tolist(), val_init.tolist()))
    history_rows = init.tolist()
    history_sel = fit_init.tolist()
    best_val_at: list[float] = list(np.maximum.accumulate(val_init))
    seen_count = queries.total
    start_total = seen_count - len(set(init.tolist()))
    cycles = 0
    while queries.total - start_total < budget and cycles < 50 * budget:
        cycles += 1
        idx = rng.choice(len(population), size=min(tournament_size, len(population)), replace=False)
        parent = max((population[i] for i in idx), key=lambda p: p[1])[0]
        child = int(mutate(rng, parent))
        before = queries.total
        sel = float(queries.query(np.array([child]), select_column, "search")[0])
        val = float(queries.query(np.array([child]), val_column, "search")[0])
        population.append((child, val))
        population.pop(0)
        if queries.total > before:
            history_rows.append(child)
            history_sel.append(sel)
            best_val_at.append(max(best_val_at[-1], val))
    curve = [float(best_val_at[min(p, len(best_val_at)) - 1]) for p in curve_points]
    j = int(np.argmax(history_sel))
    return SearchOutcome(best_row=int(history_rows[j]), queried_rows=history_rows, queried_select=history_sel,
                         best_so_far_val=curve)
