"""The version of the code and settings behind a result row (issue 17): the package version, the
git commit when the package runs from a checkout, and :data:`nar_core.config.SETTINGS_VERSION`."""
from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from . import __version__


@functools.lru_cache(maxsize=None)
def code_version() -> str:
    """``0.2.0`` or ``0.2.0+g1a2b3c4`` (``.dirty`` with uncommitted changes) from a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "-C", str(here), "describe", "--always", "--dirty", "--abbrev=8",
                              "--match", "NO-TAGS-WANTED"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return __version__
    rev = out.stdout.strip()
    return f"{__version__}+g{rev}" if out.returncode == 0 and rev else __version__


def _commit_of(version: str) -> str | None:
    """The commit a code version names (``0.2.0+g1a2b3c4d`` -> ``1a2b3c4d``), None for a bare release."""
    _, _, local = version.partition("+g")
    sha = local.split(".", 1)[0]
    return sha if sha and all(c in "0123456789abcdef" for c in sha.lower()) else None


@functools.lru_cache(maxsize=None)
def commit_time(version: str, repo: str | None = None) -> int | None:
    """When the commit of a code version was made (seconds since the epoch), read from the git
    repository ``repo`` (default: the one this package runs from); None where it cannot be read
    (a bare release, a commit that repository lacks, no git)."""
    sha = _commit_of(version)
    if sha is None:
        return None
    where = repo or str(Path(__file__).resolve().parent)
    try:
        out = subprocess.run(["git", "-C", where, "log", "-1", "--format=%ct", sha, "--"], capture_output=True,
                             text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return int(text) if out.returncode == 0 and text.isdigit() else None


def newest_code(versions: list[str], repo: str | None = None) -> str | None:
    """The newest of several code versions by their commits' times; None where they cannot be
    ordered (a commit unknown to the repository, two versions of one commit such as ``.dirty``)."""
    times = [commit_time(v, repo) for v in versions]
    if any(t is None for t in times) or len(set(times)) < len(times):
        return None
    return max(zip(times, versions))[1]
