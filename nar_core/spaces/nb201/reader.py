"""Readers of NAS-Bench-201 data into one :class:`~nar_core.benchmarks.base.Benchmark` layout.

Three formats, same columns (see ``base.py``), keys = official index (int64):

* :func:`read_nb201_csv`: the CSV directory of the shared data (``nb201_accuracy.csv`` required;
  ``nb201_latency_ms.csv`` and ``nb201_hw_<dataset>.csv`` optional);
* :func:`read_nb201_pth`: the official ``NAS-Bench-201-v1_*.pth`` through the official
  ``nas_201_api`` package (200-epoch results, ``hp='200'``);
* :func:`read_nb201_cell_info`: the NAR authors' cell-information JSON;
* :func:`read_nb201_embedded`: the compact table shipped with the package (used when the user
  names no data and none is found; see ``nar_core/spaces/nb201/resources/README.md``).

Every problem with a file is one :class:`~nar_core.errors.DataError` naming the file.
"""
from __future__ import annotations

import contextlib
import io
from importlib import resources
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np

from ...benchmarks.base import Benchmark, check_column, read_csv_frame, read_json_file
from ...benchmarks.cache import cached_load
from ...errors import DataError, NarError
from .cells import EDGES, NUM_CELLS, _all_strings, index_to_ops, op_matrix, ops_to_index, parse_arch_str

ACCURACY_CSV = "nb201_accuracy.csv"
LATENCY_CSV = "nb201_latency_ms.csv"
HW_CSV = {"cifar10": "nb201_hw_cifar10.csv", "cifar100": "nb201_hw_cifar100.csv", "imagenet16": "nb201_hw_ImageNet16-120.csv"}
#: accuracy CSV column -> Benchmark column (README of the shared data gives the API equivalents)
CSV_COLUMNS: dict[str, str] = {
    "cifar10_valid_val": "cifar10_val",
    "cifar10_valid_test": "cifar10_valid_test",
    "cifar10_test": "cifar10_test",
    "cifar100_val": "cifar100_val",
    "cifar100_test": "cifar100_test",
    "imagenet16_val": "imagenet16_val",
    "imagenet16_test": "imagenet16_test",
    "cifar10_valid_val_12ep": "cifar10_val_12ep",
    "cifar100_val_12ep": "cifar100_val_12ep",
    "imagenet16_val_12ep": "imagenet16_val_12ep",
}
REQUIRED_CSV_COLUMNS = ("index", "arch_str") + tuple(list(CSV_COLUMNS)[:7])
#: device_batch column of the latency CSV that becomes ``latency_ms`` (NARQ2T's latency target)
MAIN_LATENCY = "1080ti_256"


# --- CSV ------------------------------------------------------------------------------------
def _check_rows(path: Path, frame) -> None:
    if "index" not in frame.columns:
        raise DataError(path, "missing column 'index'")
    if len(frame) != NUM_CELLS:
        raise DataError(path, f"has {len(frame)} rows, expected {NUM_CELLS} (one per NAS-Bench-201 cell)")
    idx = np.asarray(frame["index"])
    if not np.issubdtype(idx.dtype, np.integer) or not np.array_equal(idx, np.arange(NUM_CELLS)):
        bad = int(np.flatnonzero(idx.astype(str) != np.arange(NUM_CELLS).astype(str))[0])
        raise DataError(path, f"rows must be in official index order: row {bad} has index {idx[bad]!r}, expected {bad}")


def _numeric(path: Path, frame, col: str, missing_marker: float | None = None) -> np.ndarray:
    """A CSV column as floats, every value checked (``missing_marker``: the file's code for "not measured").

    Errors name the architecture (official index, and arch string where the file has one), not a row.
    """
    import pandas as pd

    index = frame["index"].to_numpy()
    arch = frame["arch_str"].astype(str).to_numpy() if "arch_str" in frame.columns else None

    def row_name(r: int) -> str:
        return f"architecture {index[r]}" + (f" ({arch[r]})" if arch is not None else "")

    values = pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=np.float64, copy=True)
    bad = np.isnan(values) & frame[col].notna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(path, f"column {col!r}, {row_name(row)}: {frame[col].iloc[row]!r} is not a number")
    if missing_marker is not None:
        values[values == missing_marker] = np.nan
    check_column(path, col, values, allow_missing=missing_marker is not None, row_name=row_name)
    return values


def csv_sources(path: str | os.PathLike) -> list[Path]:
    """Files the CSV reader reads for ``path`` (a directory or its accuracy CSV), accuracy first."""
    path = Path(path)
    acc = path / ACCURACY_CSV if path.is_dir() else path
    folder = acc.parent
    extra = [folder / LATENCY_CSV] + [folder / name for name in HW_CSV.values()]
    return [acc] + [p for p in extra if p.is_file()]


def read_nb201_csv(path: str | os.PathLike) -> Benchmark:
    """Read the NAS-Bench-201 CSV directory (or its ``nb201_accuracy.csv``).

    Checks that every file has 15,625 rows in official index order and that each row's arch
    string is the official string of its index. Adds ``latency_ms`` (the ``1080ti_256`` column)
    and ``latency_ms/<device_batch>`` from ``nb201_latency_ms.csv``, and ``hw/<dataset>/<metric>``
    from the HW-NAS-Bench files (-1, their marker of a missing measurement, becomes NaN).
    """
    sources = csv_sources(path)
    acc_path = sources[0]
    frame = read_csv_frame(acc_path)
    missing = [c for c in REQUIRED_CSV_COLUMNS if c not in frame.columns]
    if missing:
        raise DataError(acc_path, f"missing column(s) {', '.join(missing)}")
    _check_rows(acc_path, frame)
    strings = frame["arch_str"].astype(str).to_numpy()
    mismatch = np.flatnonzero(strings != _all_strings())
    if mismatch.size:
        r = int(mismatch[0])
        try:
            parse_arch_str(strings[r])
            why = f"is not the official string of index {r} ({_all_strings()[r]!r})"
        except NarError as exc:
            why = f"is invalid: {exc}"
        raise DataError(acc_path, f"row {r}: arch string {strings[r]!r} {why}")
    columns: dict[str, np.ndarray] = {}
    for col in frame.columns:
        if col in ("index", "arch_str"):
            continue
        columns[CSV_COLUMNS.get(col, col)] = _numeric(acc_path, frame, col)
    for extra in sources[1:]:
        table = read_csv_frame(extra)
        _check_rows(extra, table)
        if extra.name == LATENCY_CSV:
            for col in table.columns.drop("index"):
                name = "latency_ms" if col == MAIN_LATENCY else f"latency_ms/{col}"
                columns[name] = _numeric(extra, table, col)
        else:
            dataset = next(d for d, n in HW_CSV.items() if n == extra.name)
            for col in table.columns.drop("index"):
                columns[f"hw/{dataset}/{col}"] = _numeric(extra, table, col, missing_marker=-1)
    return _whole_space(columns, str(acc_path.parent if Path(path).is_dir() else acc_path),
                        {"format": "nb201-csv", "files": [str(s) for s in sources]})


def _whole_space(columns: dict[str, np.ndarray], source: str, meta: dict) -> Benchmark:
    """A benchmark holding every cell in official index order (the CSV and the embedded table)."""
    keys = np.arange(NUM_CELLS, dtype=np.int64)
    return Benchmark(space="nb201", keys=keys, columns=columns, cell_arrays={"ops": index_to_ops(keys)},
                     source=source, meta=meta)


# --- embedded table (package data) -----------------------------------------------------------
EMBEDDED_TABLE = "nb201_table.npz"
#: columns of the embedded table: every accuracy column of the CSV and the NARQ2T latency target
EMBEDDED_COLUMNS: tuple[str, ...] = (*CSV_COLUMNS.values(), "latency_ms")
#: decimals of each column in its source CSV: the int32 fixed point that stores it exactly
EMBEDDED_DECIMALS: dict[str, int] = {**{c: 6 for c in CSV_COLUMNS.values()}, "latency_ms": 5}
EMBEDDED_SOURCE = f"embedded NAS-Bench-201 table (nar_core/spaces/nb201/resources/{EMBEDDED_TABLE})"


def decode_fixed(values: np.ndarray, decimals: int) -> np.ndarray:
    """Floats of int fixed-point values; one correctly rounded division, so equal to the parsed decimal text."""
    return np.asarray(values, dtype=np.float64) / 10.0**decimals


def read_nb201_embedded() -> Benchmark:
    """The NAS-Bench-201 table shipped with the package (built by ``benchmarks/make_embedded_nb201.py``).

    All 15,625 cells: the 200-epoch ``*_val``/``*_test`` and 12-epoch ``*_val_12ep`` accuracies
    and ``latency_ms`` (GTX 1080 Ti, batch 256), equal to the shared CSVs.
    """
    where = resources.files(__package__).joinpath(f"resources/{EMBEDDED_TABLE}")
    try:
        with where.open("rb") as f, np.load(f, allow_pickle=False) as z:
            names = [str(n) for n in z["names"]]
            values, decimals = z["values"], z["decimals"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise DataError(str(where), f"the embedded table is unreadable ({exc}); reinstall nar_core") from None
    if values.shape != (len(names), NUM_CELLS) or decimals.shape != (len(names),):
        raise DataError(str(where), f"the embedded table has shape {values.shape}; reinstall nar_core")
    columns = {name: decode_fixed(values[i], int(decimals[i])) for i, name in enumerate(names)}
    for name, col in columns.items():
        check_column(str(where), name, col, row_name=lambda r: f"architecture {r}")
    return _whole_space(columns, EMBEDDED_SOURCE, {"format": "nb201-embedded", "files": [str(where)]})


# --- official .pth (nas_201_api) ------------------------------------------------------------
#: Benchmark column -> (hp, official dataset name, official set name)
PTH_METRICS: dict[str, tuple[str, str, str]] = {
    "cifar10_val": ("200", "cifar10-valid", "x-valid"),
    "cifar10_valid_test": ("200", "cifar10-valid", "ori-test"),
    "cifar10_test": ("200", "cifar10", "ori-test"),
    "cifar100_val": ("200", "cifar100", "x-valid"),
    "cifar100_test": ("200", "cifar100", "x-test"),
    "imagenet16_val": ("200", "ImageNet16-120", "x-valid"),
    "imagenet16_test": ("200", "ImageNet16-120", "x-test"),
    "cifar10_val_12ep": ("12", "cifar10-valid", "x-valid"),
    "cifar100_val_12ep": ("12", "cifar100", "x-valid"),
    "imagenet16_val_12ep": ("12", "ImageNet16-120", "x-valid"),
}
#: latency column -> official dataset name (the .pth stores seconds per batch; we store ms)
PTH_LATENCY: dict[str, str] = {
    "latency_ms/nb201_api": "cifar10-valid",
    "latency_ms/nb201_api_cifar100": "cifar100",
    "latency_ms/nb201_api_imagenet16": "ImageNet16-120",
}
# what a broken .pth or the official API's asserts can raise while loading
_LOAD_ERRORS = (
    AssertionError, KeyError, IndexError, TypeError, ValueError, AttributeError, EOFError, OSError,
    RuntimeError, pickle.UnpicklingError, zipfile.BadZipFile, UnicodeDecodeError,
)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _official_api(path: Path):
    """``NASBench201API`` over ``path``, every failure turned into one DataError."""
    import torch
    from nas_201_api import NASBench201API

    with contextlib.redirect_stdout(io.StringIO()):  # the official API prints progress
        try:
            # a path (not a dict) avoids the API's deepcopy of a multi-GB dict
            return NASBench201API(str(path), verbose=False)
        except pickle.UnpicklingError as exc:
            if "weights_only" not in str(exc).lower() and "weights only" not in str(exc).lower():
                raise DataError(path, f"not a readable NAS-Bench-201 .pth file ({_first_line(exc)})") from None
        except _LOAD_ERRORS as exc:
            raise DataError(path, f"not a valid NAS-Bench-201 .pth file ({_first_line(exc)})") from None
        # Newer torch only unpickles plain tensors/containers by default; the official files hold
        # more (they were written by torch 1.x). Reading them fully is what the official API does.
        try:
            data = torch.load(path, map_location="cpu", weights_only=False)
            return NASBench201API(data, verbose=False)
        except _LOAD_ERRORS as exc:
            raise DataError(path, f"not a valid NAS-Bench-201 .pth file ({_first_line(exc)})") from None


def read_nb201_pth(path: str | os.PathLike) -> Benchmark:
    """Read an official ``NAS-Bench-201-v1_*.pth`` through ``nas_201_api.NASBench201API``.

    Columns from the 200-epoch results (``hp='200'``, mean over seeds): ``cifar10_val``
    (``cifar10-valid``/``x-valid``), ``cifar10_valid_test``, ``cifar10_test`` (``cifar10``/
    ``ori-test``), ``cifar100_*`` and ``imagenet16_*`` (``x-valid``/``x-test``); the 12-epoch
    ``*_val_12ep`` where the file has them; the latency it stores as ``latency_ms/nb201_api``
    (``cifar10-valid``) and ``latency_ms/nb201_api_<dataset>``. One row per evaluated index.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(path, "file not found")
    api = _official_api(path)
    _check_meta_archs(path, api.meta_archs)
    keys = np.asarray(sorted(api.evaluated_indexes), dtype=np.int64)
    if not keys.size:
        raise DataError(path, "has no evaluated architectures")
    if keys.min() < 0 or keys.max() >= NUM_CELLS:
        raise DataError(path, f"evaluated index {int(keys.max())} out of range")
    def results_of(index: int):
        if index not in api.arch2infos_dict:
            raise DataError(path, f"evaluated architecture {index} has no results (arch2infos)")
        return api.arch2infos_dict[index]

    return _official_benchmark(path, keys, results_of, "nb201-pth")


def _check_meta_archs(path: Path, meta_archs) -> None:
    """The official architecture list must be NAS-Bench-201's, in official order."""
    meta_archs = np.asarray(list(meta_archs), dtype=object)
    if meta_archs.shape != (NUM_CELLS,):
        raise DataError(path, f"holds {len(meta_archs)} architectures, expected {NUM_CELLS}: not a NAS-Bench-201 file")
    bad = np.flatnonzero(meta_archs != _all_strings())
    if bad.size:
        b = int(bad[0])
        raise DataError(path, f"architecture {b} is {meta_archs[b]!r}, expected the official {_all_strings()[b]!r}")


def _official_benchmark(path: Path, keys: np.ndarray, results_of, fmt: str) -> Benchmark:
    """A Benchmark of the official API's results of ``keys`` (``.pth`` and NATS-Bench readers)."""
    columns = _columns_from_results(keys, results_of)
    for name, col in columns.items():  # unevaluated sets stay NaN; a value present must be possible
        check_column(path, name, col, allow_missing=True, row_name=lambda r: f"architecture {keys[r]}")
    if np.isnan(columns["cifar10_val"]).all():
        raise DataError(path, "has no 200-epoch cifar10-valid results (hp='200'); is it a NAS-Bench-201 v1_0/v1_1 file?")
    return Benchmark(
        space="nb201",
        keys=keys,
        columns={k: v for k, v in columns.items() if not np.isnan(v).all()},
        cell_arrays={"ops": index_to_ops(keys)},
        source=str(path),
        meta={"format": fmt, "files": [str(path)]},
    )


def _columns_from_results(keys: np.ndarray, results_of) -> dict[str, np.ndarray]:
    """Metric columns from the official ``ArchResults`` objects (``results_of(index)`` -> {hp: ArchResults}).

    A Python pass over the API's objects: unavoidable for a pickle of objects, and cached after.
    """
    columns = {name: np.full(len(keys), np.nan) for name in (*PTH_METRICS, *PTH_LATENCY)}
    for row, index in enumerate(keys.tolist()):
        results = results_of(index)
        for name, (hp, dataset, setname) in PTH_METRICS.items():
            arch = results.get(hp)
            if arch is None or dataset not in arch.dataset_seed:
                continue
            try:
                columns[name][row] = float(arch.get_metrics(dataset, setname, is_random=False)["accuracy"])
            except _LOAD_ERRORS:
                continue  # this set was not evaluated for this dataset/schedule
        arch = results.get("200")
        for name, dataset in PTH_LATENCY.items():
            if arch is not None and dataset in arch.dataset_seed:
                latency = arch.get_compute_costs(dataset)["latency"]
                if latency is not None and latency > 0:
                    columns[name][row] = 1000.0 * float(latency)
    return columns


# --- NAR cell-information JSON --------------------------------------------------------------
#: canonical dataset -> key prefix of accuracies/latency in the cell-information file
CELL_INFO_ACC = {"cifar10": "cifar10", "cifar100": "cifar100", "imagenet16": "imagenet16"}


def read_nb201_cell_info(path: str | os.PathLike) -> Benchmark:
    """Read the NAR authors' NAS-Bench-201 cell-information JSON.

    Per cell (keyed by official index): ``cell_adjacency`` (4x4 op-code matrix, entry [j][i] =
    op of edge i<-j), ``{dataset}_val_acc`` / ``{dataset}_test_acc`` (-> ``{dataset}_val`` /
    ``{dataset}_test``), optional ``{dataset}_latency`` (seconds -> ``latency_ms/nb201_api``
    for cifar10 and ``latency_ms/nb201_api_<dataset>``), and optional per-edge
    ``<name>_opt_flops``/``_opt_params`` and ``<name>_total_*``, which must equal the values
    computed by :mod:`.encoding` (a mismatch means a different skeleton).
    """
    from .encoding import CELL_INFO_NAMES, CELL_NAMES, edge_costs, network_cost

    path = Path(path)
    data = read_json_file(path, what="architecture")  # one architecture twice: refused, naming it
    if not isinstance(data, dict) or not data:
        raise DataError(path, "expected a non-empty JSON object keyed by architecture index")
    try:
        keys = np.array([int(k) for k in data], dtype=np.int64)
    except ValueError:
        bad = next(k for k in data if not str(k).lstrip("-").isdigit())
        raise DataError(path, f"key {bad!r} is not an architecture index") from None
    if keys.min() < 0 or keys.max() >= NUM_CELLS:
        raise DataError(path, f"architecture index {int(keys[(keys < 0) | (keys >= NUM_CELLS)][0])} out of range 0..{NUM_CELLS - 1}")
    entries = list(data.values())
    acc_keys = [f"{CELL_INFO_ACC[d]}_{s}_acc" for d in CELL_INFO_ACC for s in ("val", "test")]
    for key, entry in zip(data, entries):
        if not isinstance(entry, dict):
            raise DataError(path, f"cell {key}: expected an object, got {type(entry).__name__}")
        missing = [k for k in ("cell_adjacency", *acc_keys) if k not in entry]
        if missing:
            raise DataError(path, f"cell {key}: missing key(s) {', '.join(missing)}")
    try:
        adjacency = np.array([e["cell_adjacency"] for e in entries], dtype=np.int64)
    except (ValueError, TypeError):
        adjacency = None
    if adjacency is None or adjacency.shape != (len(entries), 4, 4):
        raise DataError(path, "cell_adjacency must be a 4x4 integer matrix for every cell")
    src, dst = np.array(EDGES).T
    ops = adjacency[:, src, dst]
    rebuilt = op_matrix(np.clip(ops, 0, 4))
    wrong = np.flatnonzero((ops < 0).any(1) | (ops > 4).any(1) | (rebuilt != adjacency).any((1, 2)))
    if wrong.size:
        r = int(wrong[0])
        raise DataError(path, f"cell {keys[r]}: cell_adjacency {adjacency[r].tolist()} is not a NAS-Bench-201 cell "
                        "(op codes 0..4 on the 6 edges above the diagonal, zeros elsewhere)")
    ops = ops.astype(np.int8)
    wrong = np.flatnonzero(ops_to_index(ops) != keys)
    if wrong.size:
        r = int(wrong[0])
        raise DataError(path, f"cell {keys[r]}: cell_adjacency is the cell of index {int(ops_to_index(ops)[r])}, not {keys[r]}")
    for r, e in enumerate(entries):
        if "arch_str" in e and e["arch_str"] != _all_strings()[keys[r]]:
            raise DataError(path, f"cell {keys[r]}: arch_str {e['arch_str']!r} does not match its cell_adjacency")

    def number_column(name: str, kind: str, scale: float = 1.0, allow_missing: bool = False) -> np.ndarray:
        try:
            values = np.array([float(e[name]) if e.get(name) is not None else np.nan for e in entries]) * scale
        except (TypeError, ValueError):
            r = next(i for i, e in enumerate(entries) if not isinstance(e.get(name), (int, float, type(None))))
            raise DataError(path, f"cell {keys[r]}: {name} = {entries[r][name]!r} is not a number") from None
        check_column(path, name, values, allow_missing=allow_missing, kind=kind, row_name=lambda r: f"architecture {keys[r]}")
        return values

    columns: dict[str, np.ndarray] = {}
    for ds, prefix in CELL_INFO_ACC.items():
        columns[f"{ds}_val"] = number_column(f"{prefix}_val_acc", f"{ds}_val")
        columns[f"{ds}_test"] = number_column(f"{prefix}_test_acc", f"{ds}_test")
    for ds, prefix in CELL_INFO_ACC.items():
        if any(f"{prefix}_latency" in e for e in entries):
            name = "latency_ms/nb201_api" if ds == "cifar10" else f"latency_ms/nb201_api_{ds}"
            columns[name] = number_column(f"{prefix}_latency", name, 1000.0, allow_missing=True)
    # the per-edge costs the file carries must be ours (same skeleton, same counting rules)
    for ds, name in CELL_INFO_NAMES.items():
        ef, ep = edge_costs(ops, ds)
        tf, tp = network_cost(ops, ds)
        for field, ours in ((f"{name}_opt_flops", ef), (f"{name}_opt_params", ep)):
            rows = [r for r, e in enumerate(entries) if field in e]
            try:
                theirs = np.array([[entries[r][field][c] for c in CELL_NAMES] for r in rows], dtype=np.int64)
                theirs = theirs.reshape(len(rows), len(CELL_NAMES), 6)
            except (KeyError, TypeError, ValueError):
                raise DataError(path, f"{field} must map {CELL_NAMES[0]}..{CELL_NAMES[-1]} to 6 integers in every cell") from None
            wrong = np.argwhere(theirs != ours[rows])
            if wrong.size:
                i, c = int(wrong[0][0]), int(wrong[0][1])
                raise DataError(path, f"cell {keys[rows[i]]}: {field}[{CELL_NAMES[c]}] = {theirs[i, c].tolist()} differs "
                                f"from the computed {ours[rows[i], c].tolist()}")
        for field, ours in ((f"{name}_total_flops", tf), (f"{name}_total_params", tp)):
            for r, e in enumerate(entries):
                if field in e and (not isinstance(e[field], (int, float)) or e[field] != int(ours[r])):
                    raise DataError(path, f"cell {keys[r]}: {field} = {e[field]!r} differs from the computed {int(ours[r])}")
    order = np.argsort(keys, kind="stable")
    return Benchmark(
        space="nb201",
        keys=keys[order],
        columns={k: v[order] for k, v in columns.items()},
        cell_arrays={"ops": ops[order]},
        source=str(path),
        meta={"format": "nb201-cell-info", "files": [str(path)]},
    )


# --- dispatch -------------------------------------------------------------------------------
def read_nb201_any(source: str | os.PathLike, *, cache: bool = True) -> Benchmark:
    """Read any supported NAS-Bench-201 source (file or NATS-Bench directory), cached if asked.

    Reader versions end in 2 since values are range-checked on load: caches of unchecked files are rebuilt.
    """
    source = Path(source)
    if source.is_dir() and source.name.startswith("NATS-tss"):
        return read_nats_tss(source)  # its own pickles are the cache (no single file to hash)
    if source.is_dir():
        source = source / ACCURACY_CSV
    suffix = source.suffix.lower()
    if suffix == ".pth":
        readers = ([source], lambda: read_nb201_pth(source), "pth2")
    elif suffix == ".json":
        readers = ([source], lambda: read_nb201_cell_info(source), "cellinfo2")
    elif suffix == ".csv":
        if not source.is_file():
            raise DataError(source, "file not found")
        readers = (csv_sources(source), lambda: read_nb201_csv(source), "csv2")
    else:
        raise DataError(source, "unknown NAS-Bench-201 file type (expected .pth, .json, .csv or a NATS-tss directory)")
    files, build, reader = readers
    if not files[0].is_file():
        raise DataError(files[0], "file not found")
    return cached_load(files, build, "nb201", reader) if cache else build()


def add_cost_columns(bench: Benchmark) -> Benchmark:
    """Add the computed whole-network ``{dataset}_flops`` / ``{dataset}_params`` columns."""
    from .encoding import network_cost

    for ds in ("cifar10", "cifar100", "imagenet16"):
        flops, params = network_cost(bench.cell_arrays["ops"], ds)
        bench.columns[f"{ds}_flops"] = flops.astype(np.float64)
        bench.columns[f"{ds}_params"] = params.astype(np.float64)
    return bench


# --- NATS-Bench topology search space (same 15,625 cells) -------------------------------------
def read_nats_tss(path: str | os.PathLike) -> Benchmark:
    """Read a NATS-Bench topology directory (``NATS-tss-v1_0-3ffb9-simple``) via ``nats_bench``.

    The topology search space of NATS-Bench is NAS-Bench-201's (same 15,625 cells, same order);
    columns as :func:`read_nb201_pth` (``hp='200'`` and ``'12'``). Rows: the architectures whose
    ``<index>.pickle.pbz2`` file is present.
    """
    path = Path(path)
    if not path.is_dir():
        raise DataError(path, "not a NATS-Bench directory")
    try:
        import nats_bench
    except ModuleNotFoundError:
        raise DataError(path, "reading NATS-Bench needs the official package: pip install nats_bench") from None

    with contextlib.redirect_stdout(io.StringIO()):
        try:
            api = nats_bench.create(str(path), "tss", fast_mode=True, verbose=False)
        except _LOAD_ERRORS as exc:
            raise DataError(path, f"not a valid NATS-Bench topology directory ({_first_line(exc)})") from None
    _check_meta_archs(path, api.meta_archs)
    present = sorted(int(p.name.split(".")[0]) for p in path.glob("*.pickle.pbz2") if p.name.split(".")[0].isdigit())
    keys = np.asarray(present, dtype=np.int64)
    if not keys.size:
        raise DataError(path, "holds no architecture files (<index>.pickle.pbz2)")

    def results_of(index: int):
        with contextlib.redirect_stdout(io.StringIO()):
            try:
                api.reload(str(path), index)
            except _LOAD_ERRORS as exc:
                raise DataError(path / f"{index:06d}.pickle.pbz2", f"unreadable ({_first_line(exc)})") from None
        return api.arch2infos_dict.pop(index)  # one architecture in memory at a time

    return _official_benchmark(path, keys, results_of, "nats-tss")
