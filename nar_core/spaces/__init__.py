"""Search spaces: NAS-Bench-201 (:mod:`.nb201`) and NAS-Bench-101 (:mod:`.nb101`)."""
from __future__ import annotations

from ..errors import NarError
from .base import CellArrays, SearchSpace

__all__ = ["CellArrays", "SearchSpace", "get_space", "space_names"]

_SPACES: dict[str, SearchSpace] = {}


def get_space(name: str) -> SearchSpace:
    """The (stateless, shared) space object for ``"nb201"`` or ``"nb101"``."""
    key = str(name).lower().replace("-", "").replace("_", "").replace("nasbench", "nb")
    if key not in _SPACES:
        if key == "nb201":
            from .nb201 import NB201Space as cls
        elif key == "nb101":
            from .nb101 import NB101Space as cls
        else:
            raise NarError(f"unknown search space {name!r}; expected 'nb201' or 'nb101'")
        _SPACES[key] = cls()
    return _SPACES[key]


def space_names() -> tuple[str, ...]:
    """Names of the available search spaces, the default first."""
    return ("nb201", "nb101")
