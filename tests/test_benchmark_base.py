"""The shared foundations: Benchmark table, dataset names, data paths, errors, atomic writes."""
from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from nar_core.benchmarks.base import Benchmark, check_column, check_unique_keys, read_csv_frame, read_json_file
from nar_core.spaces import canonical_dataset
from nar_core.errors import DataError, NarError, UnknownCellError
from nar_core.io import atomic_path, atomic_write_text
from nar_core.paths import ENV_VAR, resolve_data_dir


def _bench() -> Benchmark:
    return Benchmark("nb201", np.array([7, 3, 11]), {"acc": np.array([1.0, np.nan, 3.0]), "gone": np.full(3, np.nan)},
                     {"ops": np.zeros((3, 6), np.int8)}, source="demo")


def test_rows_keys_columns():
    b = _bench()
    assert b.row_of_key(3) == 1 and b.rows_of_keys([11, 7]).tolist() == [2, 0] and b.rows_of_keys([]).shape == (0,)
    assert b.has_key(11) and not b.has_key(4) and not b.has_key([1])  # unhashable: simply not a key
    with pytest.raises(UnknownCellError, match="cell 4 is not in the nb201 benchmark"):
        b.row_of_key(4)
    assert b.best("acc") == (2, 3.0)  # NaN ignored
    with pytest.raises(NarError, match="column 'gone' has no values"):
        b.best("gone")
    with pytest.raises(NarError, match="no column 'x'; available: acc, gone"):
        b.column("x")
    with pytest.raises(ValueError):  # columns are read-only views
        b.column("acc")[0] = 5
    sub = b.subset(np.array([2, 0]))
    assert sub.keys.tolist() == [11, 7] and sub.row_of_key(7) == 1
    with pytest.raises(NarError, match="has 2 rows, expected 3"):
        Benchmark("nb201", np.arange(3), {"acc": np.zeros(2)}, {})


def test_a_benchmark_refuses_duplicate_keys_naming_them_and_both_rows():
    with pytest.raises(DataError) as info:
        Benchmark("nb201", np.array([7, 3, 11, 3]), {"acc": np.arange(4.0)}, {}, source="mine.csv")
    assert str(info.value) == ("mine.csv: key 3 appears twice (row 1 and row 3); "
                               "each architecture must appear once: remove the extra copies")
    digits = np.array(["0120", "0001", "0120", "2222", "0001"])
    with pytest.raises(DataError, match=r"key '0120' appears twice \(row 0 and row 2\); "
                                        r"key '0001' appears twice \(row 1 and row 4\)"):
        Benchmark("digits", digits, {}, {})
    with pytest.raises(DataError, match=r"data.csv: module 'ab' appears twice \(arch x and arch y\)"):
        check_unique_keys("data.csv", ["ab", "cd", "ab"], what="module", row_name=lambda r: "arch " + "x_y"[r])


def test_a_json_object_with_a_key_twice_is_refused(tmp_path):
    path = tmp_path / "cells.json"
    path.write_text('{"12": {"acc": 90.1}, "7": {"acc": 80.0}, "12": {"acc": 91.5}}')  # json.load keeps 91.5 only
    with pytest.raises(DataError, match=r"cells.json: architecture '12' appears twice \(entries 0 and 2 of the "
                                        r"top-level object, counted from 0\); JSON would keep only the last copy"):
        read_json_file(path, what="architecture")
    path.write_text('[{"acc": 90.1, "acc": 91.5}]')
    with pytest.raises(DataError, match=r"key 'acc' appears twice \(entries 0 and 1 of one object"):
        read_json_file(path, what="architecture")


def test_fractions_where_percentages_are_expected_are_refused():
    with pytest.raises(DataError, match=r"f.csv: column 'toy_val': every value is between 0 and 1 \(the largest, at "
                                        r"architecture 0012, is 0.93\), so it holds fractions, .* multiply the column by 100"):
        check_column("f.csv", "toy_val", np.array([0.91, 0.93, 0.5]), row_name=lambda r: "architecture " + ["0011", "0012", "0013"][r])
    check_column("f.csv", "toy_val", np.array([0.91, 93.0, 0.5]))  # percentages, some tiny
    check_column("f.csv", "toy_flops", np.array([0.91, 0.93]))  # a cost may be below 1
    check_column("f.csv", "toy_test", np.array([np.nan, np.nan]), allow_missing=True)  # nothing measured
    with pytest.raises(DataError, match="multiply the column by 100"):  # the range of the Benchmark column applies
        check_column("f.json", "avg_val", np.array([0.9, np.nan]), allow_missing=True, kind="cifar10_val")


def test_dataset_names():
    assert [canonical_dataset(n, "nb201") for n in ("cifar10-valid", "CIFAR-100", "ImageNet16-120")] == [
        "cifar10", "cifar100", "imagenet16"]
    with pytest.raises(NarError, match="unknown dataset 'cifar100' for space nb101; expected one of cifar10"):
        canonical_dataset("cifar100", "nb101")
    with pytest.raises(NarError, match="unknown dataset 'svhn'"):
        canonical_dataset("svhn")


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    assert resolve_data_dir() == tmp_path
    assert resolve_data_dir(tmp_path / "x") == tmp_path / "x"


def test_data_error_is_one_line():
    e = DataError("/d/f.csv", "Error tokenizing data.\n  C error: Expected 2 fields\n")
    assert str(e) == "/d/f.csv: Error tokenizing data.; C error: Expected 2 fields"
    assert e.path == "/d/f.csv" and isinstance(e, NarError)


def test_file_readers_name_the_file(tmp_path):
    with pytest.raises(DataError, match="absent.json: file not found"):
        read_json_file(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text('{"a": ')
    with pytest.raises(DataError, match="bad.json: not valid JSON"):
        read_json_file(tmp_path / "bad.json")
    (tmp_path / "bad.csv").write_bytes(b"a,b\n1,2\n3,4,5\n")
    with pytest.raises(DataError, match="bad.csv: not a readable CSV file") as info:
        read_csv_frame(tmp_path / "bad.csv")
    assert str(info.value).endswith("Expected 2 fields in line 3, saw 3)")  # pandas' message, on one line
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty.csv: not a readable CSV file"):
        read_csv_frame(tmp_path / "empty.csv")


def test_atomic_writes_leave_nothing_half_written(tmp_path):
    target = tmp_path / "sub" / "out.txt"
    atomic_write_text(target, "first")
    old_umask = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "masked.txt", "x")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "masked.txt").stat().st_mode) == 0o640  # the umask's mode, as open() gives
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("writer failed")
    assert target.read_text() == "first"
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]  # the temporary file is gone
    with atomic_path(tmp_path / "a.npz", suffix=".npz") as tmp:
        assert tmp.suffix == ".npz" and tmp.parent == tmp_path
        np.savez(tmp, x=np.arange(3))
    assert np.load(tmp_path / "a.npz")["x"].tolist() == [0, 1, 2]
