"""results/specs/collect_runs.py: gpu_batch.sh run folders into the committed result tables.

The rows written here are TEST INPUT for the file handling (a config of the 150-query row with a
made-up accuracy per seed), not results of any run.
"""
from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path

import pandas as pd

from nar_core.budget import BUDGETS
from nar_core.config import SETTINGS_VERSION, ExperimentConfig, config_hash

REPO = Path(__file__).resolve().parents[1]


@functools.cache
def _module():
    spec = importlib.util.spec_from_file_location("collect_runs", REPO / "results" / "specs" / "collect_runs.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _out(folder: Path, job: str, seeds: dict[int, float], code: str = "0.2.0+gabc1234") -> Path:
    """A gpu_batch.sh OUT folder holding one job's rows (seed -> test accuracy)."""
    rows = []
    for seed, acc in seeds.items():
        cfg = ExperimentConfig.for_space("nb201", dataset="cifar10", method="narq2t", seed=seed, **BUDGETS[150])
        rows.append({**cfg.to_dict(), "config_hash": config_hash(cfg), "status": "ok", "test_acc": acc,
                     "test_acc_valpick": acc, "found_key": f"k{seed}", "settings_version": SETTINGS_VERSION,
                     "code_version": code})
    (folder / "runs" / job).mkdir(parents=True)
    pd.DataFrame(rows).to_csv(folder / "runs" / job / "results.csv", index=False)
    return folder


def test_collect_append_and_refusals(tmp_path: Path, capsys):
    mod = _module()
    into = tmp_path / "results"
    into.mkdir()
    table = into / f"tiers_nb201_cifar10_q150_v{SETTINGS_VERSION}.csv"
    first = _out(tmp_path / "a", "tiers.num_tiers5.top_k5", {0: 94.1, 1: 94.2, 10: 94.0})
    assert mod.main([str(first), "--into", str(into)]) == 0
    assert list(pd.read_csv(table)["seed"]) == [0, 1, 10]  # by seed as a number
    # a table that exists is never overwritten silently
    more = _out(tmp_path / "b", "tiers.num_tiers5.top_k5", {1: 94.2, 2: 94.3})
    assert mod.main([str(more), "--into", str(into)]) == 2
    assert "--append" in capsys.readouterr().err
    # --append: the run it holds (seed 1, same numbers) is kept once, seed 2 added after the old rows;
    # the old rows keep every value as written (an int column stays int beside rows without it)
    text = table.read_text().splitlines()
    assert mod.main([str(more), "--into", str(into), "--append"]) == 0
    assert list(pd.read_csv(table)["seed"]) == [0, 1, 10, 2]
    assert table.read_text().splitlines()[: len(text)] == text
    # the same run with other numbers is refused, naming both rows; the table is left as it was
    before = table.read_bytes()
    clash = _out(tmp_path / "c", "tiers.num_tiers5.top_k5", {2: 93.0})
    assert mod.main([str(clash), "--into", str(into), "--append"]) == 2
    err = capsys.readouterr().err
    assert "seed 2" in err and "test_acc 94.3 vs 93" in err and table.read_bytes() == before
    # one run twice among the new rows: once when they agree, refused when they do not
    again = [_out(tmp_path / d, "tiers.num_tiers5.top_k5", {3: 94.4}) for d in ("d", "e")]
    assert mod.main([*map(str, again), "--into", str(into), "--append"]) == 0
    assert list(pd.read_csv(table)["seed"]) == [0, 1, 10, 2, 3]
    odd = [_out(tmp_path / "f", "tiers.num_tiers5.top_k5", {4: 94.4}), _out(tmp_path / "g", "tiers.num_tiers5.top_k5", {4: 94.0})]
    other = _out(tmp_path / "h", "selected_queries.top_k10", {0: 94.0})  # a second table, fine by itself
    before = table.read_bytes()
    assert mod.main([*map(str, odd), str(other), "--into", str(into), "--append"]) == 2
    assert "seed 4" in capsys.readouterr().err
    assert table.read_bytes() == before and not list(into.glob("selected_queries*"))  # nothing half-written
    assert mod.main([str(tmp_path / "empty"), "--into", str(into)]) == 2
