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


def closest(value: object, choices) -> str | None:
    """The choice a typo of ``value`` most likely meant (None when none is close): the nearest
    number for numeric choices (``--budget 149`` -> 150), else the most similar text (difflib),
    case ignored."""
    choices = [str(c) for c in choices]
    if not choices:
        return None
    try:
        number = float(str(value))
        numbers = [float(c) for c in choices]
    except ValueError:
        pass
    else:
        if number != number:  # "nan": no number is near
            return None
        return min(zip(numbers, choices), key=lambda nc: abs(nc[0] - number))[1]
    import difflib

    lower = {c.lower(): c for c in choices}
    close = difflib.get_close_matches(str(value).lower(), list(lower), n=1, cutoff=0.5)
    return lower[close[0]] if close else None


def did_you_mean(value: object, choices) -> str:
    """`` (did you mean 'x'?)`` naming the closest of ``choices`` to ``value``; empty when none is close."""
    best = closest(value, choices)
    return f" (did you mean {best!r}?)" if best is not None else ""
