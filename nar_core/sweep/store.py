"""Where a sweep's files live, and the lock that lets one driver at a time run a sweep.

``--storage`` is a local path on the driver's machine (``~`` expanded there: quote it in a
``ray submit`` command line) or a URI that pyarrow understands, as Ray Tune accepts
(``s3://bucket/runs``, ``gs://...``, ``file:///nfs/runs``). The driver is the only writer. With a
URI, the driver works in a local copy (``$NAR_SWEEP_CACHE``, default ``~/.cache/nar/sweeps``),
downloads the experiment from the URI before it starts and uploads it as results arrive (at most
every few seconds, and at the end): the Optuna journal and ``records.jsonl`` are files on the
driver's disk, the URI holds their latest copy.

The lock is ``driver.lock`` in the (local) experiment folder, held with ``flock``: the kernel
drops it when the driver dies, even by SIGKILL, so a killed driver's lock is stale at once and
the next driver takes it over; a driver that finds it held is refused naming the holder (host,
pid, start time). ``flock`` works on local disks and NFS v4. With a URI, a driver on another
machine is refused too while ``driver.json`` in the URI names a live-looking holder; a driver
there that was killed leaves that file behind (delete it; the message says so).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from typing import Iterator

from ..errors import NarError

log = logging.getLogger(__name__)

LOCK_FILE = "driver.lock"
REMOTE_HOLDER = "driver.json"
UPLOAD_EVERY_S = 5.0
LIVE_FILES = ("records.jsonl", "optuna.journal")  # uploaded while the sweep runs; the rest at the end


class SweepBusy(NarError):
    """Another driver holds the sweep's lock."""


class ExperimentFolder:
    """The experiment folder ``<storage>/<name>``: a local path, or a local copy of a URI."""

    def __init__(self, storage: str, name: str):
        self.storage, self.name = str(storage), name
        self._fs = None
        if "://" in self.storage:
            import pyarrow.fs as pafs

            try:
                self._fs, root = pafs.FileSystem.from_uri(self.storage)
            except (ValueError, OSError) as exc:
                raise NarError(f"--storage {self.storage}: not a storage URI pyarrow can open ({exc})") from None
            self.remote = f"{root.rstrip('/')}/{name}"
            self.location = f"{self.storage.rstrip('/')}/{name}"
            digest = hashlib.sha256(self.location.encode()).hexdigest()[:16]
            cache = Path(os.environ.get("NAR_SWEEP_CACHE", "~/.cache/nar/sweeps")).expanduser()
            self.local = cache / digest / name
        else:
            self.remote = None
            self.local = Path(self.storage).expanduser().resolve() / name
            self.location = str(self.local)
        self._last_push = 0.0

    @property
    def is_remote(self) -> bool:
        return self._fs is not None

    # --- the remote copy -----------------------------------------------------------------------------
    def pull(self) -> None:
        """Make the local copy the URI's experiment (nothing to do for a local path)."""
        if not self.is_remote:
            return
        import pyarrow.fs as pafs

        # A stale local copy (an experiment since deleted from the URI) must not leak into this one.
        for path in self.local.iterdir() if self.local.is_dir() else ():
            if path.name != LOCK_FILE:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        if self._fs.get_file_info(self.remote).type == pafs.FileType.Directory:
            pafs.copy_files(self.remote, str(self.local), source_filesystem=self._fs,
                            destination_filesystem=pafs.LocalFileSystem())
            (self.local / REMOTE_HOLDER).unlink(missing_ok=True)

    def push(self, *, force: bool = True) -> None:
        """Upload the local copy to the URI: all of it (``force``), or the results every few seconds."""
        if not self.is_remote or not self.local.is_dir():
            return
        if not force and time.monotonic() - self._last_push < UPLOAD_EVERY_S:
            return
        import pyarrow.fs as pafs

        self._fs.create_dir(self.remote, recursive=True)
        names = [p.name for p in self.local.iterdir()] if force else list(LIVE_FILES)
        for name in sorted(names):
            if name == LOCK_FILE or name.startswith(".") or not (self.local / name).exists():
                continue
            pafs.copy_files(str(self.local / name), f"{self.remote}/{name}",
                            source_filesystem=pafs.LocalFileSystem(), destination_filesystem=self._fs)
        self._last_push = time.monotonic()

    def exists(self, name: str) -> bool:
        """A file of the experiment exists (in the URI for a remote storage, else locally)."""
        if self.is_remote:
            import pyarrow.fs as pafs

            return self._fs.get_file_info(f"{self.remote}/{name}").type == pafs.FileType.File
        return (self.local / name).exists()

    def discard(self) -> None:
        """Remove an experiment that never started (a failed start must not block the next command)."""
        if self.is_remote and self.exists("sweep.json"):
            self._fs.delete_dir(self.remote)
        shutil.rmtree(self.local, ignore_errors=True)

    # --- the lock -------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the experiment's lock for the block, or raise :class:`SweepBusy` naming the holder."""
        self.local.mkdir(parents=True, exist_ok=True)
        path = self.local / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                raise SweepBusy(f"{self.location}: another driver is running this sweep ({_holder_text(path)}); "
                                f"wait for it to finish or stop it, then rerun with --resume") from None
            stale = _read_holder(path)
            if stale:  # a driver that died holding the lock: the kernel released it
                log.warning("%s: taking over the lock of a driver that is gone (%s)", self.location, _describe(stale))
            me = {"host": socket.gethostname(), "pid": os.getpid(),
                  "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
            self._claim_remote(me)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
            os.fsync(fd)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)  # an empty lock file: the last driver ended normally
                self._release_remote()
        finally:
            os.close(fd)

    def _claim_remote(self, me: dict) -> None:
        if not self.is_remote:
            return
        import pyarrow.fs as pafs

        path = f"{self.remote}/{REMOTE_HOLDER}"
        if self._fs.get_file_info(path).type == pafs.FileType.File:
            with self._fs.open_input_stream(path) as f:
                try:
                    holder = json.loads(f.read().decode() or "{}")
                except json.JSONDecodeError:
                    holder = {}
            if holder and holder.get("host") != me["host"]:
                raise SweepBusy(f"{self.location}: a driver on another machine runs this sweep ({_describe(holder)}); "
                                f"if that driver is gone, delete {self.location}/{REMOTE_HOLDER}")
        self._fs.create_dir(self.remote, recursive=True)
        with self._fs.open_output_stream(path) as f:
            f.write(json.dumps(me).encode())

    def _release_remote(self) -> None:
        if self.is_remote:
            with contextlib.suppress(OSError):
                self._fs.delete_file(f"{self.remote}/{REMOTE_HOLDER}")


def _read_holder(path: Path) -> dict:
    try:
        return json.loads(path.read_text() or "{}")
    except (OSError, json.JSONDecodeError):
        return {}


def _holder_text(path: Path) -> str:
    # The winner writes its name right after taking the lock: give it a moment.
    for _ in range(20):
        holder = _read_holder(path)
        if holder:
            return _describe(holder)
        time.sleep(0.05)
    return "holder still starting"


def _describe(holder: dict) -> str:
    return f"host {holder.get('host', '?')}, pid {holder.get('pid', '?')}, started {holder.get('started', '?')}"
