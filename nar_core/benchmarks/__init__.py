"""Benchmark data: one :class:`Benchmark` table for every format, and :func:`load_benchmark`.

``load_benchmark("nb201", path)`` reads, through the space's plug-in (its ``read`` and
``data_patterns``; :mod:`nar_core.spaces`), whichever the user has:

* a data directory in the shared layout (``<dir>/nb201/``, ``<dir>/nb101/``) or the space's own
  directory; inside it the official file is preferred (``NAS-Bench-201-v1_*.pth``, then a
  NATS-Bench ``NATS-tss-v1_0-3ffb9-simple`` directory), then ``nb201_accuracy.csv``, then a
  cell-information ``*.json``;
* a specific file: ``.pth`` (official NAS-Bench-201), ``.json`` (NAR cell information),
  ``.csv`` (the shared CSV layout), ``.tfrecord`` (NAS-Bench-101);
* ``None``: the default data directory (``NAR_DATA``, else ``../shared/data``); when
  ``NAR_DATA`` is unset and that directory holds no data of the space, the table the space
  ships with the package (NAS-Bench-201: :func:`nar_core.spaces.nb201.reader.read_nb201_embedded`), so a fresh install runs.

Slow official formats go through the ``.npz`` cache (:mod:`.cache`). The computed whole-network
``{dataset}_flops`` / ``{dataset}_params`` columns are added to every NAS-Bench-201 table.
"""
from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from ..errors import DataError
from ..paths import ENV_VAR, resolve_data_dir
from .base import Benchmark, check_column

__all__ = ["Benchmark", "check_column", "find_source", "load_benchmark"]


def find_source(space: str, path: str | os.PathLike | None = None) -> Path:
    """The file (or directory) :func:`load_benchmark` would read for ``space``."""
    from ..spaces import get_space

    sp = get_space(space)
    root = resolve_data_dir(path)
    if not root.exists():
        raise DataError(root, f"no such file or directory (data for {sp.name}: {', '.join(sp.data_patterns)}); "
                        + _where_data_goes(sp, root, found_folder=False))
    if root.is_file():
        return root
    if any(fnmatch.fnmatch(root.name, pattern) for pattern in sp.data_patterns):
        return root  # a directory that is itself a source (a NATS-Bench directory)
    folder = root / sp.name if (root / sp.name).is_dir() else root
    found = sp.find_source(folder)
    if found is None:
        what = "is empty" if not any(folder.iterdir()) else "holds no file it reads"
        raise DataError(folder, f"no {sp.name} data found: the folder {what} (looked for "
                        f"{', '.join(sp.data_patterns)}); {_where_data_goes(sp, root)}")
    return found


def _where_data_goes(sp, root: Path, found_folder: bool = True) -> str:
    """How to fix a missing data source: where the files go, and what else may be named."""
    from ..spaces import SearchSpace

    fix = f"put one of those files in {root} or {root / sp.name}, or point" if found_folder else "point"
    fix += (f" --data (or {ENV_VAR}) at the folder or file that holds it; "
            f"`nar data info --space {sp.name} --data PATH` checks a path")
    if type(sp).embedded is not SearchSpace.embedded:  # the space ships a table with the package
        fix += f"; with neither --data nor {ENV_VAR}, the {sp.name} table shipped with the package is used"
    return fix


def load_benchmark(space: str, path: str | os.PathLike | None = None, *, cache: bool = True) -> Benchmark:
    """Read a benchmark of ``space`` (a registered space name) from ``path`` (see module doc).

    Raises :class:`~nar_core.errors.DataError` naming the file for missing/corrupt data.
    """
    from ..spaces import get_space

    sp = get_space(space)
    try:
        source = find_source(sp.name, path)
    except DataError:
        # nothing named and nothing found: the table shipped with the package, never in place of data the user gave
        embedded = sp.embedded() if path is None and not os.environ.get(ENV_VAR) else None
        if embedded is None:
            raise
        return embedded
    return sp.read(source, cache=cache)
