"""Errors raised by nar_core.

Every error a user can cause (bad file, bad cell, bad config) is a :class:`NarError`; the CLI
prints its message and exits non-zero without a traceback.
"""
from __future__ import annotations

from pathlib import Path


class NarError(Exception):
    """Base class of every user-facing error in nar_core."""


class DataError(NarError):
    """A benchmark file is missing, truncated, corrupt or of the wrong format."""

    def __init__(self, path: str | Path, problem: str):
        self.path = str(path)
        # one line, whatever a library put in its message: the CLI prints exactly this line
        self.problem = "; ".join(line.strip() for line in str(problem).strip().splitlines() if line.strip())
        super().__init__(f"{self.path}: {self.problem}")


class UnknownCellError(NarError, KeyError):
    """A cell (architecture) is not in the search space or not in the benchmark."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else "unknown cell"


class ConfigError(NarError, ValueError):
    """A configuration or sweep spec is invalid (unknown key, out-of-range value)."""
