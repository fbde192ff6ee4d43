"""Tier statistics (Eq. 14-15) and distribution selection (Algorithm 2) branches."""
import numpy as np
import pytest

from nar_core.tiers import TierStatistics, discretise, kl_divergence, select_distribution


def test_discretise_step_rounded_up_and_bins():
    lo, delta, idx = discretise(np.array([10, 11, 15, 33]), 10)
    assert lo == 10 and delta == 3  # (33-10)/10 = 2.3 -> 3
    # 10 (the minimum) -> bin 1; 11 in (10,13] -> bin 1; 15 in (13,16] -> bin 2; 33 in (31,34] -> bin 8
    assert idx.tolist() == [0, 0, 1, 7]


def test_smoothed_kl_zero_bins_are_finite_and_zero_for_equal():
    # the pre-issue-9 definition, still reachable as kl_definition="smoothed"
    assert kl_divergence([5, 0, 0], [5, 0, 0], "smoothed") == pytest.approx(0.0, abs=1e-12)
    d = kl_divergence([5, 0, 0], [0, 0, 5], "smoothed")
    assert np.isfinite(d) and d > 5


def _counts(top, low):
    c = np.zeros((5, 4))
    c[0], c[1], c[2], c[3], c[4] = top, low, low, low, low
    return c


def test_selection_thin_top_tier_returns_interval():
    c = _counts([1, 0, 0, 0], [0, 0, 0, 30])
    sel = select_distribution(c, lo=0.0, delta=10.0, batch_size=128, batch_factor=0.1, kl_threshold=2.5, tier_index=4)
    assert sel.probs is None and sel.reason == "thin top tier"
    assert sel.interval == (0.0, 10.0)


def test_selection_not_distinct_returns_interval():
    c = _counts([10, 10, 5, 0], [10, 10, 5, 1])
    sel = select_distribution(c, 0.0, 10.0, 128, 0.1, 2.5, 4)
    assert sel.probs is None and sel.reason.startswith("not distinct")
    assert sel.interval == (0.0, 30.0)


def test_selection_distinct_keeps_distribution():
    c = _counts([0, 0, 5, 20], [25, 0, 0, 0])
    sel = select_distribution(c, 0.0, 10.0, 128, 0.1, 2.5, 4)
    assert sel.reason == "distribution"
    np.testing.assert_allclose(sel.probs, [0, 0, 0.2, 0.8])
    assert sel.interval == (20.0, 40.0)
    assert sel.bin_range(3) == (30.0, 40.0)


def test_tier_statistics_update_counts_per_tier():
    st = TierStatistics(num_tiers=2, num_bins=2, num_ops=3)
    st.update(np.array([0, 10, 20, 30.0]), np.array([1, 1, 2, 2.0]), np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]]),
              np.array([0, 0, 1, 1]))
    lo, delta, counts = st.flops[0]
    assert (lo, delta) == (0.0, 15.0)
    assert counts.tolist() == [[2, 0], [0, 2]]
    np.testing.assert_allclose(st.op_probs(0), [0.5, 0.5, 0.0])
    np.testing.assert_allclose(st.op_probs(1), [0.25, 0.25, 0.5])
