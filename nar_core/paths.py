"""Where the benchmark data lives: one setting, ``NAR_DATA``.

Resolution order: an explicit path, then the ``NAR_DATA`` environment variable, then
``../shared/data`` next to the repository checkout, then ``../shared/data`` relative to the
working directory. When none of these holds NAS-Bench-201 data and ``NAR_DATA`` is unset,
:func:`nar_core.benchmarks.load_benchmark` reads the table shipped with the package.
"""
from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "NAR_DATA"
#: the folder of the papers' printed tables (``nar report``, ``nar tables``); default ../shared/reference/paper_results
PAPER_DIR_ENV = "NAR_PAPER_RESULTS"
_REPO_ROOT = Path(__file__).resolve().parents[1]


def default_data_dir() -> Path:
    """The data directory used when the user names none."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    beside_repo = _REPO_ROOT.parent / "shared" / "data"
    if beside_repo.is_dir():
        return beside_repo
    return Path.cwd().parent / "shared" / "data"


def resolve_data_dir(path: str | os.PathLike | None = None) -> Path:
    """``path`` if given, else :func:`default_data_dir`."""
    return Path(path).expanduser() if path is not None else default_data_dir()
