"""Atomic file writes and checksums: nothing a user ran is left half-written."""
from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import ConfigError

#: columns of a results table that hold identifiers, always text: read with
#: ``pd.read_csv(..., dtype=RESULT_TEXT_COLUMNS)`` and written through :func:`text_columns`. Read as
#: numbers, a hex digest such as 7e93081475621085 would become infinity, a code version such as 0.2
#: a float, an architecture written as digits (found_arch / found_key "01201120" of a plug-in
#: space) the number 1201120, and the health flags would not stay text when every row reads "ok"
RESULT_TEXT_COLUMNS = {name: str for name in (
    "config_hash", "data_fingerprint", "trial_id", "found_key", "found_arch", "code_version", "health",
    "space", "dataset", "method", "seeds", "data_source", "data_dir", "device", "status", "error", "params",
)}


def _as_text(value):
    """One identifier as text; None where missing. A float of a whole number (``541.0``: an int
    column that a missing value turned into floats) reads as the int it was (``"541"``)."""
    if value is None or isinstance(value, (list, tuple, dict)):
        return value  # missing, or not a scalar (JSON text in a CSV, a list in Parquet: the writer's choice)
    if isinstance(value, float):
        if value != value:  # NaN: missing
            return None
        if value.is_integer():
            return str(int(value))
    if hasattr(value, "item") and not isinstance(value, str):  # numpy scalars: their Python value's text
        return _as_text(value.item())
    return str(value)


def text_columns(df):
    """A copy of the DataFrame ``df`` whose :data:`RESULT_TEXT_COLUMNS` hold text (None where missing):
    what every results writer passes to ``to_csv`` / ``to_parquet``, so that an identifier made of
    digits is written, and typed in Parquet, as the string it is."""
    df = df.copy()
    for name in RESULT_TEXT_COLUMNS:
        if name in df.columns:
            df[name] = df[name].map(_as_text).astype(object)
    return df


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's directory; move it onto ``path`` on success.

    On any exception the temporary file is removed and ``path`` is untouched.
    ``suffix`` keeps an extension that a writer insists on (e.g. ``.npz`` for numpy).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # O_EXCL with mode 0o666 gives the usual umask-derived mode without reading the process umask
    # (os.umask is process-global: reading it races with other threads)
    while True:
        tmp_path = path.parent / f".{path.name}.{secrets.token_hex(6)}{suffix or '.tmp'}"
        try:
            os.close(os.open(tmp_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666))
            break
        except FileExistsError:
            continue
    try:
        yield tmp_path
        os.replace(tmp_path, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file, read in chunks (the official files are GBs)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def quick_stat(path: str | os.PathLike) -> dict[str, int]:
    """Size, mtime, ctime (ns) and inode: the cheap first check of a cache against its source file.

    ctime matters: any write sets it and no user tool can set it back, so a same-size edit whose
    mtime was restored (``touch -d``, ``os.utime``) still shows.
    """
    st = os.stat(path)
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ctime_ns": st.st_ctime_ns, "inode": st.st_ino}


def dir_writable(directory: str | os.PathLike) -> bool:
    """Whether we may write into ``directory`` (or create it: judged on its first existing parent).

    Checks the mode bits as well as ``os.access``: root may write anywhere, but a directory its
    owner marked read-only (the shared data directory is ``r-xr-xr-x``) must stay untouched.
    """
    d = Path(directory)
    while not d.exists() and d != d.parent:
        d = d.parent
    try:
        return d.is_dir() and os.access(d, os.W_OK) and bool(d.stat().st_mode & 0o222)
    except OSError:
        return False


def _sibling(path: Path) -> Path:
    """A name beside ``path`` that is free: ``results`` -> ``results_runs`` (then ``results_runs2``, ...)."""
    stem = path.stem if path.suffix else path.name
    for i in range(1, 100):
        candidate = path.with_name(f"{stem}_runs{i if i > 1 else ''}")
        if not candidate.exists():
            return candidate
    return path.with_name(f"{stem}_runs")


def check_output_dir(path: str | os.PathLike, flag: str = "--out") -> Path:
    """``path`` if results can be written there; a ConfigError naming ``flag`` otherwise. Creates nothing.

    Run before any work, so a file in the way or a read-only directory is found at once, not
    after the first result was computed and then lost.
    """
    out = Path(path).expanduser()
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{flag} {out}: is a file, not a directory; {flag} names a folder for the result "
                          f"tables: give a new or existing folder (e.g. {flag} {_sibling(out)}), or move the file away")
    existing = out
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise ConfigError(f"{flag} {out}: cannot create it, {existing} is a file; give a folder path whose "
                          f"parents are folders (e.g. {flag} {_sibling(existing)})")
    where = "it" if existing == out else f"its parent {existing}"
    if not dir_writable(existing):
        raise ConfigError(f"{flag} {out}: {where} is read-only; choose a writable directory")
    try:  # what the mode bits cannot show (a read-only mount, an ACL): try once
        fd, probe = tempfile.mkstemp(dir=existing, prefix=".nar-write-check-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigError(f"{flag} {out}: cannot write in {where} ({exc.strerror or exc})") from None
    return out
