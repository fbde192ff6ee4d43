"""NAS-Bench-101 readers: official-layout tfrecords, NAR cell-information JSON, subset CSV."""
from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from fixtures_nb101 import (  # noqa: E402
    BUDGETS_FULL, REPEAT_OFFSETS, VAL_SHIFT, reader_rows, sampled_rows, subset_csv_path, subset_records, subset_rows,
)

from nar_core.benchmarks import load_benchmark  # noqa: E402
from nar_core.errors import DataError  # noqa: E402
from nar_core.spaces.nb101 import NB101Space  # noqa: E402
from nar_core.spaces.nb101.cells import cells_from_specs  # noqa: E402
from nar_core.spaces.nb101.reader import load_nb101  # noqa: E402
from nar_core.spaces.nb101.tfrecord import (  # noqa: E402
    iter_tfrecord_batches, read_nasbench_tfrecord, read_tfrecords, write_nasbench_tfrecord, write_tfrecords,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "nar_cell_info_examples" / "nasbench101_vertice_example.json"
space = NB101Space()


@pytest.fixture(scope="module")
def rows():
    return reader_rows(120)  # real subset cells and accuracies, or sampled cells without the data


@pytest.fixture()
def only108(tmp_path, rows):
    path = tmp_path / "nasbench_only108.tfrecord"
    assert write_nasbench_tfrecord(path, subset_records(rows)) == 3 * len(rows)
    return path


def _no_cache_files(directory: Path) -> bool:
    return not any(p.name.endswith(".npz") or ".tmp" in p.name for p in directory.iterdir())


def test_official_layout_mini_benchmark(only108, rows):
    bench = load_nb101(only108, cache=False)
    assert bench.space == "nb101" and len(bench) == len(rows)
    assert bench.meta["budgets"] == [108] and bench.meta["repeats_min"] == bench.meta["repeats_max"] == 3
    for row in rows[:40]:
        cells = cells_from_specs([row["adjacency"]], [row["operations"]])
        r = bench.row_of_key(space.key(cells))  # cell -> official hash -> benchmark row
        m = bench.metrics(r)
        assert m["cifar10_test"] == pytest.approx(100 * row["accuracy"], abs=1e-9)  # mean over 3 repeats
        assert m["cifar10_val"] == pytest.approx(100 * (row["accuracy"] + VAL_SHIFT), abs=1e-9)
        assert m["train_seconds"] == pytest.approx(1510.0)
        assert m["params"] == m["cifar10_params"]
        assert np.array_equal(bench.cell_arrays["adjacency"][r], cells["adjacency"][0])
        assert np.array_equal(bench.cell_arrays["ops"][r], cells["ops"][0])
    assert bench.meta["params_mismatch"] == 0
    assert sum(REPEAT_OFFSETS) == 0


def test_cache_second_load_and_dispatch(only108):
    first = load_benchmark("nb101", only108)
    assert first.meta["cache"]["status"] == "built"
    second = load_benchmark("nb101", only108)
    assert second.meta["cache"]["status"] == "hit"
    assert second.keys.tolist() == first.keys.tolist()
    for name, col in first.columns.items():
        assert np.array_equal(second.columns[name], col, equal_nan=True), name
    k = second.keys[5].item()
    assert second.row_of_key(k) == 5 and isinstance(k, str)


def test_full_file_budgets(tmp_path, rows):
    path = tmp_path / "nasbench_full.tfrecord"
    write_nasbench_tfrecord(path, subset_records(rows[:15], budgets=BUDGETS_FULL))
    bench = load_nb101(path, cache=False)
    assert bench.meta["budgets"] == [4, 12, 36, 108]
    for e in (4, 12, 36):
        assert f"cifar10_val@{e}" in bench.columns and f"cifar10_test@{e}" in bench.columns
    r = bench.row_of_key(space.key(cells_from_specs([rows[0]["adjacency"]], [rows[0]["operations"]])))
    assert bench.columns["cifar10_test@36"][r] == pytest.approx(100 * rows[0]["accuracy"] * (0.8 + 0.2 * 36 / 108))
    assert bench.columns["train_seconds@4"][r] == pytest.approx(1500 * 4 / 108 + 10)


def test_records_decode_exactly(only108, rows):
    rec = read_nasbench_tfrecord(only108)
    assert len(rec) == 3 * len(rows)
    assert rec.test_accuracy[1] == pytest.approx(rows[0]["accuracy"])
    assert rec.halfway_test_accuracy[1] == pytest.approx(rows[0]["accuracy"] - 0.05)
    assert set(rec.epochs.tolist()) == {108}


def _rewrite(path: Path, record: int, change) -> None:
    payloads = read_tfrecords(path)
    payloads[record] = change(payloads[record])
    write_tfrecords(path, payloads)


def _set_field(i: int, value):
    def change(p: bytes) -> bytes:
        row = json.loads(p)
        row[i] = value
        return json.dumps(row).encode()

    return change


@pytest.mark.parametrize(
    "damage, message",
    [
        ("truncate", "truncated: record 359 at byte"),
        ("flip", "record 17 at byte .*data CRC mismatch"),
        ("json", "record 42: payload is not valid JSON"),
        ("shape", "record 42: payload must be a JSON list"),
        ("base64", "record 42: metrics are not valid base64"),
        ("protobuf", "record 42: metrics are not a valid ModelMetrics protobuf"),
    ],
)
def test_corrupt_files_one_clear_error_and_no_cache(only108, damage, message):
    if damage == "truncate":
        only108.write_bytes(only108.read_bytes()[:-7])
    elif damage == "flip":
        data = bytearray(only108.read_bytes())
        (batch,) = iter_tfrecord_batches(only108)
        data[int(batch.file_offsets[17]) + 12 + int(batch.lengths[17]) // 2] ^= 0x10  # inside record 17's payload
        only108.write_bytes(bytes(data))
    elif damage == "json":
        _rewrite(only108, 42, lambda p: p[:-3])
    elif damage == "shape":
        _rewrite(only108, 42, lambda p: b'{"hash": 1}')
    elif damage == "base64":
        _rewrite(only108, 42, _set_field(4, "!!not base64!!"))
    elif damage == "protobuf":
        _rewrite(only108, 42, _set_field(4, base64.b64encode(b"\x0a\x7f\x09\x00").decode()))
    with pytest.raises(DataError, match=message) as info:
        load_nb101(only108, cache=True)
    assert str(only108) in str(info.value)
    assert _no_cache_files(only108.parent)


def test_stored_hash_must_match_the_graph(tmp_path, rows):
    recs = subset_records(rows[:3])
    recs[4]["module_hash"] = "0" * 32
    path = tmp_path / "h.tfrecord"
    write_nasbench_tfrecord(path, recs)
    with pytest.raises(DataError, match="differs from the official hash"):
        load_nb101(path, cache=False)


def test_cell_information_json_reference_example(tmp_path):
    if not EXAMPLE.is_file():
        pytest.skip(f"reference example {EXAMPLE} is absent")
    bench = load_nb101(EXAMPLE, cache=False)
    m = bench.metrics(bench.row_of_key("00005c142e6f48ac74fdcf73e3439874"))
    assert m["cifar10_test"] == pytest.approx(92.06063151359558)
    assert m["cifar10_val"] == pytest.approx(92.64155824979147)
    assert m["cifar10_flops"] == 2527684618 and m["cifar10_params"] == m["params"] == 8555530
    cell = json.loads(EXAMPLE.read_text())[0]
    bad = dict(cell, vertex_flops=dict(cell["vertex_flops"]))
    bad["vertex_flops"]["stack1/module2"] = [0, 1, 2, 3, 4, 5, 6]
    p = tmp_path / "bad.json"
    p.write_text(json.dumps([cell, bad]))
    with pytest.raises(DataError, match=r"cell 1: vertex_flops\[stack1/module2\]"):
        load_nb101(p, cache=True)
    assert _no_cache_files(tmp_path)
    p.write_text(json.dumps([dict(cell, unique_hash="f" * 32)]))
    with pytest.raises(DataError, match="differs from the official hash"):
        load_nb101(p)
    p.write_text("[{]")
    with pytest.raises(DataError, match="not valid JSON"):
        load_nb101(p)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda c: c.pop("avg_test_accuracy"), "cell 0: missing field.s. avg_test_accuracy"),
        (lambda c: c.pop("module_operations"), "cell 0: missing field.s. module_operations"),
        (lambda c: c.__setitem__("flops", "many"), "cell 0: flops = 'many' but the cell computes to"),
        (lambda c: c.__setitem__("flops", 1), "cell 0: flops = 1 but the cell computes to 2527684618"),
        (lambda c: c["vertex_params"].__setitem__("stack0/module0", 5), r"vertex_params\[stack0/module0\] = 5"),
        (lambda c: c.__setitem__("avg_test_accuracy", "high"), "field 'avg_test_accuracy' must be a number"),
        (lambda c: c.__setitem__("module_operations", ["input", "conv5x5-bn-relu", "output"]), "operation"),
        (lambda c: c.__setitem__("avg_test_accuracy", 1e7), r"column 'avg_test_accuracy', cell 0 \(module [0-9a-f]{32}\): value 1000000000.0 is not an accuracy"),
        (lambda c: c.__setitem__("avg_training_time", -2.0), r"column 'avg_training_time', cell 0 \(module [0-9a-f]{32}\): value -2.0 is not a non-negative cost"),
    ],
)
def test_bad_cell_information_json_one_error_no_cache(tmp_path, change, message):
    if not EXAMPLE.is_file():
        pytest.skip(f"reference example {EXAMPLE} is absent")
    cell = json.loads(EXAMPLE.read_text())[0]
    change(cell)
    p = tmp_path / "cells.json"
    p.write_text(json.dumps([cell]))
    with pytest.raises(DataError, match=message) as info:
        load_benchmark("nb101", p)
    assert str(p) in str(info.value) and "\n" not in str(info.value)
    assert _no_cache_files(tmp_path)


def test_subset_csv_reader_on_a_fixture(tmp_path):
    """The CSV reader on a small file in the shared layout (runs without the shared data)."""
    rows = sampled_rows(5, seed=3)
    path = tmp_path / "cells.csv"
    lines = ["adjacency,operations,accuracy"]
    lines += [f'"{json.dumps(r["adjacency"])}",{"|".join(r["operations"])},{r["accuracy"]}' for r in rows]
    path.write_text("\n".join(lines) + "\n")
    bench = load_benchmark("nb101", path)
    assert len(bench) == 5 and bench.meta["format"] == "subset csv"
    for i, r in enumerate(rows):  # cell -> official hash -> benchmark row
        key = space.key(cells_from_specs([r["adjacency"]], [r["operations"]]))
        assert bench.row_of_key(key) == i
        assert bench.column("cifar10_test")[i] == pytest.approx(100 * r["accuracy"])
    np.testing.assert_array_equal(bench.column("cifar10_flops"), space.network_cost(bench.cell_arrays)[0])
    path.write_text("\n".join(lines + [lines[1]]) + "\n")
    with pytest.raises(DataError, match=r"module hash '[0-9a-f]{32}' appears twice \(row 0 and row 5\); each architecture must appear once"):
        load_benchmark("nb101", path)
    path.write_text("adjacency,operations\n")
    with pytest.raises(DataError, match="missing column.s. accuracy"):
        load_benchmark("nb101", path)
    path.write_text('adjacency,operations,accuracy\n"[[0,1],[0,0]]",input|output,0.5\n"[[0,1],[0,0]]",input|output,0.5,7\n')
    with pytest.raises(DataError, match="not a readable CSV") as info:
        load_benchmark("nb101", path)
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="no such file"):
        load_benchmark("nb101", tmp_path / "absent.csv")


def test_subset_csv_reader(tmp_path):
    path = subset_csv_path()
    if path is None:
        pytest.skip("shared NAS-Bench-101 subset CSV is absent; set NAR_DATA")
    bench = load_nb101(path)
    assert len(bench) == 2500 and np.isnan(bench.column("cifar10_val")).all()
    test = bench.column("cifar10_test")
    assert 80 < np.median(test) < 95 and test.max() <= 100
    row = subset_rows(1, start=7)[0]
    r = bench.row_of_key(space.key(cells_from_specs([row["adjacency"]], [row["operations"]])))
    assert r == 7 and test[r] == pytest.approx(100 * row["accuracy"])
    bad = tmp_path / "bad.csv"
    bad.write_text('adjacency,operations,accuracy\n"[[0,1],[0,0]]",input|output,1.7\n')
    with pytest.raises(DataError, match=r"row 0 \(module [0-9a-f]{32}\): accuracy"):
        load_nb101(bad)
    bad.write_text('adjacency,operations,accuracy\n"[[0,1,0],[0,0,1],[0,0,0]]",input|conv9x9|output,0.5\n')
    with pytest.raises(DataError, match="row 0: operation 1 is .conv9x9."):
        load_nb101(bad)
