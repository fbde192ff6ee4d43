"""The experiment folder and its lock: one driver at a time, stale locks of killed drivers taken
over, the holder named; URI storage through pyarrow (file://) with the local copy and upload."""
from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from nar_core.sweep.store import ExperimentFolder, SweepBusy


def test_second_driver_is_refused_naming_the_holder(tmp_path):
    a = ExperimentFolder(str(tmp_path), "exp")
    with a.lock():
        holder = json.loads((tmp_path / "exp" / "driver.lock").read_text())
        assert holder["pid"] == os.getpid() and holder["host"] and holder["started"]
        text = f"another driver is running this sweep (host {holder['host']}, pid {os.getpid()}, started {holder['started']})"
        with pytest.raises(SweepBusy, match=re.escape(text)):
            with ExperimentFolder(str(tmp_path), "exp").lock():
                pass
    with a.lock():  # released at the end of the block
        pass


def test_lock_of_a_killed_driver_is_taken_over(tmp_path, caplog):
    # A driver that holds the lock and is killed with SIGKILL: the kernel releases its flock.
    code = textwrap.dedent(f"""
        import time
        from nar_core.sweep.store import ExperimentFolder
        with ExperimentFolder({str(tmp_path)!r}, "exp").lock():
            print("locked", flush=True)
            time.sleep(60)
    """)
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "locked"
        with pytest.raises(SweepBusy, match=f"pid {p.pid}"):
            with ExperimentFolder(str(tmp_path), "exp").lock():
                pass
        os.kill(p.pid, signal.SIGKILL)
        p.wait(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    with caplog.at_level(logging.WARNING, logger="nar_core.sweep.store"):
        with ExperimentFolder(str(tmp_path), "exp").lock():
            assert json.loads((tmp_path / "exp" / "driver.lock").read_text())["pid"] == os.getpid()
    assert f"taking over the lock of a driver that is gone (host" in caplog.text and f"pid {p.pid}" in caplog.text


def test_uri_storage_keeps_a_local_copy_and_uploads_it(tmp_path, monkeypatch):
    monkeypatch.setenv("NAR_SWEEP_CACHE", str(tmp_path / "cache"))
    remote = tmp_path / "remote"
    folder = ExperimentFolder(remote.as_uri(), "exp")
    assert folder.is_remote and folder.location == f"{remote.as_uri()}/exp"
    assert str(folder.local).startswith(str(tmp_path / "cache"))
    with folder.lock():
        holder = json.loads((remote / "exp" / "driver.json").read_text())
        assert holder["pid"] == os.getpid()
        (folder.local / "records.jsonl").write_text('{"kind": "seed"}\n')
        (folder.local / "results.csv").write_text("a\n1\n")
        folder.push(force=False)  # while running: the live files only
        assert (remote / "exp" / "records.jsonl").exists() and not (remote / "exp" / "results.csv").exists()
        folder.push()
        assert (remote / "exp" / "results.csv").read_text() == "a\n1\n"
    assert not (remote / "exp" / "driver.json").exists()
    # Another machine's driver: the local copy is fresh, the URI says who runs the sweep.
    (remote / "exp" / "driver.json").write_text(json.dumps({"host": "elsewhere", "pid": 7, "started": "t"}))
    monkeypatch.setenv("NAR_SWEEP_CACHE", str(tmp_path / "cache2"))
    other = ExperimentFolder(remote.as_uri(), "exp")
    with pytest.raises(SweepBusy, match="a driver on another machine runs this sweep .host elsewhere, pid 7"):
        with other.lock():
            pass
    (remote / "exp" / "driver.json").unlink()
    other.pull()
    assert (other.local / "records.jsonl").read_text() == '{"kind": "seed"}\n' and other.exists("results.csv")
    # A local copy of an experiment no longer in the URI does not leak into a new one of that name.
    fresh = ExperimentFolder((tmp_path / "empty").as_uri(), "exp")
    fresh.local.mkdir(parents=True)
    (fresh.local / "records.jsonl").write_text("stale\n")
    with fresh.lock():
        fresh.pull()
        assert not (fresh.local / "records.jsonl").exists()
