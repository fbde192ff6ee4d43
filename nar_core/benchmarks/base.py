"""One table-like interface for every benchmark (NAS-Bench-101, NAS-Bench-201, any plug-in space).

A :class:`Benchmark` is a column store: one row per cell, metric columns as numpy arrays
(vectorised work on whole columns), and the cells themselves as arrays that the space
module understands (``cell_arrays``). Each row has a key: the official index on
NAS-Bench-201, the official module hash on NAS-Bench-101.

Column names (same meaning in every reader of a space; a plug-in space names its own, with
``{dataset}_val`` and ``{dataset}_test`` for the accuracies the pipeline uses):

NAS-Bench-201 (``dataset`` in ``cifar10``, ``cifar100``, ``imagenet16``)
    ``{dataset}_val``, ``{dataset}_test``: 200-epoch accuracy in %, the papers' protocol
    (``cifar10_val`` is ``cifar10-valid``/``x-valid``; ``cifar10_test`` is ``cifar10``/``ori-test``);
    ``cifar10_valid_test``; ``{dataset}_val_12ep``; ``{dataset}_flops``, ``{dataset}_params``
    (whole network, computed analytically); ``latency_ms`` (GTX 1080 Ti, batch 256, the NARQ2T
    latency target) and ``latency_ms/<device_batch>`` for the other devices where known.
NAS-Bench-101 (``dataset`` is ``cifar10``)
    ``cifar10_val``, ``cifar10_test``: accuracy in % at 108 epochs (mean over repeats);
    ``cifar10_val@<epochs>``/``cifar10_test@<epochs>`` for other budgets of the full file;
    ``train_seconds``; ``params`` (trainable parameters); ``cifar10_flops``/``cifar10_params``.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from ..errors import DataError, NarError, UnknownCellError

#: (low, high, what) of every column kind; a value outside is a broken file, never a result
_ACCURACY_RANGE = (0.0, 100.0, "an accuracy in %")
_COST_RANGE = (0.0, np.inf, "a non-negative cost")


def value_range(name: str) -> tuple[float, float, str]:
    """Allowed values of a metric column, by its kind: accuracies in [0, 100] %, costs (latency,
    time, FLOPs, parameters, energy, hardware metrics) non-negative."""
    base = name.split("@")[0]
    if base.endswith(("_val", "_test", "_val_12ep")):
        return _ACCURACY_RANGE
    return _COST_RANGE


def check_column(
    path: str | os.PathLike, name: str, values: np.ndarray, *, allow_missing: bool = False,
    row_name: Callable[[int], str] | None = None, kind: str | None = None,
) -> None:
    """DataError naming the file, column and row of the first value that cannot be a measurement.

    Missing values (NaN, an empty cell) are errors unless ``allow_missing`` (formats whose
    sources leave some metrics unevaluated); infinities and out-of-range values always are. An
    accuracy column (in %) whose every value lies in [0, 1] holds fractions (0.93 for 93 %): refused,
    with the advice to multiply it by 100, since every cell would otherwise rank as a 1 % network.
    ``row_name(i)`` names row ``i`` as the file does: the architecture (its key or text) where the
    format is keyed by architecture, else ``row i`` (the default, 0-based data rows);
    ``kind`` is the Benchmark column whose range applies when the file's own name (``name``) differs.
    """
    low, high, what = value_range(kind or name)
    values = np.asarray(values, dtype=np.float64)
    missing = np.isnan(values)
    with np.errstate(invalid="ignore"):
        bad = (values < low) | (values > high) | np.isinf(values)
    if not allow_missing:
        bad |= missing
    if bad.any():
        r = int(np.flatnonzero(bad)[0])
        where = row_name(r) if row_name else f"row {r}"
        problem = "is missing (empty or NaN)" if missing[r] else f"{float(values[r])!r} is not {what} (allowed {low:g} to {high:g})"
        raise DataError(path, f"column {name!r}, {where}: value {problem}")
    if (low, high, what) == _ACCURACY_RANGE and not missing.all():
        largest = float(np.nanmax(values))
        if 0 < largest <= 1:
            r = int(np.nanargmax(values))
            where = row_name(r) if row_name else f"row {r}"
            raise DataError(path, f"column {name!r}: every value is between 0 and 1 (the largest, at {where}, is "
                            f"{largest:g}), so it holds fractions, but accuracies are read in % (0 to 100): "
                            "multiply the column by 100 (0.93 -> 93)")


def check_unique_keys(path: str | os.PathLike, keys: Iterable[Any], *, row_name: Callable[[int], str] | None = None,
                      what: str = "key") -> None:
    """DataError naming every duplicated key (the first three) and both rows of each: a benchmark
    holds each architecture once. Kept silently, the last copy would replace the first (a JSON
    object) or both would count (ranks, tiers, the search's candidates), and the results be wrong.
    ``row_name(i)`` names row ``i`` as the file does (default ``row i``)."""
    items = np.asarray(keys).tolist() if not isinstance(keys, list) else keys
    if len(set(items)) == len(items):
        return
    first: dict[Any, int] = {}
    dups: list[tuple[Any, int, int]] = []
    for i, k in enumerate(items):
        if k in first:
            dups.append((k, first[k], i))
        else:
            first[k] = i
    name = row_name or (lambda r: f"row {r}")
    shown = "; ".join(f"{what} {k!r} appears twice ({name(a)} and {name(b)})" for k, a, b in dups[:3])
    more = f" (and {len(dups) - 3} more)" if len(dups) > 3 else ""
    raise DataError(path, f"{shown}{more}; each architecture must appear once: remove the extra copies")


def read_csv_frame(path: str | os.PathLike, dtype: Mapping[str, Any] | None = None):
    """A CSV file as a pandas DataFrame; one DataError naming the file if it cannot be read.

    ``dtype`` as in ``pandas.read_csv``: ``{"arch": str}`` keeps a column of architectures written
    as digits (``"01201120"``) as text, leading zeros and all, where pandas would read numbers.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    try:
        return pd.read_csv(path, low_memory=False, dtype=dtype)
    except (OSError, ValueError, UnicodeDecodeError) as exc:  # pandas' parser errors are ValueErrors
        raise DataError(path, f"not a readable CSV file ({' '.join(str(exc).split())})") from None


def read_json_file(path: str | os.PathLike, what: str = "key") -> Any:
    """The parsed content of a JSON file; one DataError naming the file if it cannot be read.

    A key repeated in one object is refused (``json`` would keep its last copy silently): the
    message names it, as ``what`` (e.g. "architecture") in the top-level object, and the two
    positions of its copies among that object's entries.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    repeated: list[tuple[dict, list[tuple[str, int, int]]]] = []  # objects with a repeated key

    def pairs_to_dict(pairs: list[tuple[str, Any]]) -> dict:
        out = dict(pairs)
        if len(out) != len(pairs):
            first: dict[str, int] = {}
            reps = []
            for i, (k, _) in enumerate(pairs):
                if k in first:
                    reps.append((k, first[k], i))
                else:
                    first[k] = i
            repeated.append((out, reps))
        return out

    try:
        with open(path, "rb") as f:
            data = json.load(f, object_pairs_hook=pairs_to_dict)
    except OSError as exc:
        raise DataError(path, f"cannot read: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:  # JSONDecodeError is a ValueError
        raise DataError(path, f"not valid JSON ({exc})") from None
    if repeated:
        top = [reps for obj, reps in repeated if obj is data]
        reps, label = (top[0], what) if top else (repeated[0][1], "key")
        place = "of the top-level object" if top else "of one object"
        shown = "; ".join(f"{label} {k!r} appears twice (entries {a} and {b} {place}, counted from 0)"
                          for k, a, b in reps[:3])
        more = f" (and {len(reps) - 3} more)" if len(reps) > 3 else ""
        raise DataError(path, f"{shown}{more}; JSON would keep only the last copy: remove the extra copies")
    return data


@dataclass
class Benchmark:
    """A tabular benchmark: metrics of every cell it holds, as columns.

    Attributes:
        space: the name of its search space (``"nb201"``, ``"nb101"``, a plug-in's).
        keys: one key per row (int official index, or str module hash).
        columns: metric name -> float array of length ``len(self)``. NaN where unknown.
        cell_arrays: the cells, as arrays the space module reads (nb201: ``ops`` (n, 6) int8;
            nb101: ``adjacency`` (n, 7, 7) uint8 and ``ops`` (n, 7) int8, padded).
        source: where the data came from (a path or a description), for messages and logs.
    """

    space: str
    keys: np.ndarray
    columns: dict[str, np.ndarray]
    cell_arrays: dict[str, np.ndarray]
    source: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
    _row_of_key: dict[Any, int] | None = field(default=None, init=False, repr=False, compare=False)
    _fingerprint: str | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        n = len(self.keys)
        for name, col in {**self.columns, **self.cell_arrays}.items():
            if len(col) != n:
                raise NarError(f"benchmark {self.source}: column {name!r} has {len(col)} rows, expected {n}")
        # one row per architecture: a repeated key would give wrong ranks and a wrong row_of_key
        check_unique_keys(self.source or f"{self.space} benchmark", self.keys)

    def __len__(self) -> int:
        return len(self.keys)

    # --- rows -------------------------------------------------------------------------
    def _index(self) -> dict[Any, int]:
        if self._row_of_key is None:
            self._row_of_key = {k.item() if hasattr(k, "item") else k: i for i, k in enumerate(self.keys)}
        return self._row_of_key

    def row_of_key(self, key: Any) -> int:
        """Row of a cell key; :class:`UnknownCellError` naming it if the benchmark lacks it."""
        try:
            return self._index()[key]
        except (KeyError, TypeError):
            raise UnknownCellError(f"cell {key!r} is not in the {self.space} benchmark ({self.source})") from None

    def rows_of_keys(self, keys: Iterable[Any]) -> np.ndarray:
        return np.fromiter((self.row_of_key(k) for k in keys), dtype=np.int64)

    def has_key(self, key: Any) -> bool:
        try:
            return key in self._index()
        except TypeError:  # unhashable: not a key
            return False

    def fingerprint(self) -> str:
        """SHA-256 (16 hex digits) of the loaded content: keys, every column and every cell array.

        Results record it so that a resumed run never reuses rows computed on other data (another
        file, another ``NAR_DATA``, an edited file), whatever the reader or the cache did.
        """
        if self._fingerprint is None:
            h = hashlib.sha256(self.space.encode())
            for kind, arrays in (("keys", {"": np.asarray(self.keys)}), ("col", self.columns), ("cell", self.cell_arrays)):
                for name in sorted(arrays):
                    a = np.ascontiguousarray(arrays[name])
                    h.update(f"{kind}:{name}:{a.dtype.str}:{a.shape}".encode())
                    h.update(a.tobytes() if a.dtype != object else "\x00".join(map(str, a.ravel())).encode())
            self._fingerprint = h.hexdigest()[:16]
        return self._fingerprint

    # --- columns ----------------------------------------------------------------------
    def column(self, name: str) -> np.ndarray:
        """A whole metric column (read-only view)."""
        try:
            col = self.columns[name]
        except KeyError:
            raise NarError(
                f"benchmark {self.source} has no column {name!r}; available: {', '.join(sorted(self.columns))}"
            ) from None
        view = col.view()
        view.flags.writeable = False
        return view

    def metrics(self, row: int) -> dict[str, float]:
        """All metrics of one row, as plain floats."""
        return {name: float(col[row]) for name, col in self.columns.items()}

    def best(self, name: str) -> tuple[int, float]:
        """(row, value) of the maximum of a column (NaN ignored; first row on ties)."""
        col = self.column(name)
        if len(col) == 0 or np.isnan(col).all():
            raise NarError(f"benchmark {self.source}: column {name!r} has no values")
        row = int(np.nanargmax(col))
        return row, float(col[row])

    def subset(self, rows: np.ndarray, source_suffix: str = "subset") -> "Benchmark":
        rows = np.asarray(rows)
        return Benchmark(
            space=self.space,
            keys=self.keys[rows],
            columns={k: v[rows] for k, v in self.columns.items()},
            cell_arrays={k: v[rows] for k, v in self.cell_arrays.items()},
            source=f"{self.source} [{source_suffix}]",
            meta=dict(self.meta),
        )

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Flat dict of arrays (for the .npz cache): keys, ``col:<name>``, ``cell:<name>``."""
        out: dict[str, np.ndarray] = {"keys": np.asarray(self.keys)}
        out.update({f"col:{k}": v for k, v in self.columns.items()})
        out.update({f"cell:{k}": v for k, v in self.cell_arrays.items()})
        return out

    @classmethod
    def from_arrays(cls, space: str, arrays: Mapping[str, np.ndarray], source: str = "", meta=None) -> "Benchmark":
        return cls(
            space=space,
            keys=np.asarray(arrays["keys"]),
            columns={k[4:]: np.asarray(v) for k, v in arrays.items() if k.startswith("col:")},
            cell_arrays={k[5:]: np.asarray(v) for k, v in arrays.items() if k.startswith("cell:")},
            source=source,
            meta=dict(meta or {}),
        )
