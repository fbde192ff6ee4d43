"""Issue 9: every deviation from the papers / the authors' code, fixed or switchable (docs/fidelity.md).

One small hand-made example per item; each of them fails on the code before issue 9.
"""
import math

import numpy as np
import pytest
import torch
from torch import nn

from nar_core.benchmarks.base import Benchmark
from nar_core.config import PRESETS, ExperimentConfig
from nar_core.errors import ConfigError
from nar_core.ranker import NARanker, TrainData, TrainSettings, train_ranker, train_rankers
from nar_core.ranker.losses import tier_labels
from nar_core.ranker.model import RankerOutput
from nar_core.sampler import CandidateSampler, SampleBatch
from nar_core.search import QueryLog, ranker_search, search_order
from nar_core.spaces import get_space
from nar_core.tiers import TierStatistics, kl_divergence, select_distribution

nb201 = get_space("nb201")


# --- a fake ranker and sampler over benchmark rows, for the search tests ---------------------
class TableRanker(nn.Module):
    """Returns fixed scores / tier logits per benchmark row (the input carries the row id)."""

    def __init__(self, score, logits):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))
        self.score = torch.as_tensor(score, dtype=torch.float32)
        self.logits = None if logits is None else torch.as_tensor(logits, dtype=torch.float32)

    def forward(self, x):
        r = x.long()
        return RankerOutput(score=self.score[r], feature=torch.zeros(len(r), 1, 1),
                            tier_logits=None if self.logits is None else self.logits[r], latency=None)


class FixedSampler:
    def __init__(self, rows):
        self.rows = np.asarray(rows)

    def sample(self, k):
        return SampleBatch(self.rows.copy(), k, 0, 0, 0)


def toy_bench(n):
    acc = np.arange(n, dtype=float)  # row r has accuracy r
    return Benchmark("nb201", np.arange(n), {"cifar10_val": acc, "cifar10_test": acc}, {"ops": np.zeros((n, 6), np.int8)})


def run_search(model, rows, bench, order, queried="skip", top_k=2, seen=(), tier_short="fill"):
    q = QueryLog(bench)
    if len(seen):
        q.query(np.asarray(seen), "cifar10_val", "train")
    out = ranker_search(model, lambda r: torch.as_tensor(r, dtype=torch.float32), FixedSampler(rows), q,
                        iterations=1, sample_size=len(rows), top_k=top_k, val_column="cifar10_val",
                        select_column="cifar10_test", order=order, queried=queried, tier_short=tier_short)
    return out


# --- item 1: loss-ablation rows order by what was trained -------------------------------------
def test_classification_only_orders_by_top_tier_probability_not_the_random_score():
    rng = np.random.default_rng(0)
    n = 8
    logits = np.full((n, 5), -5.0)
    logits[:, 0] = [3.0, 1.0, 2.0, 0.5, 4.0, 0.2, -9, -9]  # rows 6, 7 predicted in another tier
    logits[6, 2] = logits[7, 3] = 5.0
    score = rng.normal(size=n)  # an untrained score head: noise
    assert search_order(True, 1.0, 0.0) == "tier_prob"
    out = run_search(TableRanker(score, logits), np.arange(n), toy_bench(n), search_order(True, 1.0, 0.0), top_k=3)
    p1 = torch.softmax(torch.tensor(logits), 1)[:, 0].numpy()
    expected = [r for r in np.argsort(-p1) if r < 6][:3]
    assert out.queried_rows == [int(r) for r in expected] == [4, 0, 2]


def test_ranking_only_ignores_the_classifier():
    n = 6
    score = np.array([0.0, 5.0, 1.0, 4.0, 2.0, 3.0])
    logits = np.zeros((n, 5))
    logits[:, 4] = 10.0  # an untrained classifier that puts every cell in the worst tier ...
    logits[0, 0] = 20.0  # ... but row 0 (the worst score) in tier 1
    assert search_order(True, 0.0, 5.0) == "score" and search_order(False, 1.0, 5.0) == "score"
    out = run_search(TableRanker(score, logits), np.arange(n), toy_bench(n), "score", top_k=3)
    assert out.queried_rows == [1, 3, 5]
    # with both heads trained, tier 1 comes first
    assert run_search(TableRanker(score, logits), np.arange(n), toy_bench(n), "tier+score", top_k=3).queried_rows[0] == 0


def test_both_losses_off_is_refused():
    with pytest.raises(ConfigError, match="cannot both be 0"):
        ExperimentConfig.for_space("nb201", cls_loss_factor=0, rank_loss_factor=0)
    assert ExperimentConfig.for_space("nb201", rank_loss_factor=0).rank_loss_factor == 0  # cls-only row


# --- item 2: the authors' softmax KL and the bins -----------------------------------------------
def test_softmax_kl_equals_hand_computed_value():
    p, q = [3.0, 0.0, 1.0], [0.0, 2.0, 2.0]
    sp = [math.exp(v) / sum(math.exp(u) for u in p) for v in p]
    sq = [math.exp(v) / sum(math.exp(u) for u in q) for v in q]
    hand = sum(a * math.log(a / b) for a, b in zip(sp, sq)) / 3  # kl_div "batchmean" over 3 bins
    assert kl_divergence(p, q) == pytest.approx(hand, rel=1e-12)
    assert hand == pytest.approx(0.640649, abs=1e-6)  # 1.92197 / 3, worked on paper
    # the authors' call: kl_div(log_softmax(low), log_softmax(top), batchmean, log_target) = KL(top || low)
    ref = torch.nn.functional.kl_div(torch.log_softmax(torch.tensor(q), -1), torch.log_softmax(torch.tensor(p), -1),
                                     reduction="batchmean", log_target=True)
    assert kl_divergence(p, q) == pytest.approx(float(ref), rel=1e-6)


def test_softmax_kl_keeps_a_distribution_the_smoothed_kl_drops():
    c = np.zeros((5, 8))
    c[0] = [0, 0, 2, 4, 8, 12, 15, 10]  # top tier (51 of 256): large cells
    c[1:] = [29, 10, 4, 3, 2, 1, 1, 1]   # low tiers: small cells, with a thin tail over the same bins
    old = select_distribution(c, 0.0, 1.0, 256, 0.1, 2.5, 4, kl_definition="smoothed")
    new = select_distribution(c, 0.0, 1.0, 256, 0.1, 2.5, 4, kl_definition="softmax")
    assert old.branch == "not distinct" and new.branch == "distribution"
    assert kl_divergence(c[0], c[1], "smoothed") == pytest.approx(2.044, abs=1e-3)
    assert kl_divergence(c[0], c[1], "softmax") == pytest.approx(3.470, abs=1e-3)


def test_bins_follow_the_authors_configs():
    assert ExperimentConfig.for_space("nb201").num_bins == 5
    assert ExperimentConfig.for_space("nb101").num_bins == 8


# --- item 3: constraints are upper bounds -------------------------------------------------------
@pytest.fixture(scope="module")
def bench201():
    cells = nb201.all_cells()
    f, p = nb201.network_cost(cells, "cifar10")
    return Benchmark("nb201", np.arange(len(f)), {"cifar10_flops": f.astype(float)}, cells, "all cells")


def test_upper_bound_constraint_admits_a_smaller_cell(bench201):
    f_all, _ = nb201.network_cost(bench201.cell_arrays, "cifar10")
    rows = np.random.default_rng(0).choice(len(bench201), 128, replace=False)
    tiers = np.empty(128, int)
    tiers[np.argsort(-f_all[rows])] = np.arange(128) * 5 // 128  # top tier = the largest FLOPs
    st = TierStatistics(5, 5, 5)
    st.update(f_all[rows], f_all[rows], np.ones((128, 5), int), tiers)
    sel = st.select(0, "flops", 0.1, 2.5, 4)
    low = sel.interval[0]
    kw = dict(sampling_mode="interval", constraints="flops", random_proportion=0.0, constraint_reuse=25)
    new = CandidateSampler(nb201, "cifar10", bench201, st, np.random.default_rng(1), **kw).sample(200)
    old = CandidateSampler(nb201, "cifar10", bench201, st, np.random.default_rng(1), constraint_bound="bin", **kw).sample(200)
    f_new, f_old = f_all[new.rows], f_all[old.rows]
    assert np.any(f_new < low) and not np.any(f_old < low)
    assert np.all(f_new <= sel.interval[1])  # never above the largest bound drawn


# --- item 4: NB101 random cells uniform over unique cells ---------------------------------------
def test_nb101_random_cells_are_uniform_over_unique_cells():
    nb101 = get_space("nb101")
    cells = nb101.sample_uniform(np.random.default_rng(0), 400)
    keys, first = np.unique(nb101.keys(cells), return_index=True)
    cells = {k: v[first] for k, v in cells.items()}
    bench = Benchmark("nb101", keys, {"cifar10_test": np.zeros(len(keys))}, cells, "fixture")
    n = 6000
    s = CandidateSampler(nb101, "cifar10", bench, None, np.random.default_rng(1), restrict_to_benchmark=False)
    rows = s.sample(n).rows
    nv = (cells["ops"] != 0).sum(1)  # vertices of each unique cell (padding is 0)
    cats = np.unique(nv)
    expected = np.array([np.mean(nv == c) for c in cats]) * n
    observed = np.array([np.sum(nv[rows] == c) for c in cats])
    keep = expected >= 5
    chi2 = float(np.sum((observed[keep] - expected[keep]) ** 2 / expected[keep]))
    assert chi2 < 25.0, (chi2, observed, expected)  # chi2(5 d.o.f.) 0.9999 quantile ~ 25.7


# --- item 5: the no-tier row samples the whole space (experiment), see test_no_tier_samples_uniformly
# --- item 6: tier labels once over the training set -----------------------------------------------
def _synthetic(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 31, 4, 4, generator=g)
    y = x[:, 0].mean(dim=(1, 2)).numpy() * 3
    return TrainData(x, y, flops=np.arange(n, dtype=float), params=np.arange(n, dtype=float), ops=np.ones((n, 5), int))


def small(mode="mean", **kw):
    return NARanker((31, 4, 4), d_model=16, n_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1,
                    dropout=0.0, tier_mode=mode, **kw)


def test_global_tier_labels_vary_per_batch_and_match_the_whole_set():
    data = _synthetic(100)
    torch.manual_seed(0)
    r = train_ranker(small("query"), data, None, TrainSettings(epochs=1, batch_size=20, tier_labels="global"), seed=1)
    top_per_batch = [int(c[0].sum()) for _, _, c in r.stats.flops]
    assert sum(top_per_batch) == 20 and len(set(top_per_batch)) > 1  # batch tier 1 sizes differ
    glob = tier_labels(torch.as_tensor(data.y), 5).numpy()
    assert sum(int(c.sum(1)[0]) for _, _, c in r.stats.flops) == int((glob == 0).sum())
    torch.manual_seed(0)
    r = train_ranker(small("query"), data, None, TrainSettings(epochs=1, batch_size=20, tier_labels="batch"), seed=1)
    assert [int(c[0].sum()) for _, _, c in r.stats.flops] == [4] * 5


# --- item 7: NAR tier embeddings reset each epoch -----------------------------------------------
def test_tier_embeddings_reset_each_epoch():
    data = _synthetic(60)
    for reset, seen in (("epoch", 60), ("never", 120)):
        torch.manual_seed(0)
        m = small("mean")
        train_ranker(m, data, None, TrainSettings(epochs=2, batch_size=20, tier_embedding_reset=reset), seed=1)
        assert float(m.tier_counts.sum()) == seen
    m.reset_tier_embeddings()
    assert float(m.tier_embeddings.abs().sum()) == 0 and float(m.tier_counts.sum()) == 0


# --- item 8: flatten pooling ------------------------------------------------------------------
def test_flatten_pooling_sees_token_positions():
    torch.manual_seed(0)
    m = small("mean", pooling="flatten")
    assert m.score_head[0].in_features == 31 * 16 and m.tier_head[0].in_features == 31 * 16
    f = torch.randn(2, 31, 16)
    swapped = f[:, [1, 0] + list(range(2, 31))]
    assert not torch.allclose(m.score_from_feature(f), m.score_from_feature(swapped))
    mm = small("mean", pooling="mean")
    assert torch.allclose(mm.score_from_feature(f), mm.score_from_feature(swapped), atol=1e-6)
    assert ExperimentConfig.for_space("nb201").pooling == "flatten"


# --- item 9: learning rate, width, dropout of the authors ------------------------------------
def test_authors_preset_sets_their_optimiser_and_model():
    a201 = ExperimentConfig.for_space("nb201", preset="authors")
    a101 = ExperimentConfig.for_space("nb101", preset="authors")
    assert (a201.lr_scale, a201.warmup_steps, a201.d_model, a201.d_ff, a201.dropout) == (0.07, 30, 128, 512, 0.1)
    assert (a101.lr_scale, a101.warmup_steps, a101.d_model, a101.d_ff, a101.dropout) == (0.1, 50, 256, 1024, 0.1)
    assert (a201.kl_threshold_flops, a201.kl_threshold_params, a201.interval_scope, a201.op_sampling) == \
        (0.35, 0.3, "batch", "uniform")
    assert set(PRESETS) == {"default", "paper", "authors"}
    with pytest.raises(ConfigError, match="preset"):
        ExperimentConfig.for_space("nb201", preset="nope")


# --- item 10: the best epoch's statistics, one batch per iteration ------------------------------
def test_statistics_of_the_best_epoch_one_batch_per_iteration(bench201):
    st = TierStatistics(5, 5, 5)
    f_all, _ = nb201.network_cost(bench201.cell_arrays, "cifar10")
    rng = np.random.default_rng(0)
    for epoch in range(3):
        for _ in range(3):
            rows = rng.choice(len(bench201), 50, replace=False)
            st.update(f_all[rows], f_all[rows], np.ones((50, 5), int), np.arange(50) % 5, epoch)
    kept = st.flops[3:6]
    st.keep_epoch(1)
    assert len(st) == 3 and st.epochs == [1, 1, 1] and all(a is b for a, b in zip(st.flops, kept))
    s = CandidateSampler(nb201, "cifar10", bench201, st, np.random.default_rng(2), iterations=6,
                         sampling_mode="interval", random_proportion=0.0)
    used = []
    for _ in range(6):
        s.sample(20)
        used.append({int(line.split()[1]) for line in s.selection_log})
        s.selection_log.clear()
    batches = [u for u in used if u]
    # ceil(6 / 3) = 2 iterations per batch, each iteration on one batch only, all 3 batches used
    assert all(len(u) == 1 for u in batches)
    assert len(set().union(*batches)) == 3


# --- item 11: queried cells may be returned (authors) -------------------------------------------
def test_search_may_return_a_training_cell_when_allowed():
    n = 10
    score = np.arange(n, dtype=float)  # the ranker is right: row 9 is best
    bench = toy_bench(n)
    allow = run_search(TableRanker(score, None), np.arange(n), bench, "score", "allow", top_k=2, seen=[9])
    skip = run_search(TableRanker(score, None), np.arange(n), bench, "score", "skip", top_k=2, seen=[9])
    assert allow.best_row == 9 and skip.best_row == 8


# --- item 12: NAR's own lambda -----------------------------------------------------------------
def test_nar_uses_its_own_rank_loss_factor():
    assert ExperimentConfig.for_space("nb101", method="nar").rank_loss_factor == 9.0
    assert ExperimentConfig.for_space("nb201", method="nar").rank_loss_factor == 1.0
    assert ExperimentConfig.for_space("nb201", method="narq2t").rank_loss_factor == 5.0
    assert ExperimentConfig.for_space("nb201", method="nar").tier_labels == "global"  # authors' SplitSubet
    assert ExperimentConfig.for_space("nb201", "paper", method="nar").tier_labels == "batch"  # NAR Algo. 1 line 7
    assert ExperimentConfig.for_space("nb201", method="nar", rank_loss_factor=3).rank_loss_factor == 3


# --- item 13: the encoding-attribute ablation (NARQ2T Fig. 10) ----------------------------------
def test_encoding_attributes_zero_the_left_out_channels():
    from nar_core.experiment import attribute_mask

    from nar_core.errors import NarError
    from nar_core.spaces import get_space

    nb101, nb201 = get_space("nb101").channel_kinds(), get_space("nb201").channel_kinds()
    assert (len(nb201), len(nb101)) == (31, 19)  # App. A: 1 + 2 * 15 edges, 1 + 2 * 9 modules
    assert attribute_mask(nb201, "ops+flops+params") is None
    m = attribute_mask(nb201, "ops+flops")
    assert m[0] and m[1] and not m[2] and m[29] and not m[30]
    m = attribute_mask(nb101, "params")
    assert not m[0] and not m[1] and m[2] and m.sum() == 9
    # a space with its own layout: the mask follows its channel_kinds, not channel numbers
    assert attribute_mask(("params", "ops", "flops", "flops"), "flops").tolist() == [False, False, True, True]
    assert attribute_mask(("ops", "flops"), "ops+flops") is None  # every kind the space has
    with pytest.raises(NarError, match="channel_kinds"):
        attribute_mask(("ops", "latency"), "ops")
    with pytest.raises(ConfigError, match="encoding_attributes"):
        ExperimentConfig.for_space("nb201", encoding_attributes="ops+latency")


# --- pipeline-level checks (items 5, 7, 10) on a synthetic NB201 benchmark ----------------------
TINY = dict(train_size=128, val_size=32, d_model=16, n_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1,
            epochs=2, batch_size=32, sample_size=32, search_iterations=2, query_metric="val", num_threads=1)


@pytest.fixture(scope="module")
def synthetic201():
    cells = nb201.all_cells()
    f, p = nb201.network_cost(cells, "cifar10")
    acc = 80 + 10 * (f - f.min()) / (f.max() - f.min()) + np.random.default_rng(0).normal(0, 0.5, len(f))
    return Benchmark("nb201", np.arange(len(f)), {"cifar10_val": acc, "cifar10_test": acc + 0.3}, cells, "synthetic")


def _spy(monkeypatch, name, record):
    from nar_core import experiment

    orig = getattr(experiment, name)

    def spy(*args, **kwargs):
        record(*args, **kwargs)
        return orig(*args, **kwargs)

    monkeypatch.setattr(experiment, name, spy)


def test_no_tier_samples_the_whole_space(monkeypatch, synthetic201):
    from nar_core.experiment import run_experiment

    seen = {}
    _spy(monkeypatch, "ranker_search", lambda model, enc, sampler, *a, **k: seen.update(
        mode=sampler.sampling_mode, order=k["order"]))
    run_experiment(ExperimentConfig.for_space("nb201", method="no_tier", **TINY), synthetic201)
    assert seen == {"mode": "random", "order": "score"}
    run_experiment(ExperimentConfig.for_space("nb201", method="narq2t", **TINY), synthetic201)
    assert seen == {"mode": "interval", "order": "tier+score"}


def test_nar_search_starts_from_zero_tier_embeddings(monkeypatch, synthetic201):
    from nar_core.experiment import run_experiment

    at_start = []
    _spy(monkeypatch, "ranker_search", lambda model, *a, **k: at_start.append(
        (float(model.tier_embeddings.abs().sum()), float(model.tier_counts.sum()))))
    run_experiment(ExperimentConfig.for_space("nb201", method="nar", **TINY), synthetic201)
    assert at_start[-1] == (0.0, 0.0)
    run_experiment(ExperimentConfig.for_space("nb201", method="nar", tier_embedding_reset="never", **TINY), synthetic201)
    assert at_start[-1][0] > 0 and at_start[-1][1] == 2 * 128  # every training cell of both epochs


def test_best_epoch_statistics_reach_the_sampler(monkeypatch, synthetic201):
    from nar_core.experiment import run_experiment

    seen = {}
    _spy(monkeypatch, "ranker_search", lambda model, enc, sampler, *a, **k: seen.update(
        epochs=set(sampler.stats.epochs), n=len(sampler.stats)))
    r = run_experiment(ExperimentConfig.for_space("nb201", **TINY), synthetic201)
    assert seen == {"epochs": {r.best_epoch}, "n": 4}
    r = run_experiment(ExperimentConfig.for_space("nb201", stats_epochs="all_epochs", **TINY), synthetic201)
    assert seen == {"epochs": {0, 1}, "n": 8}
    assert r.extra["alg2_flops_distribution"] + r.extra["alg2_flops_thin_top_tier"] + \
        r.extra["alg2_flops_not_distinct"] >= 1


def test_cli_preset_flag():
    import argparse

    from nar_core.cli_run import add_parser, build_config

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["run", "--out", "x", "--preset", "authors", "--set", "lr_scale=0.5"])
    cfg = build_config(args)
    assert (cfg.lr_scale, cfg.kl_threshold_flops, cfg.interval_scope) == (0.5, 0.35, "batch")
    assert build_config(parser.parse_args(["run", "--out", "x"])) == ExperimentConfig.for_space("nb201")
    with pytest.raises(SystemExit):
        parser.parse_args(["run", "--out", "x", "--preset", "nope"])


# --- library defaults follow the config's defaults; allowed values come from config.CHOICES ----
def test_library_defaults_follow_the_config_and_its_choices():
    import inspect

    from nar_core.ranker.model import NARanker
    from nar_core.search import ranker_search

    default = lambda f, name: inspect.signature(f).parameters[name].default  # noqa: E731
    cfg = ExperimentConfig()
    assert default(NARanker, "pooling") == cfg.pooling
    assert default(ranker_search, "queried") == cfg.search_queried
    assert default(train_rankers, "num_bins") == cfg.num_bins
    assert default(kl_divergence, "definition") == cfg.kl_definition
    s = TrainSettings()
    assert (s.tier_labels, s.tier_embedding_reset) == (cfg.tier_labels, cfg.tier_embedding_reset)
    with pytest.raises(ValueError, match="'flatten', 'mean'"):
        NARanker((31, 4, 4), pooling="max")
    with pytest.raises(ValueError, match="'softmax', 'smoothed'"):
        kl_divergence([1, 2], [2, 1], "js")


def test_classification_only_reports_no_tau_and_untrainable_configs_are_refused(synthetic201):
    from nar_core.experiment import run_experiment

    r = run_experiment(ExperimentConfig.for_space("nb201", method="narq2t", rank_loss_factor=0, **TINY), synthetic201)
    assert math.isnan(r.kendall_tau) and r.heldout_size > 0  # an untrained score head ranks nothing
    assert not math.isnan(run_experiment(ExperimentConfig.for_space("nb201", **TINY), synthetic201).kendall_tau)
    for method in ("no_tier", "convnet"):
        with pytest.raises(ConfigError, match=f"rank_loss_factor: must be > 0 for method {method}"):
            ExperimentConfig.for_space("nb201", method=method, rank_loss_factor=0)
    ExperimentConfig.for_space("nb201", method="random_search", rank_loss_factor=0)  # trains nothing anyway
