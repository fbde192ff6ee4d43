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
