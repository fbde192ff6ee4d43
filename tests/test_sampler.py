"""Sampler: constraints, rejection, random proportion, fallback; on the real NB201 space (no data)."""
import numpy as np
import pytest

from nar_core.benchmarks.base import Benchmark
from nar_core.sampler import CandidateSampler
from nar_core.spaces import get_space
from nar_core.tiers import TierStatistics

space = get_space("nb201")


@pytest.fixture(scope="module")
def bench():
    cells = space.all_cells()
    flops, params = space.network_cost(cells, "cifar10")
    # the space's own cost model; no accuracy columns are needed to sample
    return Benchmark("nb201", np.arange(len(flops)), {"cifar10_flops": flops.astype(float)}, cells, "all cells")


def stats_from(bench, rows, tiers):
    st = TierStatistics(5, 10, 5)
    f, p = space.network_cost({"ops": bench.cell_arrays["ops"][rows]}, "cifar10")
    ops = (bench.cell_arrays["ops"][rows][:, :, None] == np.arange(5)).sum(1)
    st.update(f, p, ops, tiers)
    return st, np.asarray(f, float), np.asarray(p, float)


def test_interval_constraint_and_random_proportion(bench):
    rng = np.random.default_rng(0)
    rows = rng.choice(len(bench), 128, replace=False)
    f_all, _ = space.network_cost(bench.cell_arrays, "cifar10")
    # top tier = the 26 smallest-FLOPs cells of the batch: its interval is the low end
    order = np.argsort(f_all[rows])
    tiers = np.empty(128, int)
    tiers[order] = np.minimum(np.arange(128) * 5 // 128, 4)
    st, f, p = stats_from(bench, rows, tiers)
    sel_f = st.select(0, "flops", 0.1, 2.5, 4)
    # the two-sided window of before issue 9 (constraint_bound="bin")
    s = CandidateSampler(space, "cifar10", bench, st, np.random.default_rng(1), sampling_mode="interval",
                         constraints="flops", random_proportion=0.25, constraint_bound="bin")
    batch = s.sample(128)
    assert batch.rows.shape == (128,) and batch.n_random == 32 and batch.fallback == 0
    con = np.asarray(f_all)[batch.rows[: batch.n_constrained]]
    lo, hi = sel_f.interval
    assert np.all((con >= lo) & (con <= hi))
    # the uniform part is not restricted: some of it falls outside the interval
    rand = np.asarray(f_all)[batch.rows[batch.n_constrained:]]
    assert np.any(rand > hi)


def test_statistics_mode_draws_bins_of_the_distribution(bench):
    rows = np.random.default_rng(2).choice(len(bench), 128, replace=False)
    f_all, p_all = space.network_cost(bench.cell_arrays, "cifar10")
    order = np.argsort(-f_all[rows])  # top tier = largest FLOPs: distinct from the low tiers
    tiers = np.empty(128, int)
    tiers[order] = np.minimum(np.arange(128) * 5 // 128, 4)
    st, f, p = stats_from(bench, rows, tiers)
    sel = st.select(0, "flops", 0.1, 2.5, 4, "smoothed")  # the pre-issue-9 setting this test encodes
    assert sel.probs is not None
    s = CandidateSampler(space, "cifar10", bench, st, np.random.default_rng(3), sampling_mode="statistics",
                         constraints="flops", random_proportion=0.0, constraint_bound="bin",
                         kl_definition="smoothed")
    batch = s.sample(64)
    vals = np.asarray(f_all)[batch.rows]
    allowed = [sel.bin_range(k) for k in np.flatnonzero(sel.probs > 0)]
    assert batch.fallback == 0
    assert all(any(lo <= v <= hi for lo, hi in allowed) for v in vals)


def test_rejection_is_bounded_and_counted(bench):
    rows = np.arange(128)
    st, f, p = stats_from(bench, rows, np.minimum(np.arange(128) * 5 // 128, 4))
    # an impossible constraint: no cell has FLOPs in this interval
    s = CandidateSampler(space, "cifar10", bench, st, np.random.default_rng(4), sampling_mode="interval",
                         constraints="flops", random_proportion=0.5, max_tries_factor=2, constraint_bound="bin")
    s._selections[(0, "flops")] = type(st.select(0, "flops", 0.1, 2.5, 4))(None, (-2.0, -1.0), 0.0, 1.0, "test")
    batch = s.sample(20)
    assert batch.rows.shape == (20,) and batch.fallback == 10 and batch.n_constrained == 0
    assert batch.tries >= 40


def test_random_mode_is_seeded(bench):
    a = CandidateSampler(space, "cifar10", bench, None, np.random.default_rng(5)).sample(50).rows
    b = CandidateSampler(space, "cifar10", bench, None, np.random.default_rng(5)).sample(50).rows
    assert np.array_equal(a, b)


def test_statistics_mode_default_bound_is_an_upper_bound_with_counted_fallback(bench):
    from nar_core.tiers import Selection

    f_all = np.asarray(space.network_cost(bench.cell_arrays, "cifar10")[0], float)
    lo, delta = float(f_all.min()), float(np.ptp(f_all)) / 10
    # the top tier's distribution: all mass on bin 4, so tau = its right edge
    probs = np.zeros(10)
    probs[4] = 1.0
    sel = Selection(probs, (lo, lo + 10 * delta), lo, delta, "distribution (test)", (0, 9), 10)
    st, _, _ = stats_from(bench, np.arange(128), np.minimum(np.arange(128) * 5 // 128, 4))
    s = CandidateSampler(space, "cifar10", bench, st, np.random.default_rng(6), sampling_mode="statistics",
                         constraints="flops", random_proportion=0.0)  # constraint_bound: the default
    assert s.constraint_bound == "upper"
    s._selections[(int(s._order[0]), "flops")] = sel
    batch = s.sample(64)
    tau = sel.bin_range(4)[1]
    vals = f_all[batch.rows]
    assert batch.fallback == 0 and batch.n_constrained == 64 and np.all(vals <= tau)
    assert np.any(vals < sel.bin_range(4)[0])  # one-sided: cells below the drawn bin are accepted too
    # a bound below every cell: nothing is accepted, the rejection loop stops and counts the fallback
    s = CandidateSampler(space, "cifar10", bench, st, np.random.default_rng(7), sampling_mode="statistics",
                         constraints="flops", random_proportion=0.5, max_tries_factor=2)
    below = Selection(probs, (lo - 20, lo - 10), lo - 20, 1.0, "distribution (test)", (0, 9), 10)
    s._selections[(int(s._order[0]), "flops")] = below
    batch = s.sample(20)
    assert batch.rows.shape == (20,) and batch.n_constrained == 0 and batch.fallback == 10 and batch.tries >= 40
