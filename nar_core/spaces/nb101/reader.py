"""NAS-Bench-101 readers: official tfrecord, NAR cell-information JSON, the shared subset CSV.

Every reader returns a :class:`~nar_core.benchmarks.base.Benchmark` with ``space="nb101"``, one
row per unique cell, keys = official module hashes (``str``), cells as pruned padded arrays
(:mod:`.cells`) and the columns of the NAS-Bench-101 convention:

``cifar10_val``, ``cifar10_test``
    accuracy in % after 108 epochs, mean over the repeats (3 in the official data);
``cifar10_val@<e>``, ``cifar10_test@<e>``, ``train_seconds@<e>``
    the same for the other budgets of ``nasbench_full.tfrecord`` (e = 4, 12, 36);
``train_seconds``
    training time at 108 epochs (mean over repeats);
``params``
    trainable parameters as recorded by the source (NaN where it has none);
``cifar10_flops``, ``cifar10_params``
    whole-network FLOPs and parameters computed analytically (:mod:`.encoding`).

Sources: (a) the official tfrecords (read without TensorFlow, :mod:`.tfrecord`; slow, so they
go through the ``.npz`` cache of :mod:`nar_core.benchmarks.cache`); (b) the NAR cell-information JSON (a list of
cells like ``nasbench101_vertice_example.json``; its vertex FLOPs / parameters are checked
against the computation); (c) the subset CSV (``adjacency``, ``operations``, ``accuracy``:
one 108-epoch run, a fraction, of an undocumented split, read as ``cifar10_test``;
``cifar10_val`` is NaN).
"""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ...benchmarks.base import Benchmark, check_column, check_unique_keys, read_csv_frame, read_json_file
from ...errors import DataError, UnknownCellError
from .cells import OP_CODES, PAD, cells_from_specs, check_cells, module_hashes

__all__ = ["load_nb101", "read_nb101_tfrecord", "read_nb101_json", "read_nb101_csv", "TFRECORD_READER_VERSION"]

log = logging.getLogger(__name__)

#: bump when the reader's output or checks change (old caches are then rebuilt; 2: values range-checked)
TFRECORD_READER_VERSION = "tfr2"
JSON_READER_VERSION = "json2"
MAIN_EPOCHS = 108


def load_nb101(path: str | os.PathLike, *, cache: bool = True, verify_hashes: bool | None = None) -> Benchmark:
    """Read NAS-Bench-101 data from a ``.tfrecord``, a cell-information ``.json`` or a ``.csv``.

    Args:
        path: the file.
        cache: read the tfrecord / JSON through the validated ``.npz`` cache (second load in
            about a second).
        verify_hashes: recompute every module hash and compare with the stored one (JSON and
            tfrecord sources). ``None``: only for files of at most 20,000 cells (hashing costs
            about 0.1 ms per cell).

    Raises:
        DataError: naming the file (and the record or cell) for missing, truncated or corrupt data.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "no such file (NAS-Bench-101 .tfrecord, .json or .csv)")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return read_nb101_csv(path)
    if suffix == ".json":
        build = lambda: read_nb101_json(path, verify_hashes=verify_hashes)  # noqa: E731
        reader = JSON_READER_VERSION
    elif suffix in (".tfrecord", ".tfrecords", ".record"):
        build = lambda: read_nb101_tfrecord(path, verify_hashes=verify_hashes)  # noqa: E731
        reader = TFRECORD_READER_VERSION
    else:
        raise DataError(path, f"unknown NAS-Bench-101 file type {suffix!r}; expected .tfrecord, .json or .csv")
    if not cache:
        return build()
    from ...benchmarks.cache import cached_load

    return cached_load(path, build, space="nb101", reader=reader)


# --------------------------------------------------------------------------------------------
def _cost_columns(cells: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from .encoding import network_cost

    flops, params = network_cost(cells)
    return {"cifar10_flops": flops.astype(np.float64), "cifar10_params": params.astype(np.float64)}


def _cells_from_raw(path: Path, raw_adjacency: list[str], raw_operations: list[str]) -> dict[str, np.ndarray]:
    """Cell arrays from the tfrecord's digit strings and comma-separated ops, vectorised by size."""
    n = len(raw_adjacency)
    adj = np.zeros((n, 7, 7), dtype=np.uint8)
    ops = np.zeros((n, 7), dtype=np.int8)
    lengths = np.fromiter((len(a) for a in raw_adjacency), dtype=np.int64, count=n)
    for size in np.unique(lengths):
        dim = int(round(np.sqrt(size)))
        rows = np.flatnonzero(lengths == size)
        if dim * dim != size or not 2 <= dim <= 7:
            raise DataError(path, f"module {int(rows[0])}: adjacency string of length {size} is not a 2..7 square matrix")
        digits = np.frombuffer("".join(raw_adjacency[i] for i in rows).encode("ascii"), dtype=np.uint8) - ord("0")
        if np.any(digits > 1):
            raise DataError(path, f"module {int(rows[0])}: adjacency string holds characters other than 0/1")
        adj[rows, :dim, :dim] = digits.reshape(-1, dim, dim)
    codes_of: dict[str, np.ndarray] = {}  # distinct op strings are few (a few hundred)
    for i, s in enumerate(raw_operations):
        codes = codes_of.get(s)
        if codes is None:
            try:
                codes = np.array([OP_CODES[o.strip()] for o in s.split(",")], dtype=np.int8)
            except KeyError as exc:
                raise DataError(path, f"module {i}: unknown operation {exc.args[0]!r}") from None
            codes_of[s] = codes
        if len(codes) * len(codes) != lengths[i]:
            raise DataError(path, f"module {i}: {len(codes)} operations for a {lengths[i]}-entry adjacency")
        ops[i, : len(codes)] = codes
    cells = {"adjacency": adj, "ops": ops}
    try:
        check_cells(cells, what="module")
    except UnknownCellError as exc:
        raise DataError(path, str(exc)) from None
    return cells


def _check_hashes(path: Path, cells: dict[str, np.ndarray], keys: np.ndarray, verify: bool | None) -> None:
    if verify is None:
        verify = len(keys) <= 20_000
    if not verify:
        return
    computed = module_hashes(cells)
    bad = np.flatnonzero(computed != keys.astype(str))
    if len(bad):
        b = int(bad[0])
        raise DataError(path, f"cell {b}: stored module hash {keys[b]} differs from the official hash of its graph {computed[b]}")


def read_nb101_tfrecord(path: str | os.PathLike, *, verify_hashes: bool | None = None) -> Benchmark:
    """Read ``nasbench_only108.tfrecord`` or ``nasbench_full.tfrecord`` (no cache; see :func:`load_nb101`).

    Records are grouped by module hash (rows in sorted hash order); accuracies and training
    times are averaged over the repeats of each budget.
    """
    from .tfrecord import read_nasbench_tfrecord

    path = Path(path)
    rec = read_nasbench_tfrecord(path)
    keys_b, first, inverse = np.unique(rec.module_hash, return_index=True, return_inverse=True)
    n = len(keys_b)
    cells = _cells_from_raw(path, [rec.raw_adjacency[i] for i in first], [rec.raw_operations[i] for i in first])
    columns: dict[str, np.ndarray] = {}
    budgets = sorted(int(e) for e in np.unique(rec.epochs))
    if MAIN_EPOCHS not in budgets:
        raise DataError(path, f"no {MAIN_EPOCHS}-epoch records (budgets found: {budgets})")
    for e in budgets:
        m = rec.epochs == e
        count = np.bincount(inverse[m], minlength=n).astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = lambda x: np.bincount(inverse[m], weights=x[m], minlength=n) / count  # noqa: E731
            suffix = "" if e == MAIN_EPOCHS else f"@{e}"
            columns[f"cifar10_val{suffix}"] = 100.0 * mean(rec.validation_accuracy)
            columns[f"cifar10_test{suffix}"] = 100.0 * mean(rec.test_accuracy)
            columns[f"train_seconds{suffix}"] = mean(rec.train_seconds)
        if e == MAIN_EPOCHS:
            repeats = count
    params = rec.trainable_parameters[first].astype(np.float64)
    params[params < 0] = np.nan
    columns["params"] = params
    for name, col in columns.items():  # a budget a module lacks stays NaN; a value present must be possible
        check_column(path, name, col, allow_missing=True, row_name=lambda r: f"module {keys_b[r]}")
    columns.update(_cost_columns(cells))
    keys = keys_b.astype("U32")  # fixed width: the .npz cache stores no objects
    _check_hashes(path, cells, keys_b, verify_hashes)
    known = ~np.isnan(params)
    mismatch = int(np.sum(columns["cifar10_params"][known] != params[known]))
    if mismatch:
        log.warning("%s: computed parameters differ from the recorded ones for %d cells", path, mismatch)
    meta: dict[str, Any] = {
        "format": "nasbench tfrecord",
        "budgets": budgets,
        "records": len(rec),
        "repeats_min": int(repeats.min()) if n else 0,
        "repeats_max": int(repeats.max()) if n else 0,
        "params_mismatch": mismatch,
    }
    return Benchmark("nb101", keys, columns, cells, source=str(path), meta=meta)


def read_nb101_json(path: str | os.PathLike, *, verify_hashes: bool | None = None) -> Benchmark:
    """Read a NAR cell-information JSON (a list of cells as ``nasbench101_vertice_example.json``).

    Requires ``module_adjacency``, ``module_operations``, ``avg_validation_accuracy`` and
    ``avg_test_accuracy`` (fractions -> %, ``null`` where unknown) in every cell; uses
    ``unique_hash``, ``avg_training_time``, ``trainable_parameters`` where present;
    where a cell carries ``vertex_flops`` / ``vertex_params`` / ``flops`` they must equal the
    computation of :mod:`.encoding`.
    """
    from .encoding import MODULE_NAMES, network_cost, vertex_costs

    path = Path(path)
    data = read_json_file(path)
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data or not all(isinstance(c, dict) for c in data):
        raise DataError(path, "expected a non-empty list of cell objects")
    required = ("module_adjacency", "module_operations", "avg_validation_accuracy", "avg_test_accuracy")
    for i, c in enumerate(data):
        missing = [k for k in required if k not in c]
        if missing:
            raise DataError(path, f"cell {i}: missing field(s) {', '.join(missing)}")
    try:
        cells = cells_from_specs([c["module_adjacency"] for c in data], [c["module_operations"] for c in data], what="cell")
    except UnknownCellError as exc:
        raise DataError(path, str(exc)) from None
    if all("unique_hash" in c for c in data):
        for i, c in enumerate(data):
            h = c["unique_hash"]
            if not (isinstance(h, str) and len(h) == 32 and all(ch in "0123456789abcdef" for ch in h)):
                raise DataError(path, f"cell {i}: unique_hash {h!r} is not a 32-digit lowercase hex md5")
        keys = np.array([c["unique_hash"] for c in data], dtype="U32")
        _check_hashes(path, cells, keys, verify_hashes)
    else:
        keys = module_hashes(cells)

    def cell_name(r: int) -> str:  # a value error names the cell by its place in the list and its module
        return f"cell {r} (module {keys[r]})"

    def num(field: str, scale: float = 1.0) -> np.ndarray:
        out = np.full(len(data), np.nan)
        for i, c in enumerate(data):
            v = c.get(field)
            if v is not None:
                if not isinstance(v, (int, float)):
                    raise DataError(path, f"{cell_name(i)}: field {field!r} must be a number, got {v!r}")
                out[i] = float(v) * scale
        return out

    columns = {
        "cifar10_val": num("avg_validation_accuracy", 100.0),
        "cifar10_test": num("avg_test_accuracy", 100.0),
        "train_seconds": num("avg_training_time"),
        "params": num("trainable_parameters"),
    }
    fields = {"cifar10_val": "avg_validation_accuracy", "cifar10_test": "avg_test_accuracy",
              "train_seconds": "avg_training_time", "params": "trainable_parameters"}
    for name, col in columns.items():  # null is "unknown" in this format; a number must be possible
        check_column(path, fields[name], col, allow_missing=True, kind=name, row_name=cell_name)
    columns.update(_cost_columns(cells))
    flops, params = vertex_costs(cells)
    total_flops, _ = network_cost(cells)
    nv = (cells["ops"] != PAD).sum(axis=1)
    for i, c in enumerate(data):
        for field, mine in (("vertex_flops", flops), ("vertex_params", params)):
            given = c.get(field)
            if given is None:
                continue
            if not isinstance(given, dict) or set(given) != set(MODULE_NAMES):
                raise DataError(path, f"cell {i}: {field} must map {', '.join(MODULE_NAMES)} to vertex lists")
            for m, name in enumerate(MODULE_NAMES):
                expect = mine[i, m, : nv[i]].tolist()
                if given[name] != expect:  # a JSON list of numbers equals the list of ints it holds
                    raise DataError(path, f"cell {i}: {field}[{name}] = {given[name]!r} but the cell computes to {expect}")
        # trainable_parameters was checked to be a number by num() above
        for field, mine_total in (("flops", total_flops[i]), ("trainable_parameters", columns["cifar10_params"][i])):
            given = c.get(field)
            if given is not None and (not isinstance(given, (int, float)) or given != int(mine_total)):
                raise DataError(path, f"cell {i}: {field} = {given!r} but the cell computes to {int(mine_total)}")
    check_unique_keys(path, keys, row_name=lambda r: f"cell {r}", what="module hash")
    return Benchmark("nb101", keys, columns, cells, source=str(path), meta={"format": "nar cell information json"})


def read_nb101_csv(path: str | os.PathLike) -> Benchmark:
    """Read the shared subset CSV (``adjacency`` JSON, ``|``-separated ``operations``, ``accuracy``).

    ``accuracy`` is one 108-epoch run as a fraction of an undocumented split; it becomes
    ``cifar10_test`` in %, and ``cifar10_val`` is NaN. Keys are computed module hashes.
    """
    import pandas as pd

    path = Path(path)
    df = read_csv_frame(path)
    missing = [c for c in ("adjacency", "operations", "accuracy") if c not in df.columns]
    if missing:
        raise DataError(path, f"missing column(s) {', '.join(missing)} (have {', '.join(map(str, df.columns))})")
    if len(df) == 0:
        raise DataError(path, "no rows")
    matrices = []
    for i, a in enumerate(df["adjacency"].tolist()):
        try:
            matrices.append(json.loads(a))
        except (TypeError, ValueError):
            raise DataError(path, f"row {i}: adjacency is not a JSON matrix: {a!r}") from None
    ops = [str(o).split("|") for o in df["operations"].tolist()]
    try:
        cells = cells_from_specs(matrices, ops, what="row")
    except UnknownCellError as exc:
        raise DataError(path, str(exc)) from None
    keys = module_hashes(cells)
    check_unique_keys(path, keys, row_name=lambda r: f"row {r}", what="module hash")
    acc = pd.to_numeric(df["accuracy"], errors="coerce").to_numpy(dtype=np.float64)
    bad = np.flatnonzero(~(np.isfinite(acc) & (acc >= 0) & (acc <= 1)))
    if len(bad):
        r = int(bad[0])
        raise DataError(path, f"row {r} (module {keys[r]}): accuracy {df['accuracy'].iloc[r]!r} is not a fraction in [0, 1]")
    columns = {
        "cifar10_val": np.full(len(df), np.nan),
        "cifar10_test": 100.0 * acc,
        "params": np.full(len(df), np.nan),
    }
    columns.update(_cost_columns(cells))
    return Benchmark("nb101", keys, columns, cells, source=str(path), meta={"format": "subset csv"})
