"""``nar data info``: text and JSON output, against the shared data README facts; error exit."""
from __future__ import annotations

import json
import re

import pytest

from nar_core.cli import main
from nar_core.paths import default_data_dir
from nar_core.spaces.nb201.cells import index_to_str

from nb201_official_files import write_official_pth

DATA = default_data_dir()
HAVE_NB201 = (DATA / "nb201" / "nb201_accuracy.csv").is_file()
# /work/shared/data/README.md: best value (index) per column
README_FACTS = {
    "cifar10_val": (91.6067, 6111),        # cifar10_valid_val in the CSV
    "cifar10_valid_test": (91.5233, 1459),
    "cifar10_test": (94.3733, 6111),
    "cifar100_val": (73.4933, 9930),
    "cifar100_test": (73.5133, 9930),
    "imagenet16_val": (46.7333, 10676),
    "imagenet16_test": (47.3111, 857),
}


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NAR_CACHE_DIR", str(tmp_path / "user_cache"))


@pytest.mark.skipif(not HAVE_NB201, reason=f"shared NAS-Bench-201 CSVs not found under {DATA}")
def test_info_text_matches_the_readme(capsys):
    assert main(["data", "info", "--space", "nb201", "--data", str(DATA)]) == 0
    out = capsys.readouterr().out
    assert "cells:   15,625" in out
    assert "nb201_accuracy.csv" in out
    assert "latency_ms" in out and "cifar10_flops" in out
    for metric, (value, index) in README_FACTS.items():
        m = re.search(rf"^\s+{re.escape(metric)}\s+([\d.]+)\s+at (\d+)\s+(\S+)$", out, re.M)
        assert m, metric
        assert (float(m.group(1)), int(m.group(2)), m.group(3)) == (value, index, index_to_str(index))


@pytest.mark.skipif(not HAVE_NB201, reason=f"shared NAS-Bench-201 CSVs not found under {DATA}")
def test_info_json_matches_the_readme(capsys):
    assert main(["data", "info", "--data", str(DATA), "--json", "--no-cache"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["space"] == "nb201" and summary["cells"] == 15625
    best = {b["metric"]: b for b in summary["best"]}
    for metric, (value, index) in README_FACTS.items():
        assert (round(best[metric]["value"], 4), best[metric]["key"]) == (value, index)
        assert best[metric]["arch"] == index_to_str(index)
    assert summary["cache"] is None  # --no-cache


def test_info_on_an_official_pth(tmp_path, capsys):
    path = write_official_pth(tmp_path / "NAS-Bench-201-v1_1-096897.pth", [3, 42])
    assert main(["data", "info", "--data", str(path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["cells"] == 2 and summary["format"] == "nb201-pth"
    assert "latency_ms/nb201_api" in summary["columns"]
    best = {b["metric"]: b["key"] for b in summary["best"]}
    assert best["cifar10_val"] == 42  # the fixture's accuracy grows with the index


def test_errors_exit_2_with_one_line(tmp_path, capsys):
    assert main(["data", "info", "--data", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing" in err and err.startswith("nar data: error:")
    bad = tmp_path / "NAS-Bench-201-v1_1-096897.pth"
    bad.write_bytes(b"\x80\x02garbage")
    assert main(["data", "info", "--data", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(bad) in err


@pytest.mark.skipif(not (DATA / "nb101" / "nb101_subset_2500.csv").is_file(), reason=f"shared NAS-Bench-101 CSV not under {DATA}")
def test_info_nb101_on_the_shared_data(capsys):
    assert main(["data", "info", "--space", "nb101", "--data", str(DATA), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["space"] == "nb101" and summary["cells"] == 2500 and summary["format"] == "subset csv"
    best = {b["metric"]: b for b in summary["best"]}
    assert set(best) == {"cifar10_test"}  # the subset has one accuracy (cifar10_val is all NaN)
    assert len(best["cifar10_test"]["key"]) == 32 and 93 < best["cifar10_test"]["value"] < 95.5
    assert json.loads(best["cifar10_test"]["arch"])["operations"][0] == "input"


@pytest.mark.parametrize("name, content, problem", [
    ("nasbench_only108.tfrecord", b"\x05\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00hello\x00\x00\x00\x00", "length CRC mismatch"),
    ("nasbench_only108.tfrecord", b"\x05\x00\x00", "truncated"),
    ("cells.json", b'[{"module_adjacency": [[0, 1], [0, 0]]}]', "missing field(s) module_operations"),
])
def test_nb101_bad_files_exit_2_one_line_no_cache(tmp_path, capsys, name, content, problem):
    path = tmp_path / name
    path.write_bytes(content)
    assert main(["data", "info", "--space", "nb101", "--data", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(path) in err and problem in err
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [name]  # no cache, no temp file


def test_help_explains_itself(capsys):
    with pytest.raises(SystemExit) as info:
        main(["data", "info", "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "--space" in out and "--json" in out and "best cell" in out and "NAR_DATA" in out
    assert "exit status 2" in out and "tfrecord" in out
