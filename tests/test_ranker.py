"""The ranker model: shapes in every tier mode, Eq. 13 running means, schedule, determinism."""
import numpy as np
import pytest
import torch

from nar_core.ranker import NARanker, TrainData, TrainSettings, kendall_tau, train_ranker, transformer_lr
from nar_core.ranker.model import sincos_positional_embedding


def small(mode, **kw):
    return NARanker((31, 4, 4), d_model=16, n_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1,
                    dropout=0.0, tier_mode=mode, **kw)


@pytest.mark.parametrize("mode", ["query", "mean", None])
def test_forward_shapes(mode):
    torch.manual_seed(0)
    m = small(mode, latency_head=True)
    out = m(torch.randn(6, 31, 4, 4))
    assert out.score.shape == (6,) and out.feature.shape == (6, 31, 16) and out.latency.shape == (6,)
    assert (out.tier_logits is None) == (mode is None)
    if mode is not None:
        assert out.tier_logits.shape == (6, 5)


def test_positional_embedding_is_sine_cosine():
    pe = sincos_positional_embedding(3, 4)
    assert pe[0].tolist() == [0.0, 1.0, 0.0, 1.0]
    assert pe[1, 0].item() == pytest.approx(np.sin(1.0)) and pe[1, 3].item() == pytest.approx(np.cos(1 / 100.0))


def test_running_mean_update_two_steps_by_hand():
    m = NARanker((2, 1, 1), d_model=2, n_heads=1, d_ff=4, encoder_layers=0, decoder_layers=1, num_tiers=2,
                 tier_mode="mean")
    f1 = torch.tensor([[[1.0, 1.0], [1.0, 1.0]], [[3.0, 3.0], [3.0, 3.0]], [[10.0, 0.0], [0.0, 10.0]]])
    m.update_tier_embeddings(f1, torch.tensor([0, 0, 1]))
    assert torch.allclose(m.tier_embeddings[0, 0], torch.full((2, 2), 2.0))     # (1 + 3) / 2
    assert torch.allclose(m.tier_embeddings[0, 1], f1[2])
    f2 = torch.full((1, 2, 2), 8.0)
    m.update_tier_embeddings(f2, torch.tensor([0]))
    assert torch.allclose(m.tier_embeddings[0, 0], torch.full((2, 2), 4.0))     # (2 * 2 + 8) / 3
    assert torch.allclose(m.tier_embeddings[0, 1], f1[2])                        # untouched tier
    assert m.tier_counts[0].tolist() == [3.0, 1.0]


def test_transformer_lr_schedule():
    assert transformer_lr(30, 128, 30) == pytest.approx(128 ** -0.5 * 30 ** -0.5)  # peak at warm-up end
    assert transformer_lr(10, 128, 30) < transformer_lr(30, 128, 30) > transformer_lr(120, 128, 30)


def test_kendall_tau_known_values():
    assert kendall_tau([1, 2, 3, 4], [1, 2, 3, 4]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert kendall_tau([1, 2, 3], [1, 3, 2]) == pytest.approx(1 / 3)


def _tau_b_by_pairs(x, y):
    """Kendall's tau-b from its definition, pair by pair: (C - D) / sqrt((n0 - n1)(n0 - n2))."""
    s = untied_x = untied_y = 0
    for i in range(len(x)):
        for j in range(i + 1, len(x)):
            dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
            s, untied_x, untied_y = s + dx * dy, untied_x + abs(dx), untied_y + abs(dy)
    return s / np.sqrt(untied_x * untied_y)


def test_kendall_tau_is_tau_b_with_ties_nan_where_undefined_and_fast():
    import time

    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 6, 80).astype(float), rng.integers(0, 4, 80).astype(float)  # many ties on both sides
    assert kendall_tau(x, y) == pytest.approx(_tau_b_by_pairs(x, y), abs=1e-12)
    for a, b in (([1.0], [2.0]), ([], []), ([3, 3, 3], [1, 2, 3]), ([1, np.nan, 3], [1, 2, 3]), ([1, 2, 3], [1, 2, np.inf - np.inf])):
        assert np.isnan(kendall_tau(a, b)), (a, b)
    with pytest.raises(ValueError, match="shapes differ"):
        kendall_tau([1, 2], [1, 2, 3])
    big = rng.normal(size=20_000)
    t0 = time.perf_counter()
    tau = kendall_tau(big, big + rng.normal(size=big.size))
    assert time.perf_counter() - t0 < 0.5 and 0.4 < tau < 0.6  # O(n log n): pairwise, 20,000 items took seconds


def _synthetic(seed, n):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 31, 4, 4, generator=g)
    y = (x[:, 0].mean(dim=(1, 2)) * 3 + 0.1 * torch.randn(n, generator=g)).numpy()
    return TrainData(x, y, flops=np.abs(y) * 100, params=np.abs(y) * 10, ops=np.ones((n, 5), int))


def test_training_learns_and_is_deterministic():
    train, val = _synthetic(0, 256), _synthetic(1, 128)
    # per-batch labels (NAR Algo. 1): on this tiny synthetic set they learn the signal within 6 epochs
    settings = TrainSettings(epochs=6, batch_size=64, lr_scale=0.5, warmup_steps=5, tier_labels="batch")
    results = []
    for _ in range(2):
        torch.manual_seed(123)
        m = small("query")
        r = train_ranker(m, train, val, settings, seed=7)
        results.append((r, [p.detach().clone() for p in m.parameters()]))
    (r1, p1), (r2, p2) = results
    assert all(torch.equal(a, b) for a, b in zip(p1, p2))
    assert r1.history == r2.history
    assert max(h["tau"] for h in r1.history) > 0.3  # a linear signal is learnt (untrained: ~0)
    assert len(r1.stats) == 6 * 4 and r1.stats.op_counts.sum() == 6 * 256 * 5
