"""The .npz benchmark cache: hit, invalidation by content, read-only fallback, atomicity."""
from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from nar_core.benchmarks.base import Benchmark
from nar_core.benchmarks.cache import cache_candidates, cached_load, clear_cache
from nar_core.errors import DataError


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NAR_CACHE_DIR", str(tmp_path / "user_cache"))


class Reader:
    """A real reader of a tiny text format (one number per line), counting how often it runs."""

    def __init__(self, path: Path, space: str = "nb201"):
        self.path, self.space, self.calls = path, space, 0

    def __call__(self) -> Benchmark:
        self.calls += 1
        values = np.array([float(x) for x in self.path.read_text().split()])
        keys = np.arange(len(values)) if self.space == "nb201" else np.array([f"h{i:031d}" for i in range(len(values))])
        return Benchmark(self.space, keys, {"cifar10_val": values}, {"ops": np.zeros((len(values), 6), np.int8)},
                         source=str(self.path), meta={"format": "demo", "note": object()})


def _source(tmp_path: Path, text: str = "1 2 3") -> Path:
    folder = tmp_path / "src"
    folder.mkdir(exist_ok=True)
    path = folder / "bench.txt"
    path.write_text(text)
    return path


def test_build_then_hit(tmp_path):
    path = _source(tmp_path)
    read = Reader(path)
    a = cached_load(path, read, "nb201", "demo1")
    b = cached_load(path, read, "nb201", "demo1")
    assert read.calls == 1
    assert a.meta["cache"]["status"] == "built" and b.meta["cache"]["status"] == "hit"
    assert Path(b.meta["cache"]["path"]) == path.parent / ".bench.txt.nb201.demo1.npz"
    np.testing.assert_array_equal(b.column("cifar10_val"), [1, 2, 3])
    assert b.keys.dtype == np.int64 and b.cell_arrays["ops"].dtype == np.int8
    assert b.meta["format"] == "demo" and "note" not in b.meta  # only JSON-able meta is cached


def test_string_keys_round_trip(tmp_path):
    path = _source(tmp_path)
    read = Reader(path, space="nb101")
    cached_load(path, read, "nb101", "demo1")
    b = cached_load(path, read, "nb101", "demo1")
    assert read.calls == 1 and b.keys[2] == "h" + "2".zfill(31) and b.row_of_key(b.keys[1]) == 1


def test_changed_content_rebuilds(tmp_path):
    path = _source(tmp_path)
    read = Reader(path)
    cached_load(path, read, "nb201", "demo1")
    path.write_text("7 8 9")  # same size, new content
    os.utime(path, ns=(1, 1))
    b = cached_load(path, read, "nb201", "demo1")
    assert read.calls == 2 and b.column("cifar10_val").tolist() == [7, 8, 9]


def test_touched_but_same_content_is_a_hit_and_refreshes_the_stamp(tmp_path):
    path = _source(tmp_path)
    read = Reader(path)
    cached_load(path, read, "nb201", "demo1")
    os.utime(path, ns=(10**18, 10**18))
    b = cached_load(path, read, "nb201", "demo1")
    assert read.calls == 1 and b.meta["cache"]["status"] == "hit"
    # the new mtime is recorded: a later load needs no hashing
    c = cached_load(path, read, "nb201", "demo1")
    assert c.meta["cache"]["sources"][0]["mtime_ns"] == 10**18 and read.calls == 1


def test_reader_version_and_space_separate_caches(tmp_path):
    path = _source(tmp_path)
    read = Reader(path)
    cached_load(path, read, "nb201", "demo1")
    cached_load(path, read, "nb201", "demo2")
    assert read.calls == 2
    assert clear_cache(path, "nb201", "demo1") == [path.parent / ".bench.txt.nb201.demo1.npz"]
    cached_load(path, read, "nb201", "demo1")
    assert read.calls == 3


def test_read_only_source_dir_falls_back_to_user_cache(tmp_path):
    path = _source(tmp_path)
    os.chmod(path.parent, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP)
    try:
        read = Reader(path)
        a = cached_load(path, read, "nb201", "demo1")
        b = cached_load(path, read, "nb201", "demo1")
    finally:
        os.chmod(path.parent, 0o755)
    assert sorted(p.name for p in path.parent.iterdir()) == ["bench.txt"]  # nothing written there (even as root)
    assert Path(a.meta["cache"]["path"]).parent == tmp_path / "user_cache"
    assert read.calls == 1 and b.meta["cache"]["status"] == "hit"
    assert Path(b.meta["cache"]["path"]) == cache_candidates(path, "nb201", "demo1")[1]


def test_failed_build_leaves_no_cache(tmp_path):
    path = _source(tmp_path, "1 2 x")

    def build() -> Benchmark:
        try:
            return Reader(path)()
        except ValueError:
            raise DataError(path, "not a number") from None

    with pytest.raises(DataError):
        cached_load(path, build, "nb201", "demo1")
    assert sorted(p.name for p in path.parent.iterdir()) == ["bench.txt"]
    assert not (tmp_path / "user_cache").exists() or not any((tmp_path / "user_cache").iterdir())


def test_corrupt_cache_is_rebuilt(tmp_path):
    path = _source(tmp_path)
    read = Reader(path)
    built = cached_load(path, read, "nb201", "demo1")
    Path(built.meta["cache"]["path"]).write_bytes(b"PK\x03\x04 truncated")
    b = cached_load(path, read, "nb201", "demo1")
    assert read.calls == 2 and b.column("cifar10_val").tolist() == [1, 2, 3]
    assert cached_load(path, read, "nb201", "demo1").meta["cache"]["status"] == "hit"


def test_several_sources_are_all_checked(tmp_path):
    path = _source(tmp_path)
    extra = path.parent / "extra.txt"
    extra.write_text("a")
    read = Reader(path)
    cached_load([path, extra], read, "nb201", "demo1")
    extra.write_text("bb")
    cached_load([path, extra], read, "nb201", "demo1")
    assert read.calls == 2


def test_same_size_edit_with_restored_mtime_is_caught(tmp_path, monkeypatch):
    import nar_core.benchmarks.cache as cache

    path = _source(tmp_path)
    read = Reader(path)
    # nothing racy: only the stat fields (ctime) can show the edit, not the hash of a recent file
    monkeypatch.setattr(cache, "RACY_NS", -10**18)
    cached_load(path, read, "nb201", "demo1")
    st = path.stat()
    time.sleep(0.05)  # past the filesystem's timestamp tick, so the write sets a new ctime
    path.write_text("7 8 9")  # same size, new content, then the old mtime put back
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size and path.stat().st_mtime_ns == st.st_mtime_ns
    b = cached_load(path, read, "nb201", "demo1")
    assert read.calls == 2 and b.column("cifar10_val").tolist() == [7, 8, 9]


def test_an_old_unchanged_source_is_a_hit_without_hashing(tmp_path, monkeypatch):
    import nar_core.benchmarks.cache as cache

    path = _source(tmp_path)
    read = Reader(path)
    monkeypatch.setattr(cache, "RACY_NS", -10**18)  # as if the file were long settled when recorded
    cached_load(path, read, "nb201", "demo1")
    hashed = []
    monkeypatch.setattr(cache, "file_sha256", lambda p: hashed.append(p) or "x")
    assert cached_load(path, read, "nb201", "demo1").meta["cache"]["status"] == "hit"
    assert hashed == [] and read.calls == 1


def test_a_pickled_cache_is_rebuilt_without_pickle_advice(tmp_path, caplog):
    import pickle

    path = _source(tmp_path)
    read = Reader(path)
    built = cached_load(path, read, "nb201", "demo1")
    Path(built.meta["cache"]["path"]).write_bytes(pickle.dumps({"keys": [1, 2, 3]}))
    with caplog.at_level("WARNING"):
        b = cached_load(path, read, "nb201", "demo1")
    assert read.calls == 2 and b.meta["cache"]["status"] == "built"
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "pickled Python objects" in warning and "allow_pickle" not in warning
