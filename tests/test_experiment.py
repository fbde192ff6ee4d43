"""End-to-end runs on NAS-Bench-201 (the shared data when present, else the table shipped with the package)."""
import json
import math
import os

import numpy as np
import pandas as pd
import pytest

from nar_core.config import ExperimentConfig
from nar_core.errors import ConfigError, NarError

TINY = dict(train_size=256, val_size=64, d_model=32, n_heads=2, d_ff=64, encoder_layers=1, decoder_layers=1,
            epochs=3, batch_size=64, sample_size=64, search_iterations=4, query_metric="val", num_threads=1)


def _no_latency_row() -> dict:
    from nar_core.experiment import ExperimentResult

    res = ExperimentResult(space="nb201", dataset="cifar10", method="narq2t", seed=0, found_key=1, found_arch="a",
                           val_acc=90.0, test_acc=93.0, rank_val=1, rank_test=1, percentile_test=0.0,
                           regret_val=0.0, regret_test=0.0, best_so_far_val=[90.0], queries_train=1,
                           queries_search=1, queries_total=2)
    return {**ExperimentConfig.for_space("nb201").to_dict(), **res.to_dict()}


NO_LATENCY_ROW = _no_latency_row()


@pytest.fixture(scope="module")
def bench():
    from nar_core.benchmarks import load_benchmark

    return load_benchmark("nb201")


def test_narq2t_end_to_end_beats_median_and_is_deterministic(bench):
    from nar_core.experiment import run_experiment

    cfg = ExperimentConfig.for_space("nb201", method="narq2t", seed=3, **TINY)
    r1 = run_experiment(cfg, bench)
    r2 = run_experiment(cfg, bench)
    d1, d2 = r1.to_dict(), r2.to_dict()
    for k in ("found_key", "val_acc", "test_acc", "best_so_far_val", "kendall_tau", "tier_accuracy", "queries_total"):
        assert d1[k] == d2[k], k
    val = bench.column("cifar10_val")
    assert r1.val_acc > np.median(val) and r1.val_acc == pytest.approx(val[r1.found_key])
    assert r1.rank_val == int(np.sum(val > r1.val_acc)) + 1
    assert r1.queries_train == 320 and 0 < r1.queries_search <= 4 * 5
    assert r1.queries_total == r1.queries_train + r1.queries_search
    assert len(r1.best_so_far_val) == 4 and r1.best_so_far_val[-1] == pytest.approx(r1.val_acc)
    assert -1 <= r1.kendall_tau <= 1 and r1.heldout_size == 5000 and 0 <= r1.tier_accuracy <= 1
    assert math.isnan(r1.latency_rmse)
    # the returned cell was either labelled for training (queried in the "train" phase) or found by the search
    split = np.random.default_rng(np.random.SeedSequence(3).spawn(5)[0]).choice(len(bench), 320, replace=False)
    assert r1.found_phase == ("train" if bench.row_of_key(r1.found_key) in set(split.tolist()) else "search")
    assert all(isinstance(v, (int, float, str)) for v in d1.values())


def test_nar_with_latency_head(bench):
    from nar_core.experiment import run_experiment

    cfg = ExperimentConfig.for_space("nb201", method="nar", latency_loss_factor=7.0, **{**TINY, "epochs": 2})
    r = run_experiment(cfg, bench)
    assert r.latency_rmse > 0 and 0 <= r.latency_within_10 <= 100
    # the five (predicted, measured) pairs behind the figures, measured = the benchmark's latency
    pred, true = np.array(r.latency_predicted), np.array(r.latency_measured)
    assert len(pred) == len(true) == 5 and np.all(true > 0)
    assert r.latency_rmse == pytest.approx(float(np.sqrt(np.mean((pred - true) ** 2))))
    assert r.latency_within_10 == pytest.approx(100 * np.mean(np.abs(pred - true) / true <= 0.10))
    assert set(np.round(true, 6)) <= set(np.round(bench.column("latency_ms"), 6))
    row = r.to_dict()
    assert json.loads(row["latency_predicted"]) == pytest.approx(list(pred), abs=1e-6)
    assert json.loads(NO_LATENCY_ROW["latency_predicted"]) == []


def test_latency_figure_from_result_rows(bench, tmp_path):
    """The report's predicted-vs-measured figure reads the JSON pairs of result rows, as written to CSV."""
    from nar_core.ablations.aggregation import load_results
    from nar_core.ablations.figures import plot_latency

    rows = [dict(NO_LATENCY_ROW, seed=s, method="narq2t", latency_loss_factor=7.0,
                 latency_predicted=json.dumps([1.0 + s, 2.0, 3.0]), latency_measured=json.dumps([1.1, 2.2, 2.9]))
            for s in range(2)]
    rows.append(dict(NO_LATENCY_ROW, seed=0))  # no latency head: not plotted
    pd.DataFrame(rows).to_csv(tmp_path / "results.csv", index=False)
    df = load_results([tmp_path / "results.csv"])
    png = plot_latency(df, tmp_path / "lat.png")
    assert png.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(NarError, match="latency pairs"):
        plot_latency(df[df["latency_loss_factor"] == 0], tmp_path / "none.png")
    bad = pd.DataFrame([dict(rows[0], latency_measured=json.dumps([1.0]))])
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(NarError, match="differ in length"):
        plot_latency(load_results([tmp_path / "bad.csv"]), tmp_path / "bad.png")


def test_baselines_same_budget(bench):
    from nar_core.experiment import run_experiment

    r = run_experiment(ExperimentConfig.for_space("nb201", method="random_search", seed=1, **TINY), bench)
    assert r.queries_total == 320 + 4 * 5 and math.isnan(r.kendall_tau)
    assert r.found_phase in ("train", "search")
    e = run_experiment(ExperimentConfig.for_space("nb201", method="evolution", seed=1, **TINY), bench)
    assert 0 < e.queries_total <= 340 and e.val_acc > np.median(bench.column("cifar10_val"))


def test_too_many_training_cells_is_a_config_error(bench):
    from nar_core.experiment import run_experiment

    with pytest.raises(ConfigError, match="train_size"):
        run_experiment(ExperimentConfig.for_space("nb201", train_size=15000, val_size=1000), bench)


def test_cli_run_writes_and_resumes(tmp_path, capsys):
    from nar_core.cli import main

    args = ["run", "--method", "random_search", "--seeds", "0-1", "--out", str(tmp_path)]
    assert main(args) == 0
    first = pd.read_csv(tmp_path / "results.csv")
    assert sorted(first.seed) == [0, 1] and (tmp_path / "results.parquet").exists()
    assert "CIFAR-10" in capsys.readouterr().out
    assert main(args[:4] + ["0-2"] + args[5:]) == 0
    again = pd.read_csv(tmp_path / "results.csv")
    assert sorted(again.seed) == [0, 1, 2]
    pd.testing.assert_frame_equal(again[again.seed < 2].reset_index(drop=True), first)
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert summary.runs[0] == 3
    assert main(["run", "--set", "epochs=-1", "--out", str(tmp_path / "x")]) == 2


def test_both_selection_protocols_from_one_run(bench):
    from nar_core.experiment import run_experiment

    by_test = run_experiment(ExperimentConfig.for_space("nb201", method="random_search", seed=4,
                                                        **{**TINY, "query_metric": "test"}), bench)
    by_val = run_experiment(ExperimentConfig.for_space("nb201", method="random_search", seed=4, **TINY), bench)
    # same seed, same queried cells: the val-pick of the test-protocol run is the val-protocol run's cell
    assert (by_test.val_acc_valpick, by_test.test_acc_valpick) == (by_val.val_acc, by_val.test_acc)
    assert by_test.test_acc >= by_val.test_acc and by_test.val_acc_valpick >= by_test.val_acc
    assert (by_val.val_acc_valpick, by_val.test_acc_valpick) == (by_val.val_acc, by_val.test_acc)


def test_deterministic_cuda_settings(monkeypatch):
    """What --device cuda turns on before the model reaches the GPU (CI has no GPU: the settings, not a run)."""
    import torch

    from nar_core.experiment import deterministic_cuda, resolve_device

    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", "unset")  # restored (or removed) after the test
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG")
    was = (torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled(),
           torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic)
    try:
        deterministic_cuda()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert torch.are_deterministic_algorithms_enabled() and torch.backends.cudnn.deterministic
        assert not torch.backends.cudnn.benchmark
        monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
        deterministic_cuda()
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":16:8"  # the user's own setting is kept
        called = []
        monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
        monkeypatch.setattr("nar_core.experiment.deterministic_cuda", lambda: called.append(1))
        for name in ("cuda", "auto", "cpu"):
            resolve_device(name)
        assert called == [1, 1]  # --device auto on a GPU machine is deterministic too
    finally:
        torch.use_deterministic_algorithms(was[0], warn_only=was[1])
        torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = was[2], was[3]
