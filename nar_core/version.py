"""The version of the code and settings behind a result row (issue 17): the package version, the
git commit when the package runs from a checkout, and :data:`nar_core.config.SETTINGS_VERSION`."""
from __future__ import annotations

import functools
import subprocess
from pathlib import Path

from . import __version__


_HERE = str(Path(__file__).resolve().parent)


def _git(repo: str, *args: str) -> subprocess.CompletedProcess | None:
    """``git -C repo args...``, or None where git cannot run."""
    try:
        return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None


@functools.lru_cache(maxsize=None)
def code_version() -> str:
    """``0.2.0`` or ``0.2.0+g1a2b3c4d`` (``-dirty`` with uncommitted changes) from a git checkout."""
    out = _git(_HERE, "describe", "--always", "--dirty", "--abbrev=8", "--match", "NO-TAGS-WANTED")
    rev = out.stdout.strip() if out is not None and out.returncode == 0 else ""
    return f"{__version__}+g{rev}" if rev else __version__


def _commit_of(version: str) -> str | None:
    """The commit a code version names (``0.2.0+g1a2b3c4d`` -> ``1a2b3c4d``); None for a bare release
    and for a ``-dirty`` version (uncommitted changes: no commit holds that code)."""
    _, _, sha = version.partition("+g")
    return sha if sha and all(c in "0123456789abcdef" for c in sha.lower()) else None


@functools.lru_cache(maxsize=None)
def is_ancestor(older: str, newer: str, repo: str | None = None) -> bool | None:
    """Whether the commit of code version ``older`` is an ancestor of (or is) ``newer``'s, in the git
    repository ``repo`` (default: the one this package runs from); None where git cannot say (a
    version without a commit, a commit that repository lacks, no git)."""
    a, b = _commit_of(older), _commit_of(newer)
    if a is None or b is None:
        return None
    out = _git(repo or _HERE, "merge-base", "--is-ancestor", a, b)
    if out is None or out.returncode not in (0, 1):  # 128: an unknown commit
        return None
    return out.returncode == 0


def newest_code(versions: list[str], repo: str | None = None) -> str | None:
    """The newest of several code versions: the one every other version's commit is an ancestor
    of. None where there is none (commits on diverged branches, a commit unknown to the repository,
    a ``-dirty`` or bare version): those cannot be ordered."""
    for v in versions:
        if all(o == v or is_ancestor(o, v, repo) for o in versions):
            return v
    return None
