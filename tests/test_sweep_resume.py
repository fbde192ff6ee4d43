"""Never lose a result: interrupt a real sweep driver (SIGINT, then SIGKILL), resume it, and check
that finished trials were not rerun, the Optuna study was continued (its trials left RUNNING by the
killed driver finished under their own numbers), and every trial/seed ran and appears once."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]

SEEDS = [0, 1]
NUM_SAMPLES = 5
# A tiny ranker (quick settings, 1 epoch, 2 search iterations): ~1 s per seed, slow enough to interrupt.
SPEC = {
    "name": "resume", "space": "nb201", "dataset": "cifar10", "method": "narq2t",
    "fixed": {"epochs": 1, "search_iterations": 2},
    "search_space": {"random_proportion": {"kind": "float", "low": 0.0, "high": 1.0}},
    "seeds": SEEDS, "metric": "mean_val_acc", "mode": "max", "num_samples": NUM_SAMPLES,
}


def _driver(spec_path: Path, storage: Path, *extra: str) -> subprocess.Popen:
    cmd = [sys.executable, "sweeps/random_proportion.py", "--spec", str(spec_path), "--mode", "optuna", "--local",
           "--num-cpus", "1", "--max-concurrent", "1", "--quick", "--storage", str(storage),
           "--name", "resume", "-q", *extra]
    # Own process group: the local Ray processes this driver starts can be cleaned up with it.
    return subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)


def _events(exp: Path) -> pd.DataFrame:
    """Seed results in the order the drivers received them (a line torn by SIGKILL is skipped)."""
    rows = []
    path = exp / "records.jsonl"
    for line in path.read_text().splitlines() if path.exists() else []:
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if entry.get("kind") == "seed":
            rows.append({k: entry[k] for k in ("trial_id", "seed", "driver_pid")})
    return pd.DataFrame(rows, columns=["trial_id", "seed", "driver_pid"])


def _wait_events(proc: subprocess.Popen, exp: Path, n: int, timeout: float = 150) -> None:
    t0 = time.time()
    while len(_events(exp)) < n:
        if proc.poll() is not None:
            pytest.fail(f"driver ended early (rc {proc.returncode}):\n{proc.stdout.read()[-3000:]}")
        if time.time() - t0 > timeout:
            proc.kill()
            pytest.fail("timed out waiting for seed results")
        time.sleep(0.2)


def _cleanup_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _finished_trials(exp: Path) -> set[str]:
    ev = _events(exp)
    counts = ev.groupby("trial_id").seed.nunique()
    return set(counts[counts == len(SEEDS)].index)


def test_sigint_then_sigkill_then_resume(tmp_path):
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(json.dumps(SPEC))  # JSON is YAML
    storage = tmp_path / "runs"
    exp = storage / "resume"

    # 1) SIGINT after the first trial finished: Tune stops cleanly, the partial table is written.
    p = _driver(spec_path, storage)
    try:
        _wait_events(p, exp, len(SEEDS) + 1)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=120)
    finally:
        _cleanup_group(p)
    assert p.returncode == 130, out[-3000:]
    assert "--resume" in out
    partial = pd.read_csv(exp / "results.csv")
    assert (partial.status == "ok").sum() >= len(SEEDS)
    done_1 = _finished_trials(exp)
    assert done_1

    # 2) Resume, then SIGKILL the driver mid-sweep (no chance to save anything on the way out).
    n_before = len(_events(exp))
    p = _driver(spec_path, storage, "--resume")
    try:
        _wait_events(p, exp, n_before + len(SEEDS) + 1)
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        _cleanup_group(p)
    ev2 = _events(exp)
    done_2 = _finished_trials(exp)
    assert done_2 > done_1

    # 3) Resume to the end.
    n_before = len(ev2)
    p = _driver(spec_path, storage, "--resume")
    try:
        out, _ = p.communicate(timeout=300)
    finally:
        _cleanup_group(p)
    assert p.returncode == 0, out[-3000:]

    ev = _events(exp)
    # No finished trial was rerun: every seed received after a resume belongs to a trial unfinished before it.
    first_pid = ev.driver_pid.iloc[0]
    assert not set(ev[ev.driver_pid != first_pid].trial_id) & done_1
    assert not set(ev.iloc[n_before:].trial_id) & done_2
    # Executions: exactly one per trial and seed (a seed cut off by an interruption never reached the driver).
    assert len(ev) == NUM_SAMPLES * len(SEEDS) and not ev.duplicated(["trial_id", "seed"]).any()

    table = pd.read_csv(exp / "results.csv")
    assert len(table) == NUM_SAMPLES * len(SEEDS)
    assert not table.duplicated(["trial_id", "seed"]).any()
    assert (table.status == "ok").all() and table.trial_id.nunique() == NUM_SAMPLES
    assert table.random_proportion.between(0, 1).all()
    # The Optuna study was continued, not replaced: exactly NUM_SAMPLES trials, all completed, each
    # holding its trial's mean over seeds.
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    study = optuna.load_study(study_name="resume", storage=JournalStorage(JournalFileBackend(str(exp / "optuna.journal"))))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * NUM_SAMPLES
    means = table.groupby("trial_id").val_acc.mean()
    assert all(t.value == pytest.approx(means[f"optuna-{t.number:04d}"]) for t in study.trials)
    assert f"optuna study: {NUM_SAMPLES} completed trials" in out
