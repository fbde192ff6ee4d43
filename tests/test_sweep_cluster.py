"""Distribution for real on one machine: a Ray cluster of a head and a worker node started as
separate processes, a sweep driver connected to it with --address, trials on both nodes."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def two_node_cluster():
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, connect=False,
                      head_node_args={"num_cpus": 1, "resources": {"head_slot": 1}, "include_dashboard": False})
    cluster.add_node(num_cpus=1, resources={"worker_slot": 1})
    cluster.wait_for_nodes()
    try:
        yield cluster
    finally:
        cluster.shutdown()  # stops exactly the processes this fixture started


def test_sweep_runs_on_two_nodes(two_node_cluster, tmp_path):
    spec = {"name": "cluster", "space": "nb201", "dataset": "cifar10", "method": "narq2t",
            "fixed": {"epochs": 1, "search_iterations": 2},
            "grid": [{"top_k": k} for k in (1, 2, 3, 4)], "seeds": [0, 1]}
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(json.dumps(spec))
    r = subprocess.run(
        [sys.executable, "sweeps/tiers.py", "--spec", str(spec_path), "--address", two_node_cluster.address,
         "--quick", "--storage", str(tmp_path), "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    table = pd.read_csv(tmp_path / "cluster" / "results.csv")
    assert len(table) == 8 and (table.status == "ok").all() and not table.duplicated(["trial_id", "seed"]).any()
    assert table.node_id.nunique() == 2, table[["trial_id", "node_id", "pid"]]
    assert table.pid.nunique() >= 2
    # Each trial's seeds ran in one place (one actor), and every result arrived.
    assert (table.groupby("trial_id").node_id.nunique() == 1).all()
    assert sorted(table.top_k.unique()) == [1, 2, 3, 4]


def test_no_cluster_reachable_is_reported(tmp_path):
    r = subprocess.run(
        [sys.executable, "sweeps/tiers.py", "--address", "127.0.0.1:1", "--seeds", "0", "--num-samples", "1",
         "--quick", "--storage", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "no Ray cluster reachable" in r.stderr and "--local" in r.stderr
