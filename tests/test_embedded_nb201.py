"""The NAS-Bench-201 table shipped with the package: equal to the shared CSVs, used only when no data is named or found."""
from __future__ import annotations

import json
import re
from importlib import resources

import numpy as np
import pytest

from nar_core.benchmarks import load_benchmark
from nar_core.cli import main
from nar_core.errors import DataError
from nar_core.paths import default_data_dir
from nar_core.spaces.nb201.cells import NUM_CELLS, index_to_str
from nar_core.spaces.nb201.reader import EMBEDDED_COLUMNS, EMBEDDED_SOURCE, EMBEDDED_TABLE, read_nb201_csv, read_nb201_embedded

SHARED_NB201 = default_data_dir() / "nb201"
# best value (index) per column, from ../shared/data/README.md
README_FACTS = {
    "cifar10_val": (91.6067, 6111), "cifar10_valid_test": (91.5233, 1459), "cifar10_test": (94.3733, 6111),
    "cifar100_val": (73.4933, 9930), "cifar100_test": (73.5133, 9930),
    "imagenet16_val": (46.7333, 10676), "imagenet16_test": (47.3111, 857),
}


@pytest.fixture
def fresh_machine(tmp_path, monkeypatch):
    """No NAR_DATA and no ../shared/data beside the checkout or the working directory."""
    import nar_core.paths

    monkeypatch.delenv("NAR_DATA", raising=False)
    repo = tmp_path / "clone"
    repo.mkdir()
    monkeypatch.setattr(nar_core.paths, "_REPO_ROOT", repo)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("NAR_CACHE_DIR", str(tmp_path / "cache"))
    return repo


def test_package_data_is_small_and_complete():
    where = resources.files("nar_core.spaces.nb201").joinpath("resources/" + EMBEDDED_TABLE)
    assert where.is_file() and where.stat().st_size < 1_000_000
    b = read_nb201_embedded()
    assert len(b) == NUM_CELLS and list(b.columns) == list(EMBEDDED_COLUMNS)
    assert np.array_equal(b.keys, np.arange(NUM_CELLS))
    for name in EMBEDDED_COLUMNS:
        assert np.isfinite(b.columns[name]).all(), name


@pytest.mark.skipif(not (SHARED_NB201 / "nb201_accuracy.csv").is_file(), reason=f"shared CSVs not under {SHARED_NB201}")
def test_embedded_table_equals_the_shared_csvs_column_for_column():
    shared = read_nb201_csv(SHARED_NB201)
    embedded = read_nb201_embedded()
    assert np.array_equal(embedded.cell_arrays["ops"], shared.cell_arrays["ops"])
    for name in EMBEDDED_COLUMNS:
        assert np.array_equal(embedded.columns[name], shared.columns[name]), name  # exact, not approximate


def test_fresh_machine_reads_the_embedded_table(fresh_machine):
    b = load_benchmark("nb201")
    assert b.source == EMBEDDED_SOURCE and b.meta["format"] == "nb201-embedded"
    for col, (value, index) in README_FACTS.items():
        row, best = b.best(col)
        assert (int(b.keys[row]), round(best, 4)) == (index, value), col
    assert b.column("latency_ms")[0] == 17.25528 and b.column("cifar10_flops")[0] > 0


def test_named_data_is_never_replaced_by_the_embedded_table(fresh_machine, monkeypatch):
    with pytest.raises(DataError, match="missing"):
        load_benchmark("nb201", fresh_machine / "missing")
    monkeypatch.setenv("NAR_DATA", str(fresh_machine))  # set, but empty: an error, not a silent fallback
    with pytest.raises(DataError, match="no nb201 data found"):
        load_benchmark("nb201")
    monkeypatch.delenv("NAR_DATA")
    with pytest.raises(DataError, match="nb101"):  # only NAS-Bench-201 is embedded
        load_benchmark("nb101")


def test_data_info_on_a_fresh_machine(fresh_machine, capsys):
    assert main(["data", "info", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["cells"] == NUM_CELLS and summary["source"] == EMBEDDED_SOURCE
    best = {b["metric"]: b for b in summary["best"]}
    for metric, (value, index) in README_FACTS.items():
        assert (round(best[metric]["value"], 4), best[metric]["key"]) == (value, index)
        assert best[metric]["arch"] == index_to_str(index)
    assert main(["data", "info"]) == 0
    assert re.search(r"^source:\s+embedded NAS-Bench-201 table", capsys.readouterr().out, re.M)
