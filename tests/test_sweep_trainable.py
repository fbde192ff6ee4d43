"""The Ray Tune trainable and the in-process harness: per-seed reports, the driver's ledger, seeds
learned from the SeedBook on restart, actor reuse isolation, failure retry, Optuna mode with its
journal, GPU requests that never fall back to CPU, failed starts. One Ray instance per module."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nar_core.errors import ConfigError, DataError, NarError

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def bench():
    from nar_core.benchmarks import load_benchmark

    return load_benchmark("nb201")


@pytest.fixture(scope="module")
def ray_session():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield
    ray.shutdown()


def _spec(**kw):
    from nar_core.sweep import Param, SweepSpec

    d = dict(name="t", space="nb201", dataset="cifar10", method="random_search",
             grid=[{"top_k": 1}, {"top_k": 5}], search_space={"top_k": Param.int(1, 8)}, seeds=(0, 1, 2))
    d.update(kw)
    return SweepSpec(**d)


def test_grid_sweep_reports_every_seed(ray_session, bench, tmp_path):
    from nar_core.experiment import run_experiment
    from nar_core.sweep import Ledger, SweepOptions, run_sweep

    spec = _spec()
    out = run_sweep(spec, SweepOptions(storage=str(tmp_path), quick=True, max_concurrent=2), benchmark=bench)
    df = out.table
    assert out.complete and out.failed == 0 and len(df) == 6 and (df.status == "ok").all()
    assert sorted(df.trial_id.unique()) == ["grid-0000", "grid-0001"]
    assert sorted(df.top_k.unique()) == [1, 5]
    assert all(sorted(g.seed) == [0, 1, 2] for _, g in df.groupby("trial_id"))
    # Each row is the experiment itself: same config + seed -> the same numbers as a direct call.
    row = df[(df.top_k == 5) & (df.seed == 2)].iloc[0]
    cfg = spec.resolved(quick=True).trial_config({"top_k": 5}, seed=2, extra={"num_threads": 1})
    direct = run_experiment(cfg, bench)
    assert (row.val_acc, row.test_acc, row.found_key) == (direct.val_acc, direct.test_acc, direct.found_key)
    assert row.queries_total == direct.queries_total and row.hostname and row.pid > 0 and row.node_id
    # One source of truth: the driver's ledger holds each seed once, as it arrived.
    ledger = Ledger(out.local_dir / "records.jsonl")
    assert ledger.executions == 6 and {k: sorted(v) for k, v in ledger.seeds.items()} == \
        {"grid-0000": [0, 1, 2], "grid-0001": [0, 1, 2]}
    assert {k: e["status"] for k, e in ledger.ends.items()} == {"grid-0000": "ok", "grid-0001": "ok"}
    # Per-seed reports: running aggregates (sample std, ddof=1) after each seed, and the seed's record.
    for tid, grp in df.groupby("trial_id"):
        tune_id = grp.tune_trial_id.iloc[0]
        trial_dir = next((out.local_dir / "tune").glob(f"*{tune_id}*"))
        reports = [json.loads(l) for l in (trial_dir / "result.json").read_text().splitlines()]
        assert [r["seeds_done"] for r in reports] == [1, 2, 3]
        vals = grp.sort_values("seed").val_acc.to_numpy()
        for k, r in enumerate(reports, start=1):
            assert r["seed_record"]["seed"] == k - 1
            assert r["mean_val_acc"] == pytest.approx(vals[:k].mean())
            assert r["best_val_acc"] == pytest.approx(vals[:k].max())
            if k > 1:
                assert r["std_val_acc"] == pytest.approx(vals[:k].std(ddof=1))
            assert r["mean_total_seconds"] > 0
    # The tidy table on disk (CSV + Parquet) has every row, every config column and metric.
    csv, pq = pd.read_csv(out.results_csv), pd.read_parquet(out.results_parquet)
    assert len(csv) == len(pq) == 6
    for col in ("trial_id", "status", "error", "seed", "top_k", "num_tiers", "random_proportion", "val_acc",
                "test_acc", "total_seconds", "queries_total", "node_ip"):
        assert col in csv.columns and col in pq.columns
    curve = pq.best_so_far_val.iloc[0]  # a JSON list (ExperimentResult.to_dict's convention)
    curve = json.loads(curve) if isinstance(curve, str) else list(curve)
    assert len(curve) == 5 and curve == sorted(curve)  # best-so-far per search iteration (quick: 5)
    # A second driver on the finished sweep with --resume runs nothing and writes the same table.
    again = run_sweep(spec, SweepOptions(storage=str(tmp_path), quick=True, resume=True), benchmark=bench)
    assert Ledger(out.local_dir / "records.jsonl").executions == 6
    pd.testing.assert_frame_equal(again.table, df)
    # ... and a resume on other data (one accuracy edited) is refused before any trial runs.
    other = dataclasses.replace(bench, columns={**bench.columns, "cifar10_val": bench.columns["cifar10_val"] + 0.01})
    assert other.fingerprint() != bench.fingerprint()
    with pytest.raises(ConfigError, match="--resume on other data"):
        run_sweep(spec, SweepOptions(storage=str(tmp_path), quick=True, resume=True), benchmark=other)
    assert Ledger(out.local_dir / "records.jsonl").executions == 6


def test_trainable_skips_seeds_the_driver_holds_and_reuse_is_isolated(ray_session, bench):
    from ray import tune

    from nar_core.sweep.ledger import SeedBook
    from nar_core.sweep.trainable import ExperimentTrainable

    spec = _spec().resolved(quick=True)
    held = {"val_acc": 12.5, "test_acc": 13.5, "seed": 0, "trial_id": "grid-0001"}
    book = SeedBook.remote({"grid-0001": {0: held}})
    sweep = {"spec": spec.to_dict(), "seeds": [0, 1, 2], "extra": {"num_threads": 1}, "book": book}
    cls = tune.with_parameters(ExperimentTrainable, benchmark=bench, sweep=sweep)
    # A restarted trial: seed 0 is already in the driver's ledger, so it is reported, not run.
    a = cls(config={"trial": {"key": "grid-0001", "params": {"top_k": 5}}})
    r0 = a.train()
    assert r0["seed"] == 0 and r0["seed_record"]["adopted"] and r0["seed_record"]["val_acc"] == 12.5
    r1 = a.train()
    assert r1["seed"] == 1 and not r1["seed_record"]["adopted"] and r1["seeds_done"] == 2
    ray.get(book.add.remote("grid-0001", 2, {"val_acc": 50.0, "test_acc": 51.0, "seed": 2}))
    # Seeds recorded after the trial started are its own business: it learned the book at start.
    r2 = a.train()
    assert r2["done"] and not r2["seed_record"]["adopted"]
    assert r2["mean_val_acc"] == pytest.approx(np.mean([12.5, r1["seed_record"]["val_acc"], r2["seed_record"]["val_acc"]]))
    # Actor reuse: the next trial in the same actor starts clean and asks the book again.
    assert a.reset_config({"trial": {"key": "grid-0000", "params": {"top_k": 1}}})
    r = a.train()
    assert r["seeds_done"] == 1 and r["seed"] == 0 and r["seed_record"]["top_k"] == 1 and not r["seed_record"]["adopted"]
    a.stop()


def test_failing_trial_is_retried_then_recorded_and_the_script_exits_3(ray_session, tmp_path, capsys):
    from nar_core.sweep import sweep_main

    # Valid as a config, impossible on this benchmark: the experiment raises at run time.
    spec = tmp_path / "spec.yaml"
    spec.write_text(json.dumps({"name": "fails", "space": "nb201", "method": "random_search", "seeds": [0, 1],
                                "grid": [{"top_k": 1}, {"method": "narq2t", "train_size": 20000}]}))
    rc = sweep_main({}, ["--spec", str(spec), "--quick", "--max-failures", "1", "--storage", str(tmp_path)], prog="sweep")
    assert rc == 3  # some trials failed for good; the table is still written
    df = pd.read_csv(tmp_path / "fails" / "results.csv")
    assert len(df) == 4
    ok, failed = df[df.status == "ok"], df[df.status == "failed"]
    assert len(ok) == 2 and (ok.top_k == 1).all()
    assert len(failed) == 2 and (failed.train_size == 20000).all() and sorted(failed.seed) == [0, 1]
    assert failed.error.str.contains("train_size").all()
    assert (failed.attempts == 2).all()  # first run + max_failures=1 retry
    # The console: a header, the retry, one line per trial, the table; none of Ray's own reporting.
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("sweep fails (grid): space nb201 (NAS-Bench-201), dataset cifar10, budget ") \
        and "preset default, 2 trials x 2 seeds, storage " in lines[0], out
    retry = [ln for ln in lines if "attempt 1 failed" in ln]
    assert len(retry) == 1 and "grid-0001  method=narq2t train_size=20000" in retry[0] and "attempt 2 of 2" in retry[0]
    ended = sorted(ln for ln in lines if ln.startswith("["))
    assert len(ended) == 2 and any("grid-0000  top_k=1  test-pick " in ln and "(2 seeds" in ln for ln in ended)
    assert any("grid-0001" in ln and "FAILED: " in ln and "train_size" in ln for ln in ended), ended
    table = lines[lines.index(next(ln for ln in lines if ln.startswith("results per configuration"))) + 1:]
    assert table[0].split() == ["trial", "top_k", "method", "train_size", "seeds", "test_acc", "(test-pick)",
                                "test_acc_valpick", "(val-pick)", "status"], table
    assert table[1].split()[:5] == ["grid-0000", "1", "-", "-", "2/2"] and table[1].split()[-1] == "ok"
    assert table[2].split()[:5] == ["grid-0001", "-", "narq2t", "20000", "0/2"] and "failed 2" in table[2]
    assert "failed trial grid-0001" in out and "Trial status" not in out and "seed_record" not in out
    assert len(lines) < 15, out


def test_optuna_mode_keeps_its_study_in_a_journal(ray_session, bench, tmp_path):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    from nar_core.sweep import SweepOptions, run_sweep

    spec = _spec(seeds=(0, 1))
    opts = dict(storage=str(tmp_path), quick=True, mode="optuna", num_samples=4, optuna_seed=3)
    out = run_sweep(spec, SweepOptions(**opts), benchmark=bench)
    df = out.table
    assert out.complete and len(df) == 8 and (df.status == "ok").all() and (df.device == "cpu").all()
    assert out.optuna_completed == 4 and sorted(df.trial_id.unique()) == [f"optuna-{i:04d}" for i in range(4)]
    assert df.top_k.between(1, 8).all()
    # A user opens the study with Optuna itself; each trial holds the mean over its seeds.
    study = optuna.load_study(study_name="t_optuna",
                              storage=JournalStorage(JournalFileBackend(str(out.local_dir / "optuna.journal"))))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 4
    means = df.groupby("trial_id").val_acc.mean()
    for t in study.trials:
        assert t.value == pytest.approx(means[f"optuna-{t.number:04d}"])
        assert t.params["top_k"] == df[df.trial_id == f"optuna-{t.number:04d}"].top_k.iloc[0]
    # Same Optuna seed, same sampled settings (TPE's first trials are seeded random draws).
    out2 = run_sweep(spec, SweepOptions(**{**opts, "name": "again"}), benchmark=bench)
    assert list(out2.table.drop_duplicates("trial_id").top_k) == list(df.drop_duplicates("trial_id").top_k)


def test_gpu_request_never_runs_on_cpu_and_failed_starts_leave_nothing(ray_session, bench, tmp_path):
    from nar_core.sweep import SweepOptions, run_sweep

    spec = _spec(seeds=(0,))
    with pytest.raises(NarError, match="gpus_per_trial=0.25: this machine has no GPU"):
        run_sweep(spec, SweepOptions(storage=str(tmp_path), quick=True, local=True, gpus_per_trial=0.25), benchmark=bench)
    with pytest.raises(NarError, match="the Ray cluster has no GPU now"):
        run_sweep(spec, SweepOptions(storage=str(tmp_path), quick=True, gpus_per_trial=1, wait_for_gpus=False),
                  benchmark=bench)
    with pytest.raises(DataError):
        run_sweep(spec, SweepOptions(storage=str(tmp_path), quick=True, data=str(tmp_path / "no-data")))
    assert not (tmp_path / "t").exists()  # nothing blocks the corrected command
    out = run_sweep(spec, SweepOptions(storage=str(tmp_path), quick=True), benchmark=bench)
    assert out.complete and len(out.table) == 2
