"""Search spaces: the plug-in interface (:class:`SearchSpace`), its registry, and the built-in
spaces, each one package shaped like a user's plug-in (:mod:`.nb201`, :mod:`.nb101`: cells,
encoding, reader, plug-in class).

A space is found by name in the registry: the built-in ones, those registered with
:func:`register_space`, those other packages declare as entry points in the group
``nar_core.spaces`` (``name = "package.module:SpaceClass"``), and those named in the environment
variable ``NAR_SPACES`` (``name=module:Class``, comma-separated; the module importable, e.g. from
``PYTHONPATH``), for a plug-in that is not an installed package. See ``docs/search_spaces.md``.
"""
from __future__ import annotations

import importlib
import os
import threading

from ..errors import NarError, did_you_mean
from .base import CellArrays, SearchSpace, resolve_dataset

__all__ = ["CellArrays", "SearchSpace", "canonical_dataset", "get_space", "register_space", "resolve_dataset",
           "space_names", "unregister_space"]

ENTRY_POINT_GROUP = "nar_core.spaces"
SPACES_ENV = "NAR_SPACES"
# built-in plug-ins, imported on first use ("module:attribute"); the first is the default space
_BUILTIN = {"nb201": "nar_core.spaces.nb201:NB201Space", "nb101": "nar_core.spaces.nb101:NB101Space"}
_registry: dict[str, SearchSpace | str] = dict(_BUILTIN)  # name -> space, or where to import it from
_entry_points_read = False
_lock = threading.RLock()  # Ray trials may share a process; re-entrant: loading a plug-in may look up spaces


def _key(name: str) -> str:
    """Lookup key of a space name: case, '-' and '_' ignored, "nasbench" read as "nb"."""
    return str(name).lower().replace("-", "").replace("_", "").replace("nasbench", "nb")


def _read_entry_points() -> None:
    global _entry_points_read
    if _entry_points_read:
        return
    from importlib.metadata import entry_points

    declared = [(ep.name, ep.value) for ep in entry_points(group=ENTRY_POINT_GROUP)]
    for item in (v.strip() for v in os.environ.get(SPACES_ENV, "").split(",")):
        name, sep, where = (part.strip() for part in item.partition("="))
        if item and not (sep and name and where.count(":") == 1 and all(where.split(":"))):
            raise NarError(f"{SPACES_ENV}: {item!r} is not name=module:Class "
                           f"(e.g. {SPACES_ENV}=chain=chain:ChainSpace, with chain.py's folder on PYTHONPATH)")
        if item:
            declared.append((name, where))
    for name, where in declared:
        if not any(_key(n) == _key(name) for n in _registry):
            _registry[name] = where
    _entry_points_read = True


def _names_class(where: str, cls: type) -> bool:
    """Whether ``"module:attr"`` (a built-in's or an entry point's) names ``cls``.

    Resolved by import, not compared as text: a package names the class it re-exports
    (``nar_core.spaces.nb201:NB201Space`` is defined in ``nar_core.spaces.nb201.space``), and a Ray
    worker registering the space it was sent must find it the same as the registry's entry.
    """
    module, _, attr = where.partition(":")
    if where == f"{cls.__module__}:{cls.__qualname__}":
        return True
    try:
        return getattr(importlib.import_module(module), attr) is cls
    except (ImportError, AttributeError):
        return False


def register_space(space: SearchSpace, *, replace: bool = False) -> SearchSpace:
    """Make ``space`` available by its ``name`` to ``--space``, configs and the whole pipeline.

    Registering the same object (or an equal one: same class and name) again is a no-op; another
    space under a taken name is refused unless ``replace``.
    """
    if not isinstance(space, SearchSpace):
        raise NarError(f"register_space: expected a SearchSpace instance, got {type(space).__name__}")
    for attr in ("name", "datasets", "feature_shape", "num_cells"):
        if not hasattr(space, attr):
            raise NarError(f"register_space: {type(space).__name__} lacks the attribute {attr!r}")
    with _lock:
        _read_entry_points()
        taken = next((n for n in _registry if _key(n) == _key(space.name)), None)
        if taken is not None and not replace:
            current = _registry[taken]
            same = current is space or (isinstance(current, str) and _names_class(current, type(space))) or (
                isinstance(current, SearchSpace) and type(current) is type(space))
            if not same:
                raise NarError(f"register_space: a search space named {space.name!r} is already registered")
        if taken is not None:
            del _registry[taken]
        _registry[space.name] = space
    return space


def unregister_space(name: str) -> None:
    """Remove a space registered with :func:`register_space` (built-in spaces come back on next use)."""
    with _lock:
        for n in [n for n in _registry if _key(n) == _key(name)]:
            del _registry[n]
            if n in _BUILTIN:
                _registry[n] = _BUILTIN[n]


def space_names() -> tuple[str, ...]:
    """Names of every available space, the default (NAS-Bench-201) first."""
    with _lock:
        _read_entry_points()
        return tuple(_registry)


def get_space(name: str) -> SearchSpace:
    """The (stateless, shared) space object registered under ``name``."""
    with _lock:
        _read_entry_points()
        found = next((n for n in _registry if _key(n) == _key(name)), None)
        if found is None:
            raise NarError(f"unknown search space {name!r}{did_you_mean(name, _registry)}; "
                           f"expected one of {', '.join(_registry)}")
        entry = _registry[found]
        if isinstance(entry, str):
            module, _, attr = entry.partition(":")
            try:
                obj = getattr(importlib.import_module(module), attr)
            except (ImportError, AttributeError) as exc:
                raise NarError(f"search space {found!r}: cannot load {entry} ({exc})") from None
            entry = obj() if isinstance(obj, type) else obj
            if not isinstance(entry, SearchSpace):
                raise NarError(f"search space {found!r}: {_registry[found]} is not a SearchSpace")
            _registry[found] = entry
        return entry


def canonical_dataset(name: str, space: str | None = None) -> str:
    """Canonical dataset name of ``space`` (or, with no space, of any registered space)."""
    if space is not None:
        return get_space(space).canonical_dataset(name)
    for s in space_names():
        try:
            return get_space(s).canonical_dataset(name)
        except NarError:
            continue
    known = sorted({d for s in space_names() for d in get_space(s).datasets})
    raise NarError(f"unknown dataset {name!r}; expected one of {', '.join(known)}")
