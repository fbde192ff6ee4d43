"""Distribution for real on one machine, without a shared filesystem: a Ray head and a worker node
started with `ray start`, the worker's raylet in its own mount namespace (`unshare -m`) where the
sweep's storage folder and the head's temp dir are hidden under empty tmpfs mounts. Sweep drivers
connect with --address; every (trial, seed) must arrive exactly once, from both nodes; a worker
node killed with SIGKILL mid-trial costs a retry on the head, not a result; two drivers started
together on one sweep: one runs, the other is refused at once."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
# The test cluster runs without Ray's token authentication (a local test cluster, nothing exposed);
# node death is noticed within ~2 s instead of ~15 s. Data: NAR_DATA, ../shared/data or the embedded table.
ENV = {**os.environ, "RAY_AUTH_MODE": "disabled", "RAY_health_check_period_ms": "500",
       "RAY_health_check_failure_threshold": "4", "RAY_USAGE_STATS_ENABLED": "0"}
SPEC = {"name": "cluster", "space": "nb201", "dataset": "cifar10", "method": "narq2t",
        "fixed": {"epochs": 1, "search_iterations": 2},
        "grid": [{"top_k": k} for k in (1, 2, 3, 4)],
        "search_space": {"top_k": {"kind": "int", "low": 1, "high": 8}}, "seeds": [0, 1]}


def _can_unshare() -> str:
    if not sys.platform.startswith("linux") or not shutil.which("unshare"):
        return "needs Linux with unshare(1)"
    with tempfile.TemporaryDirectory() as d:
        r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", f"mount -t tmpfs tmpfs {d}"],
                           capture_output=True, text=True)
    return "" if r.returncode == 0 else f"unshare -m with a tmpfs mount is not permitted here ({r.stderr.strip()})"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NsCluster:
    """A head node here and a worker node in its own mount namespace; each `ray start --block` in
    its own process group, so the test stops exactly the processes it started."""

    def __init__(self, storage: Path):
        self.storage = storage
        self.head_tmp = Path(tempfile.mkdtemp(prefix="nh", dir="/tmp"))  # short: Ray's socket paths
        self.worker_tmp = Path(tempfile.mkdtemp(prefix="nw", dir="/tmp"))
        self.address = f"127.0.0.1:{_free_port()}"
        port = self.address.split(":")[1]
        self.head = subprocess.Popen(
            [RAY, "start", "--head", f"--port={port}", "--num-cpus=1", f"--temp-dir={self.head_tmp}",
             "--include-dashboard=false", "--block"],
            env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.worker = None
        self.start_worker()

    def start_worker(self) -> None:
        hide = f"mount -t tmpfs tmpfs {self.storage} && mount -t tmpfs tmpfs {self.head_tmp} && " \
               f"mount -t tmpfs tmpfs {self.worker_tmp}"
        cmd = (f"{hide} && exec {RAY} start --address={self.address} --num-cpus=1 "
               f"--resources='{{\"nsworker\": 1}}' --temp-dir={self.worker_tmp} --block")
        self.worker = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", cmd], env=ENV,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        self.worker_node = self._wait_for_worker()

    def _wait_for_worker(self, timeout: float = 90) -> str:
        probe = ("import json, ray; ray.init(address=%r, log_to_driver=False, logging_level='ERROR'); "
                 "print(json.dumps([n['NodeID'] for n in ray.nodes() if n['Alive'] and 'nsworker' in n['Resources']]))"
                 % self.address)
        t0 = time.time()
        while time.time() - t0 < timeout:
            r = subprocess.run([sys.executable, "-c", probe], env=ENV, capture_output=True, text=True, timeout=60)
            ids = json.loads(r.stdout.strip().splitlines()[-1]) if r.returncode == 0 and r.stdout.strip() else []
            if ids:
                return ids[0]
            time.sleep(1)
        raise RuntimeError("the worker node did not join the head")

    def kill_worker(self) -> None:
        os.killpg(self.worker.pid, signal.SIGKILL)  # the raylet and every trial process on that node
        self.worker.wait(timeout=30)

    def shutdown(self) -> None:
        for proc in (self.worker, self.head):
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=20)
        for d in (self.head_tmp, self.worker_tmp):
            shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    reason = _can_unshare()
    if reason:
        pytest.skip(reason)
    c = NsCluster(tmp_path_factory.mktemp("storage"))
    try:
        yield c
    finally:
        c.shutdown()


def _sweep(cluster: NsCluster, spec_path: Path, storage: str, *extra: str, popen: bool = False):
    cmd = [sys.executable, "sweeps/tiers.py", "--spec", str(spec_path), "--address", cluster.address, "--quick",
           "--storage", storage, "-q", *extra]
    if popen:
        return subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=400)


def _spec_file(tmp_path: Path, **changes) -> Path:
    path = tmp_path / "spec.yaml"
    path.write_text(json.dumps({**SPEC, **changes}))  # JSON is YAML
    return path


def _check_exactly_once(exp: Path, n_trials: int, n_seeds: int) -> pd.DataFrame:
    from nar_core.sweep import Ledger

    table = pd.read_csv(exp / "results.csv")
    assert len(table) == n_trials * n_seeds and (table.status == "ok").all(), table[["trial_id", "seed", "status"]]
    assert not table.duplicated(["trial_id", "seed"]).any()
    assert Ledger(exp / "records.jsonl").executions == n_trials * n_seeds  # each seed ran (and arrived) once
    return table


def test_grid_and_optuna_sweeps_on_two_nodes_without_shared_storage(cluster, tmp_path):
    spec = _spec_file(tmp_path)
    # The worker really cannot see the storage: its view of the folder is an empty tmpfs.
    r = subprocess.run(["nsenter", "-t", str(cluster.worker.pid), "-m", "ls", "-A", str(cluster.storage)],
                       capture_output=True, text=True)
    (cluster.storage / "visible-on-head").write_text("x")
    r2 = subprocess.run(["nsenter", "-t", str(cluster.worker.pid), "-m", "ls", "-A", str(cluster.storage)],
                        capture_output=True, text=True)
    assert r.returncode == r2.returncode == 0 and "visible-on-head" not in r2.stdout

    r = _sweep(cluster, spec, str(cluster.storage), "--max-concurrent", "2")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    grid = _check_exactly_once(cluster.storage / "cluster", 4, 2)
    assert grid.node_id.nunique() == 2 and cluster.worker_node in set(grid.node_id)
    assert sorted(grid.top_k.unique()) == [1, 2, 3, 4]

    # Optuna mode, storage given as a file:// URI: same exactly-once rows, the study in the journal.
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    uri_root = cluster.storage / "uri"
    r = _sweep(cluster, spec, uri_root.as_uri(), "--mode", "optuna", "--num-samples", "3", "--max-concurrent", "2")
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    exp = uri_root / "cluster_optuna"
    opt = _check_exactly_once(exp, 3, 2)
    assert opt.node_id.nunique() == 2
    study = optuna.load_study(study_name="cluster_optuna",
                              storage=JournalStorage(JournalFileBackend(str(exp / "optuna.journal"))))
    assert sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.trials) == 3
    assert not (exp / "driver.json").exists()  # the URI's holder note is gone after a normal end


def test_two_drivers_started_together(cluster, tmp_path):
    spec = _spec_file(tmp_path, name="together", grid=[{"top_k": 1}, {"top_k": 2}])
    storage = str(tmp_path / "runs")
    a, b = (_sweep(cluster, spec, storage, popen=True) for _ in range(2))
    try:
        outs = {p: p.communicate(timeout=300) for p in (a, b)}
    finally:
        for p in (a, b):
            if p.poll() is None:
                p.kill()
    codes = sorted(p.returncode for p in (a, b))
    assert codes == [0, 2], {p.returncode: o for p, o in outs.items()}
    loser = a if a.returncode == 2 else b
    winner = b if loser is a else a
    err = outs[loser][1]
    assert "another driver is running this sweep" in err and f"pid {winner.pid}" in err and "host " in err
    _check_exactly_once(tmp_path / "runs" / "together", 2, 2)  # nothing ran twice


def test_worker_killed_mid_trial_lands_once(cluster, tmp_path):
    from nar_core.sweep import Ledger

    # Slower seeds (3 epochs) and 4 of them: the worker's trial is still running when it is killed.
    spec = _spec_file(tmp_path, name="killed", fixed={"epochs": 3, "search_iterations": 2},
                      grid=[{"top_k": 1}, {"top_k": 2}], seeds=[0, 1, 2, 3])
    storage = tmp_path / "runs"
    p = _sweep(cluster, spec, str(storage), "--max-concurrent", "2", popen=True)
    records = storage / "killed" / "records.jsonl"
    try:
        t0 = time.time()
        while True:  # until the worker's first seed result has reached the driver
            if records.exists() and any(s.get("node_id") == cluster.worker_node
                                        for seeds in Ledger(records).seeds.values() for s in seeds.values()):
                break
            assert p.poll() is None and time.time() - t0 < 240, p.communicate()[1][-3000:] if p.poll() is not None else "timeout"
            time.sleep(0.2)
        cluster.kill_worker()
        out, err = p.communicate(timeout=400)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 0, (out + err)[-3000:]
    table = _check_exactly_once(storage / "killed", 2, 4)
    # The trial that was on the worker finished on the head: its early seeds from the worker, the rest
    # from the head; the seeds recorded before the kill were not run again.
    moved = table.groupby("trial_id").node_id.nunique()
    assert (moved == 2).sum() == 1, table[["trial_id", "seed", "node_id"]]
    trial = moved[moved == 2].index[0]
    rows = table[table.trial_id == trial].sort_values("seed")
    on_worker = (rows.node_id == cluster.worker_node).to_numpy()
    assert on_worker[0] and not on_worker[-1] and list(on_worker) == sorted(on_worker, reverse=True)
    assert (rows.attempts >= 1).all()
