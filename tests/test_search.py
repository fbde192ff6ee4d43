"""Query accounting and the baseline searches."""
import numpy as np

from nar_core.benchmarks.base import Benchmark
from nar_core.search import QueryLog, random_search


def toy_bench(n=100):
    acc = np.linspace(50, 90, n)
    return Benchmark("nb201", np.arange(n), {"cifar10_val": acc, "cifar10_test": acc + 1}, {"ops": np.zeros((n, 6), np.int8)})


def test_duplicates_counted_once_and_by_first_phase():
    q = QueryLog(toy_bench())
    q.query(np.array([1, 2, 3]), "cifar10_val", "train")
    v = q.query(np.array([3, 3, 4]), "cifar10_test", "search")
    assert q.counts == {"train": 3, "search": 1} and q.total == 4
    assert v[0] == v[1]
    assert q.seen(np.array([4, 5])).tolist() == [True, False]


def test_random_search_budget_and_curve():
    b = toy_bench()
    q = QueryLog(b)
    out = random_search(b, q, np.random.default_rng(0), 30, val_column="cifar10_val", select_column="cifar10_val",
                        curve_points=[10, 20, 30])
    assert q.total == 30 and len(set(out.queried_rows)) == 30
    assert out.best_so_far_val == sorted(out.best_so_far_val) and out.best_so_far_val[-1] == b.columns["cifar10_val"][out.best_row]
