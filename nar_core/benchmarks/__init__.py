"""Benchmark data: one :class:`Benchmark` table for every format, and :func:`load_benchmark`.

``load_benchmark("nb201", path)`` reads, whichever the user has:

* a data directory in the shared layout (``<dir>/nb201/``, ``<dir>/nb101/``) or the space's own
  directory; inside it the official file is preferred (``NAS-Bench-201-v1_*.pth``, then a
  NATS-Bench ``NATS-tss-v1_0-3ffb9-simple`` directory), then ``nb201_accuracy.csv``, then a
  cell-information ``*.json``;
* a specific file: ``.pth`` (official NAS-Bench-201), ``.json`` (NAR cell information),
  ``.csv`` (the shared CSV layout), ``.tfrecord`` (NAS-Bench-101);
* ``None``: the default data directory (``NAR_DATA``, else ``../shared/data``); when
  ``NAR_DATA`` is unset and that directory holds no data of the space, the NAS-Bench-201 table
  shipped with the package (:func:`.nb201.read_nb201_embedded`), so a fresh install runs.

Slow official formats go through the ``.npz`` cache (:mod:`.cache`). The computed whole-network
``{dataset}_flops`` / ``{dataset}_params`` columns are added to every NAS-Bench-201 table.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import DataError
from ..paths import ENV_VAR, resolve_data_dir
from .base import DATASET_ALIASES, SPACE_DATASETS, Benchmark, canonical_dataset

__all__ = ["Benchmark", "DATASET_ALIASES", "SPACE_DATASETS", "canonical_dataset", "find_source", "load_benchmark"]


def _space_name(space: str) -> str:
    """Canonical space name (``"nb201"`` / ``"nb101"``); NarError for an unknown one."""
    from ..spaces import get_space

    return get_space(space).name


def find_source(space: str, path: str | os.PathLike | None = None) -> Path:
    """The file (or NATS-Bench directory) :func:`load_benchmark` would read for ``space``."""
    space = _space_name(space)
    root = resolve_data_dir(path)
    if not root.exists():
        raise DataError(root, f"no such file or directory (data for {space}; set NAR_DATA or pass a path)")
    if root.is_file():
        return root
    if root.is_dir() and root.name.startswith("NATS-tss"):
        return root
    folder = root / space if (root / space).is_dir() else root
    if space == "nb201":
        patterns = ("NAS-Bench-201-v1_*.pth", "NATS-tss-v1_*", "nb201_accuracy.csv", "*.json")
    else:
        patterns = ("nasbench_full.tfrecord", "nasbench_only108.tfrecord", "*.tfrecord", "*.csv", "*.json")
    for pattern in patterns:
        hits = sorted(folder.glob(pattern))
        if hits:
            return hits[-1]  # the newest version sorts last (v1_0 < v1_1)
    raise DataError(folder, f"no {space} data found (looked for {', '.join(patterns)})")


def load_benchmark(space: str, path: str | os.PathLike | None = None, *, cache: bool = True) -> Benchmark:
    """Read a benchmark of ``space`` (``"nb201"`` / ``"nb101"``) from ``path`` (see module doc).

    Raises :class:`~nar_core.errors.DataError` naming the file for missing/corrupt data.
    """
    space = _space_name(space)
    try:
        source = find_source(space, path)
    except DataError:
        # nothing named and nothing found: the embedded table, never in place of data the user gave
        if path is None and not os.environ.get(ENV_VAR) and space == "nb201":
            from . import nb201

            return nb201.add_cost_columns(nb201.read_nb201_embedded())
        raise
    if space == "nb101":
        from .nb101 import load_nb101

        return load_nb101(source, cache=cache)
    from . import nb201

    bench = nb201.read_nb201_any(source, cache=cache)
    return nb201.add_cost_columns(bench)
