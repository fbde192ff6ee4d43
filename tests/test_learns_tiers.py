"""Issue 17: the ranker learns its tiers, and every run shows whether it did.

The authors' model and search are the default; each test checks that a setting reaches the code
that uses it, or that the trained model learned (held-out tier accuracy against chance 1/T)."""
import math

import numpy as np
import pytest
import torch

from nar_core.config import DEFAULT_PRESET, PRESETS, SETTINGS_VERSION, ExperimentConfig
from nar_core.ranker import NARanker
from nar_core.ranker.health import assess
from nar_core.ranker.model import RunLinear
from nar_core.ranker.train import TrainData, TrainSettings, train_ranker


@pytest.fixture(scope="module")
def bench():
    from nar_core.benchmarks import load_benchmark

    return load_benchmark("nb201")  # ../shared/data when present, else the table shipped with the package


# --- the model: the authors' architecture, each difference a setting that reaches it ---------------
def authors_nb201_parameter_count(nar: bool) -> int:
    """Parameters of the authors' ranker/models.py Transformer with config201.yml (n_tier 5, 31 patches
    of 4x4, D 128, FFN 512, 6 layers, no attention biases, tier_prj 256 without first bias, val_acc_prj
    1024), counted by hand from their layer definitions."""
    d, ff, n, t, layers = 128, 512, 31, 5, 6
    ln = 2 * d
    mha = 4 * d * d + ln                      # w_qs, w_ks, w_vs, fc (no bias) + LayerNorm
    ffn = d * ff + ff + ff * d + d + ln        # w_1, w_2 + LayerNorm
    count = 16 * d + d                         # src_prj
    count += ln + layers * (mha + ffn)         # encoder: input LayerNorm + layers
    count += n * d * 1024 + 1024 + 1024 + 1    # val_acc_prj
    if nar:
        count += d * d + d                     # trg_prj
        count += ln + layers * (2 * mha + ffn) # decoder
        count += n * d * 256 + 256 * t + t     # tier_prj
    return count


def test_default_nar_is_the_authors_model_parameter_for_parameter():
    from nar_core.experiment import build_ranker

    cfg = ExperimentConfig.for_space("nb201", method="nar")
    model = build_ranker(cfg, (31, 4, 4), seed=0)
    assert sum(p.numel() for p in model.parameters()) == authors_nb201_parameter_count(nar=True)
    no_tier = build_ranker(cfg.replace(method="no_tier"), (31, 4, 4), seed=0)
    assert sum(p.numel() for p in no_tier.parameters()) == authors_nb201_parameter_count(nar=False)


def test_model_settings_reach_the_model():
    from nar_core.experiment import build_ranker

    base = ExperimentConfig.for_space("nb201", method="narq2t", d_model=16, d_ff=32, n_heads=2, encoder_layers=1,
                                      decoder_layers=1)
    m = build_ranker(base, (31, 4, 4), seed=0)
    assert isinstance(m.encoder[0].ffn.inner.act, torch.nn.ReLU) and m.post
    assert m.score_head[0].out_features == 1024 and m.tier_head[0].out_features == 256
    assert m.score_head[0].bias is not None and m.tier_head[0].bias is None
    assert m.logit_scale == pytest.approx(16 ** -0.5) and isinstance(m.tier_proj, RunLinear)
    bound = math.sqrt(6 / (31 * 16 + 1024))  # Xavier-uniform bound of the score head's first layer
    assert m.score_head[0].weight.abs().max() <= bound and m.score_head[0].weight.abs().max() > 0.9 * bound
    lit = build_ranker(base.replace(norm_placement="pre", activation="gelu", score_head_width=0, tier_head_width=0,
                                    score_head_bias="off", tier_logit_scale="none", tier_projection="none",
                                    weight_init="torch"), (31, 4, 4), seed=0)
    assert isinstance(lit.encoder[0].ffn.inner.act, torch.nn.GELU) and not lit.post
    assert lit.score_head[0].out_features == 16 and lit.tier_head[0].out_features == 16
    assert lit.score_head[0].bias is None and lit.logit_scale == 1.0 and isinstance(lit.tier_proj, torch.nn.Identity)
    # PyTorch's default init is bounded by 1/sqrt(fan_in), well inside Xavier's bound here
    assert lit.score_head[0].weight.abs().max() <= 1 / math.sqrt(31 * 16) + 1e-6
    x = torch.randn(3, 31, 4, 4)
    for model in (m, lit):
        out = model.eval()(x)
        assert out.score.shape == (3,) and out.tier_logits.shape == (3, 5)


def test_tier_logits_are_scaled_by_sqrt_d():
    torch.manual_seed(0)
    a = NARanker((31, 4, 4), d_model=16, n_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1, tier_mode="query")
    b = NARanker((31, 4, 4), d_model=16, n_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1, tier_mode="query",
                 tier_logit_scale="none")
    b.load_state_dict(a.state_dict())
    x = torch.randn(4, 31, 4, 4)
    torch.testing.assert_close(a.eval()(x).tier_logits * 4.0, b.eval()(x).tier_logits)


def test_presets_default_authors_and_paper():
    d = ExperimentConfig.for_space("nb201", method="narq2t", dataset="cifar100")
    assert DEFAULT_PRESET == "default" and set(PRESETS) == {"default", "authors", "paper"}
    assert (d.lr_scale, d.norm_placement, d.input_scaling, d.tier_short, d.rank_loss_factor) == \
        (0.07, "post", "authors", "skip", 23.0)  # the code's model; NARQ2T's Table VI lambda2 (the text)
    a = ExperimentConfig.for_space("nb201", "authors", method="narq2t", dataset="cifar100")
    assert a.rank_loss_factor == 1.0 and a.replace(rank_loss_factor=23.0) == d  # the code's lambda only
    p = ExperimentConfig.for_space("nb201", "paper", method="nar")
    assert (p.lr_scale, p.norm_placement, p.score_head_bias, p.tier_labels, p.tier_short) == \
        (1.0, "pre", "off", "batch", "fill")
    n101 = ExperimentConfig.for_space("nb101")
    assert (n101.lr_scale, n101.score_head_width, n101.tier_head_width, n101.d_model) == (0.1, 2048, 2048, 256)


class _Stop(Exception):
    pass


def _training_inputs(monkeypatch, bench, **overrides) -> torch.Tensor:
    """The feature tensors the pipeline hands to training under ``overrides``."""
    import nar_core.experiment as experiment

    def spy(model, trains, *a, **k):
        raise _Stop(trains[0].x)

    monkeypatch.setattr(experiment, "train_rankers", spy)
    cfg = ExperimentConfig.for_space("nb201", train_size=64, val_size=16, **overrides)
    with pytest.raises(_Stop) as stop:
        experiment.run_experiment(cfg, bench)
    return stop.value.args[0]


def test_training_settings_reach_the_trainer(monkeypatch, bench):
    import nar_core.experiment as experiment
    from nar_core.ranker.train import _selection_key

    def spy(model, trains, vals, settings, **k):
        raise _Stop(settings)

    monkeypatch.setattr(experiment, "train_rankers", spy)
    for sel, tail in (("tier_accuracy", "drop"), ("tau+tier_accuracy", "train")):
        cfg = ExperimentConfig.for_space("nb201", train_size=64, val_size=16, epoch_selection=sel, tail_batch=tail)
        with pytest.raises(_Stop) as stop:
            experiment.run_experiment(cfg, bench)
        settings = stop.value.args[0]
        assert (settings.epoch_selection, settings.tail_batch) == (sel, tail)
        rec = {"tau": 0.5, "tier_acc": 0.3}
        assert _selection_key(rec, settings) == pytest.approx(0.3 if sel == "tier_accuracy" else 0.8)
    # a ranking-only run (classification loss off) is kept by tau whatever the setting
    assert _selection_key({"tau": 0.5, "tier_acc": 0.3}, TrainSettings(cls_loss_factor=0.0)) == 0.5


def test_authors_input_scaling_reaches_the_ranker(monkeypatch, bench):
    from nar_core.spaces import get_space

    assert get_space("nb201").input_scale() is None  # the authors feed NB201's raw per-edge costs
    scale = get_space("nb101").input_scale()
    assert scale.shape == (19,) and scale[0] == 1 and scale[1] == 1e7 and scale[2] == 1e5
    raw = _training_inputs(monkeypatch, bench)
    assert raw[:, 0].max() == 4  # op codes 0-4
    # the largest per-edge cost in the first stage: ReLU-conv3x3-BN at C 16 on 32x32 (authors' cell files)
    assert raw[:, 1].max() == 9 * 16 * 16 * 32 * 32 + 2 * 16 * 32 * 32
    unit = _training_inputs(monkeypatch, bench, input_scaling="unit")
    assert unit.max() == 1.0 and unit.min() == 0.0
    assert _training_inputs(monkeypatch, bench, method="convnet").max() == 1.0  # no per-token LayerNorm there


# --- health: every row says whether the ranker learned ---------------------------------------------
def test_health_flags_a_constant_classifier_and_passes_a_good_one():
    rng = np.random.default_rng(0)
    y = rng.normal(90, 2, 1000)
    const = np.zeros((1000, 5))
    const[:, 2] = 1.0
    h = assess(rng.normal(size=1000), const, y, 5)
    assert h.tier_accuracy == pytest.approx(0.2) and h.tier_chance == 0.2
    assert h.flags == ["tau at chance", "tiers at chance", "one tier predicted"] and h.tiers_predicted == 1
    truth = np.digitize(-y, np.quantile(-y, [0.2, 0.4, 0.6, 0.8]))
    good = np.eye(5)[truth]
    h = assess(y + rng.normal(0, 1, 1000), good, y, 5)
    assert h.status == "ok" and h.tier_accuracy > 0.99 and h.tier_shares == pytest.approx([0.2] * 5)


# --- the learning test: fails on the settings before issue 17 -----------------------------------
SMALL = dict(train_size=300, val_size=60, batch_size=50, epochs=40, d_model=32, d_ff=64, n_heads=2,
             encoder_layers=2, decoder_layers=2, score_head_width=128, tier_head_width=64, search_iterations=2,
             sample_size=50, top_k=5, num_threads=1)


@pytest.mark.slow
@pytest.mark.parametrize("method", ["narq2t", "nar"])
def test_the_ranker_learns_its_tiers(bench, method):
    from nar_core.experiment import run_experiment

    r = run_experiment(ExperimentConfig.for_space("nb201", method=method, seed=0, **SMALL), bench)
    shares = np.asarray(r.tier_shares)
    assert r.tier_accuracy >= r.tier_chance + 0.10, (r.tier_accuracy, shares)
    assert (shares > 0).all(), shares
    assert r.health == "ok" and r.kendall_tau > 0.3
    assert r.settings_version == SETTINGS_VERSION and r.code_version.startswith("0.2")


# --- the search when the predicted top tier is short -----------------------------------------------
class _RowModel(torch.nn.Module):
    """Scores a row by its index; predicts tier 1 (index 0) for rows >= ``top_from``."""

    def __init__(self, top_from: int):
        super().__init__()
        self.top_from = top_from
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, x):
        from nar_core.ranker.model import RankerOutput

        r = x[:, 0]
        top = (r >= self.top_from).float()
        logits = torch.stack([top * 10, (1 - top) * 10] + [torch.zeros_like(r)] * 3, dim=1)
        return RankerOutput(score=r, feature=x[:, None], tier_logits=logits, latency=None)


class _FixedSampler:
    def __init__(self, batches):
        self.batches = list(batches)

    def sample(self, k):
        from nar_core.sampler import SampleBatch

        rows = np.asarray(self.batches.pop(0), dtype=np.int64)
        return SampleBatch(rows, len(rows), 0, 0, 0)


def _search(top_from, batches, **kw):
    from nar_core.search import QueryLog, ranker_search

    acc = np.linspace(50, 90, 100)
    b = __import__("nar_core.benchmarks.base", fromlist=["Benchmark"]).Benchmark(
        "nb201", np.arange(100), {"cifar10_val": acc, "cifar10_test": acc + 1}, {"ops": np.zeros((100, 6), np.int8)})
    q = QueryLog(b)
    out = ranker_search(_RowModel(top_from), lambda r: torch.as_tensor(r, dtype=torch.float32)[:, None],
                        _FixedSampler(batches), q, iterations=len(batches), sample_size=10, top_k=3,
                        val_column="cifar10_val", select_column="cifar10_test", **kw)
    return out, q


def test_short_top_tier_is_skipped_by_default_and_filled_on_request():
    batches = [[1, 2, 3, 96, 97], [90, 96, 97, 98, 99]]  # 2 top-tier cells, then 4
    out, q = _search(95, batches)  # default: skip (authors' sample_201.py)
    assert (out.tier_short, out.skipped, out.filled) == (1, 1, 0)
    assert out.queried_rows == [99, 98, 97] and q.total == 3
    out, q = _search(95, batches, tier_short="fill")
    assert (out.tier_short, out.skipped, out.filled) == (1, 0, 1)
    assert out.queried_rows == [97, 96, 3, 99, 98, 97]  # filled with the best of the other tiers


def test_duplicate_draws_are_ranked_as_drawn_by_default():
    out, q = _search(0, [[5, 7, 7, 7, 6]])
    assert out.queried_rows == [7, 7, 7] and q.total == 1  # the authors' list keeps repeats: one query
    out, q = _search(0, [[5, 7, 7, 7, 6]], duplicates="drop")
    assert out.queried_rows == [7, 6, 5] and q.total == 3


def test_a_search_that_skips_every_iteration_returns_the_best_labelled_cell(bench, caplog):
    from nar_core.experiment import run_experiment

    # top_k = sample_size: the predicted top tier never holds every drawn cell, so each iteration is skipped
    cfg = ExperimentConfig.for_space("nb201", seed=1, train_size=100, val_size=20, d_model=16, d_ff=32, n_heads=2,
                                     encoder_layers=1, decoder_layers=1, epochs=2, batch_size=50, sample_size=20,
                                     top_k=20, search_iterations=3, num_threads=1)
    with caplog.at_level("WARNING"):
        r = run_experiment(cfg, bench)
    assert (r.search_skipped, r.search_filled, r.queries_search) == (3, 0, 0)
    assert r.found_phase == "train" and "every one of the 3 search iterations was skipped" in caplog.text
    assert r.val_acc == max(bench.column("cifar10_val")[bench.row_of_key(k)] for k in [r.found_key])
    filled = run_experiment(cfg.replace(tier_short="fill"), bench)
    assert filled.search_filled == 3 and filled.queries_search > 0


# --- the sampler: R counts accepted cells; the statistics reuse step -------------------------------
def _all_cells_bench():
    from nar_core.benchmarks.base import Benchmark
    from nar_core.spaces import get_space

    space = get_space("nb201")
    cells = space.all_cells()
    f, _ = space.network_cost(cells, "cifar10")
    return space, Benchmark("nb201", np.arange(len(f)), {"cifar10_flops": f.astype(float)}, cells, "all cells")


def _stats(space, bench, seed=0, batches=1, k=128, top="small"):
    from nar_core.tiers import TierStatistics

    st = TierStatistics(5, 5, 5)
    rng = np.random.default_rng(seed)
    for _ in range(batches):
        rows = rng.choice(len(bench), k, replace=False)
        cells = {"ops": bench.cell_arrays["ops"][rows]}
        f, p = space.network_cost(cells, "cifar10")
        order = np.argsort(f if top == "small" else -f)
        tiers = np.empty(k, int)
        tiers[order] = np.arange(k) * 5 // k
        st.update(f, p, space.op_counts(cells), tiers)
    return st


def test_a_constraint_serves_r_accepted_cells():
    from nar_core.sampler import CandidateSampler

    space, bench = _all_cells_bench()
    st = _stats(space, bench)
    f_all = bench.column("cifar10_flops")
    for counts, draws in (("accepted", 3), ("tries", None)):
        # the top tier holds the smallest cells: bounds from its interval are tight
        s = CandidateSampler(space, "cifar10", bench, st, np.random.default_rng(3), constraints="flops",
                             random_proportion=0.5, constraint_reuse=25, constraint_reuse_counts=counts,
                             interval_scope="top_tier")
        tau = []
        real = s.draw_constraint

        def spy(batch=None):
            c = real(batch)
            tau.append(c["flops"][1])
            return c

        s.draw_constraint = spy
        batch = s.sample(128)  # 64 constrained cells: constraints at 0, 25 and 50 accepted cells
        assert batch.n_constrained + batch.fallback == 64
        if draws is not None:
            assert len(tau) == draws == s.constraint_draws and batch.fallback == 0
            con = f_all[batch.rows[:64]]
            for i, t in enumerate(tau):  # each constraint's 25 (last: 14) cells satisfy it
                assert (con[25 * i: 25 * (i + 1)] <= t).all()
        else:
            assert len(tau) == batch.tries // 25  # a constraint per 25 candidates built, accepted or not


def test_statistics_reuse_step_at_the_papers_budget():
    """1,000 training cells in batches of 128 with the authors' drop_last: 7 batches an epoch, each
    serving ceil(50 / 7) = 8 search iterations (the authors' distri_reuse_step)."""
    from nar_core.sampler import CandidateSampler

    space, bench = _all_cells_bench()
    cfg = ExperimentConfig.for_space("nb201")
    g = torch.Generator().manual_seed(0)
    n = cfg.train_size
    data = TrainData(torch.randn(n, 31, 4, 4, generator=g), np.random.default_rng(0).normal(90, 2, n),
                     flops=np.arange(n, dtype=float), params=np.arange(n, dtype=float), ops=np.ones((n, 5), int))
    model = NARanker((31, 4, 4), d_model=8, n_heads=2, d_ff=8, encoder_layers=1, decoder_layers=1)
    settings = TrainSettings(epochs=1, batch_size=cfg.batch_size, tail_batch=cfg.tail_batch)
    st = train_ranker(model, data, None, settings, seed=0).stats
    assert len(st) == 7 and set(st.batch_sizes) == {128}
    s = CandidateSampler(space, "cifar10", bench, st, np.random.default_rng(0), iterations=cfg.search_iterations)
    used = [s._iteration_batch() for _ in range(1) for s._iteration in range(50)]
    assert [used.count(b) for b in dict.fromkeys(used)] == [8] * 6 + [2]
    st = train_ranker(model, data, None, TrainSettings(epochs=1, batch_size=128, tail_batch="train"), seed=0).stats
    assert len(st) == 8 and st.batch_sizes[-1] == 1000 - 7 * 128  # before issue 17: 8 batches, step 7


# --- the KL threshold acts where the KL-threshold sweep runs ------------------------------------
def test_kl_threshold_changes_the_sampled_cells_under_the_sweeps_settings():
    from nar_core.ablations.registry import get_ablation
    from nar_core.sampler import CandidateSampler

    space, bench = _all_cells_bench()
    st = _stats(space, bench, batches=4)
    spec = get_ablation("kl_thresholds").sweep
    cfgs = [spec.trial_config(row) for row in (spec.grid[0], spec.grid[-1])]  # zeta 0.5 and 5

    def rows(cfg):
        s = CandidateSampler(space, "cifar10", bench, st, np.random.default_rng(7), sampling_mode=cfg.sampling_mode,
                             kl_thresholds=(cfg.kl_threshold_flops, cfg.kl_threshold_params),
                             interval_scope=cfg.interval_scope, op_sampling=cfg.op_sampling, iterations=4)
        return np.concatenate([s.sample(128).rows for _ in range(4)]), s.branch_counts

    (a, ca), (b, cb) = rows(cfgs[0]), rows(cfgs[1])
    assert cfgs[0].sampling_mode == "statistics" and not np.array_equal(a, b)
    assert ca["flops"]["distribution"] > cb["flops"]["distribution"]
    # under the default interval sampling of NB201 the threshold decides nothing: identical rows
    (c, _), (d, _) = (rows(cfg.replace(sampling_mode="interval")) for cfg in cfgs)
    assert np.array_equal(c, d)


# --- the authors' NB101 generator: node count over the statistics batch's range ------------------
def test_nb101_generator_draws_the_node_count_over_the_batch_range():
    from nar_core.spaces import get_space

    space = get_space("nb101")
    rng = np.random.default_rng(0)
    cells = space.sample_with_op_probs(rng, 2000, node_range=(4, 6))
    sizes = space.cell_sizes(cells)
    assert cells["valid"].all() and (cells["adjacency"].sum(axis=(1, 2)) <= 9).all()
    assert sizes.max() <= 6 and set(np.unique(sizes)) >= {4, 5, 6}  # pruning can only remove vertices
    full = space.sample_with_op_probs(np.random.default_rng(0), 500)
    assert (space.cell_sizes(full) == 7).any()  # before issue 17: always built with 7 vertices (then pruned)


def test_node_range_reaches_the_generator_from_the_statistics():
    from nar_core.benchmarks.base import Benchmark
    from nar_core.sampler import CandidateSampler
    from nar_core.spaces import get_space
    from nar_core.tiers import TierStatistics

    space = get_space("nb101")
    pool = space.sample_with_op_probs(np.random.default_rng(1), 3000)
    keys = space.keys(pool)
    _, first = np.unique(keys, return_index=True)
    pool = {k: v[np.sort(first)] for k, v in pool.items() if k != "valid"}
    n = len(pool["ops"])
    f, p = space.network_cost(pool)
    bench = Benchmark("nb101", space.keys(pool), {"cifar10_test": np.full(n, 90.0)}, pool, "generated")
    st = TierStatistics(5, 8, 3)
    st.update(f[:256], p[:256], space.op_counts({k: v[:256] for k, v in pool.items()}), np.arange(256) % 5,
              sizes=np.full(256, 5))
    assert st.size_range(0) == (5, 5)
    seen = []
    real = space.sample_with_op_probs

    class Spy(type(space)):
        def sample_with_op_probs(self, rng, n, op_probs=None, node_range=None):
            seen.append(node_range)
            return real(rng, n, op_probs, node_range=node_range)

    s = CandidateSampler(Spy(), "cifar10", bench, st, np.random.default_rng(0), sampling_mode="statistics",
                         restrict_to_benchmark=False, constraint_reuse=5)
    s.sample(20)
    assert seen and set(seen) == {(5, 5)}
