"""Many runs in one process: a packed group of seeds trains as one model with a run axis and gives,
bit for bit on the CPU in fp32, the rows of the same seeds run one by one (issue 18)."""
from __future__ import annotations

import math

import pytest
import torch

from nar_core.cli_common import QUICK_SETTINGS
from nar_core.config import ExperimentConfig
from nar_core.errors import ConfigError
from nar_core.ranker.losses import pairwise_ranking_loss, tier_labels, tier_loss
from nar_core.ranker.model import NARanker

#: what may differ between a packed run's row and the run alone: wall times, memory, the pack size
NOT_COMPARED = ("train_seconds", "search_seconds", "total_seconds", "peak_memory_mb", "pack",
                "extra_encode_seconds", "extra_stats_seconds", "extra_eval_seconds")


@pytest.fixture(scope="module")
def bench():
    from nar_core.benchmarks import load_benchmark

    return load_benchmark("nb201")  # $NAR_DATA, ../shared/data, else the table shipped with the package


@pytest.fixture(autouse=True)
def one_thread():
    """Bit-identity is promised at one torch thread (how the sweeps and batch scripts run): with
    several, a reduction may be split by the size of the whole pack."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


@pytest.mark.parametrize("mode", ["query", "mean", None])
def test_a_packed_model_computes_each_run_as_the_run_alone(mode):
    """Forward in training mode (dropout from each run's generator), the losses, every gradient and
    the NAR running means: run r of a pack of 3 equals the one-run model with r's seed."""
    kw = dict(d_model=16, n_heads=2, d_ff=32, encoder_layers=2, decoder_layers=2, dropout=0.1, tier_mode=mode,
              score_head_width=64, tier_head_width=32)
    seeds = [11, 12, 13]
    packed = NARanker((31, 4, 4), runs=3, **kw)
    packed.init_weights(seeds)
    packed.set_noise([torch.Generator().manual_seed(s) for s in seeds])
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(3, 20, 31, 4, 4, generator=g), torch.rand(3, 20, generator=g)
    labels = torch.stack([tier_labels(y[r], 5) for r in range(3)])

    def loss_of(score, logits, r):
        loss = pairwise_ranking_loss(score, y[r])
        return loss + tier_loss(logits, labels[r]) if mode is not None else loss

    out = packed(x)
    torch.stack([loss_of(out.score[r], None if mode is None else out.tier_logits[r], r) for r in range(3)]).sum().backward()
    packed.update_tier_embeddings(out.feature, labels)
    for r, seed in enumerate(seeds):
        alone = NARanker((31, 4, 4), **kw)
        alone.init_weights([seed])
        alone.set_noise([torch.Generator().manual_seed(seed)])
        o = alone(x[r])
        assert torch.equal(o.score, out.score[r])
        assert mode is None or torch.equal(o.tier_logits, out.tier_logits[r])
        loss_of(o.score, o.tier_logits, r).backward()
        alone.update_tier_embeddings(o.feature, labels[r])
        for (name, p), q in zip(alone.named_parameters(), packed.parameters()):
            assert torch.equal(p.grad[0], q.grad[r]), name
        for (name, b), c in zip(alone.named_buffers(), packed.buffers()):
            if b.dim() > 0 and b.shape[0] == 1 and c.shape[0] == 3:
                assert torch.equal(b[0], c[r]), name
        # and run r taken out of the pack is the one-run model
        one = packed.run(r)
        for (name, p), q in zip(alone.state_dict().items(), one.state_dict().values()):
            assert torch.equal(p, q), name


@pytest.mark.parametrize("method", ["narq2t", "nar"])
def test_packed_seeds_give_the_rows_of_the_seeds_run_one_by_one(bench, method):
    from nar_core.experiment import run_experiment, run_experiments

    base = ExperimentConfig.for_space("nb201", method=method, **{**QUICK_SETTINGS, "num_threads": 1})
    configs = [base.replace(seed=s) for s in (0, 1, 2)]
    packed = list(run_experiments(configs, bench, pack=3))
    assert [r.pack for r in packed] == [3, 3, 3] and [r.seed for r in packed] == [0, 1, 2]
    for cfg, p in zip(configs, packed):
        alone = run_experiment(cfg, bench).to_dict()
        got = p.to_dict()
        assert alone["pack"] == 1
        differ = [k for k in alone if k not in NOT_COMPARED and not _same(alone[k], got[k])]
        assert not differ, {k: (alone[k], got[k]) for k in differ}


def test_pack_groups_only_join_configs_that_differ_in_their_seed():
    from nar_core.experiment import pack_groups

    q = ExperimentConfig.for_space("nb201", method="narq2t")
    seeds = [q.replace(seed=s) for s in range(5)]
    assert [len(g) for g in pack_groups(seeds, 2)] == [2, 2, 1]
    assert [len(g) for g in pack_groups(seeds, 8)] == [5]
    other = q.replace(seed=9, top_k=3)
    assert [len(g) for g in pack_groups(seeds[:2] + [other] + seeds[2:], 8)] == [2, 1, 3]
    conv = [ExperimentConfig.for_space("nb201", method="convnet", seed=s) for s in range(3)]
    rand = [ExperimentConfig.for_space("nb201", method="random_search", seed=s) for s in range(3)]
    assert [len(g) for g in pack_groups(conv + rand, 4)] == [1] * 6


def test_pack_must_be_positive(bench):
    from nar_core.experiment import run_experiments

    with pytest.raises(ConfigError, match="pack"):
        next(run_experiments([ExperimentConfig.for_space("nb201")], bench, pack=0))


def test_a_sweep_trial_packs_its_seeds_and_still_reports_each(bench):
    """The trainable trains the seeds it still has to run together and reports one per step, in
    order; a seed the driver already holds is reported, not run; each row is the seed alone."""
    ray = pytest.importorskip("ray")
    from ray import tune

    from nar_core.experiment import run_experiment
    from nar_core.sweep import SweepSpec
    from nar_core.sweep.ledger import SeedBook
    from nar_core.sweep.trainable import ExperimentTrainable

    spec = SweepSpec(name="p", space="nb201", dataset="cifar10", method="narq2t", grid=[{"top_k": 5}],
                     seeds=(0, 1, 2)).resolved(quick=True)
    ray.init(address="local", num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        book = SeedBook.remote({"grid-0000": {1: {"val_acc": 1.0, "test_acc": 2.0, "seed": 1}}})
        sweep = {"spec": spec.to_dict(), "seeds": [0, 1, 2], "extra": {"num_threads": 1}, "book": book, "pack": 3}
        trial = tune.with_parameters(ExperimentTrainable, benchmark=bench, sweep=sweep)(
            config={"trial": {"key": "grid-0000", "params": {"top_k": 5}}})
        reports = [trial.train() for _ in range(3)]
        trial.stop()
    finally:
        ray.shutdown()
    assert [r["seed"] for r in reports] == [0, 1, 2] and reports[-1]["done"]
    assert reports[1]["seed_record"]["adopted"] and reports[0]["seed_record"]["pack"] == 2
    for r in (reports[0], reports[2]):
        cfg = spec.trial_config({"top_k": 5}, seed=r["seed"], extra={"num_threads": 1})
        alone = run_experiment(cfg, bench)
        rec = r["seed_record"]
        assert (rec["val_acc"], rec["test_acc"], rec["kendall_tau"], rec["found_key"]) == (
            alone.val_acc, alone.test_acc, alone.kendall_tau, alone.found_key)


def test_a_packed_training_updates_each_run_as_the_run_alone():
    """Many optimiser steps (a short run would hide a last-bit difference that grows): every weight
    of each run after 60 steps of a pack of 3 equals the run trained alone. Catches an optimiser
    whose vectorised part and tail round differently (the fused CPU AdamW: a 5-value tier bias
    sits in the tail alone and in the vectorised part in a pack)."""
    from nar_core.ranker.train import TrainData, TrainSettings, train_rankers

    kw = dict(d_model=16, n_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1, dropout=0.1,
              score_head_width=32, tier_head_width=16)
    g = torch.Generator().manual_seed(1)
    datas = [TrainData(torch.rand(60, 31, 4, 4, generator=g), torch.rand(60, generator=g).numpy() * 100)
             for _ in range(3)]
    settings = TrainSettings(epochs=20, batch_size=20, tier_labels="global", select_best_epoch=False)
    seeds = [5, 6, 7]
    packed = NARanker((31, 4, 4), runs=3, **kw)
    packed.init_weights(seeds)
    runs = train_rankers(packed, datas, None, settings, seeds=seeds, collect_stats=False)
    for r, seed in enumerate(seeds):
        alone = NARanker((31, 4, 4), **kw)
        alone.init_weights([seed])
        train_rankers(alone, [datas[r]], None, settings, seeds=[seed], collect_stats=False)
        for (name, a), b in zip(alone.state_dict().items(), runs[r].model.state_dict().values()):
            assert torch.equal(a, b), (seed, name)


@pytest.mark.parametrize("bias", [True, False])
def test_run_linear_gradients_are_autograds_own(bias):
    """RunLinear's hand-written backward (the weight's gradient in the weight's layout, issue 18)
    gives the very numbers autograd's bmm gives, on the CPU in fp32; under bf16 autocast each
    gradient comes back in its input's dtype, close to autograd's."""
    from nar_core.ranker.model import RunLinear

    torch.manual_seed(0)
    lin = RunLinear(3, 40, 24, bias=bias)
    for r in range(3):
        lin.reset_run(r, torch.Generator().manual_seed(r))
    x = torch.randn(3, 7, 5, 40, requires_grad=True)
    g = torch.randn(3, 7, 5, 24)

    def reference(x):
        h = x.reshape(3, -1, 40)
        y = torch.bmm(h, lin.weight.transpose(1, 2))
        return (y if lin.bias is None else y + lin.bias.unsqueeze(1)).reshape(3, 7, 5, 24)

    grads = []
    for f in (lin, reference):
        x.grad, lin.weight.grad = None, None
        if lin.bias is not None:
            lin.bias.grad = None
        y = f(x)
        y.backward(g)
        grads.append([y.detach(), x.grad, lin.weight.grad] + ([lin.bias.grad] if bias else []))
    for ours, theirs in zip(*grads):
        assert torch.allclose(ours, theirs, rtol=1e-6, atol=1e-6)
    assert torch.equal(grads[0][2], grads[1][2])  # the weight's gradient: the same products
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = lin(x)
    assert y.dtype == torch.bfloat16
    x.grad, lin.weight.grad = None, None
    y.float().backward(g)
    assert x.grad.dtype == torch.float32 and lin.weight.grad.dtype == torch.float32
    assert torch.allclose(lin.weight.grad, grads[1][2], rtol=0.05, atol=0.5)
