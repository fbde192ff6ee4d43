"""Our result rows -> one table per paper table: selection, labelling, seed aggregation, join with the paper.

Two inputs, both tidy CSV tables:

* our results: ``DIR/results.csv`` of ``nar run --out DIR`` (one row per seed), a sweep's
  ``<storage>/<name>/results.csv`` (one row per trial and seed), or the copies under ``results/``.
  Columns: every field of :class:`~nar_core.config.ExperimentConfig` plus the metrics; sweeps add
  ``trial_id``, ``status``, ``error``. Extra columns are ignored, missing optional ones tolerated.
* the papers' tables: ``shared/reference/paper_results/*.csv`` (long format, one printed number per
  row, ``stat`` in mean/std/best). Their numbers are read from those files, never typed here.

Every row of ours is tagged with where it ran (``ours_bench``: benchmark and dataset, and the
device and precision when not the CPU in fp32: ``NB201 CIFAR-10 (cuda)``), its budget (``ours_budget``:
the queries its config actually made over its seeds, ``queries_total``, e.g. ``129-130 (budget 150)``
for a top-1 row run with the cells and iterations of the budget table's 150-query row; ``_budget_row``
is that row's name, or ``other``, and what comparisons group by) and its
settings (``ours_settings``: the preset of :data:`nar_core.config.PRESETS` its config matches, or
``custom``; ``superseded`` for a row of an older :data:`~nar_core.config.SETTINGS_VERSION`). A table
groups by these as well as by its row keys, so runs on another benchmark, at another budget or with
other settings are never averaged together. The aggregation itself is
:func:`nar_core.aggregate.seed_stats`, the project's one definition (mean, sample std, best, n).

Two more tags, for the verdicts (:mod:`.verdicts`), which never judge with such rows:

* superseded: a row without ``settings_version`` (or with a lower one than
  :data:`~nar_core.config.SETTINGS_VERSION`) was produced before the defaults last changed (issue 17).
  The presets changed meaning since, so it is not matched against them: its settings read
  ``superseded``. Tables still show it, as a row of its own (history). A row of a config that was
  re-run at a newer ``code_version`` is superseded too (:func:`_rerun_of`); its settings read
  ``<preset>, code <commit> (superseded)``.
* flagged: a row whose ``health`` (:mod:`nar_core.ranker.health`) is present and not ``ok`` comes
  from a ranker that did not learn (``tiers at chance``, ``one tier predicted``, ``tau at chance``).
  Tables keep it in their means and count it (``ours_flagged``); a row with no ``health`` (an older
  row, or a baseline without a ranker) is not flagged.

A row whose ablation knobs that the table does not sweep differ from the defaults of its settings
is not part of the table (``loose=True`` keeps it).
"""
from __future__ import annotations

import glob
import json
import os
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from ..aggregate import seed_stats
from ..spaces import canonical_dataset, space_names
from ..config import CHOICES, DEFAULT_PRESET, PRESETS, SETTINGS_VERSION, ExperimentConfig
from ..errors import DataError, NarError
from ..io import RESULT_TEXT_COLUMNS
from ..paths import PAPER_DIR_ENV
from ..version import newest_code
from ..budget import budget_of
from .registry import (
    DATASET_LABEL, HELD_KNOBS, LOWER_IS_BETTER, METRICS, STRING_KNOBS, NoMatchingRowsError, TableSpec, col,
    get_table, num_label, str_col,
)

__all__ = ["paper_results_dir", "load_results", "DuplicateRunError", "RUN_KEY", "queries_label", "load_paper_table", "held_defaults", "select_rows",
           "labelled_rows", "aggregate", "build_table", "budgets", "GROUP_COLUMNS", "describe", "SUPERSEDED",
           "superseded_mask", "health_of", "flags_of", "superseded_files"]

_REPO_ROOT = Path(__file__).resolve().parents[2]
# where, at which budget and with which settings a row ran: never averaged across
GROUP_COLUMNS = ("ours_bench", "ours_budget", "ours_settings")
#: the settings label of a row of an older settings version (never judged, shown as history)
SUPERSEDED = "superseded"
#: ``health`` of a ranker that learned; anything else but empty is a flag ("; "-joined)
HEALTH_OK = "ok"
#: the dataset of a paper table without a dataset column: our rows on another one get no paper numbers
PAPER_DATASET = "cifar10"
# Budget columns: not filtered, but reported under each table so a reader sees short runs.
BUDGET_COLUMNS = ("train_size", "val_size", "epochs", "search_iterations")
# Config columns that do not change the result (where it ran, where the data was).
_NOT_IDENTITY = frozenset({"data_dir", "device", "num_threads"})
#: what a run is keyed by, beside its config: where and how it computed, on which data, and which
#: code produced it (settings version and code version). Two rows of one key are one run; a
#: comparison never mixes devices, precisions or code versions.
RUN_KEY = ("_device", "_precision", "settings_version", "_data", "_code")
#: the value of ``precision`` for rows without the column (every run before it existed was fp32)
DEFAULT_PRECISION = "fp32"
#: metrics two rows of one run must agree on (else :class:`DuplicateRunError`)
_AGREE = ("test_acc", "test_acc_valpick")
_BUDGET_KEYS = frozenset({"train_size", "val_size", "search_iterations", "top_k", "batch_size", "sample_size",
                          "epochs"})


# ------------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------------
def paper_results_dir(path: str | os.PathLike | None = None) -> Path:
    """The papers' CSV folder: ``path``, else ``$NAR_PAPER_RESULTS``, else ``../shared/reference/paper_results``."""
    if path is not None:
        d = Path(path).expanduser()
    elif os.environ.get(PAPER_DIR_ENV):
        d = Path(os.environ[PAPER_DIR_ENV]).expanduser()
    else:
        d = _REPO_ROOT.parent / "shared" / "reference" / "paper_results"
        if not d.is_dir():
            d = Path.cwd().parent / "shared" / "reference" / "paper_results"
    if not d.is_dir():
        raise DataError(d, f"paper results folder not found (pass --paper-dir or set {PAPER_DIR_ENV})")
    return d


class DuplicateRunError(DataError):
    """Two rows of one run (same config, seed, device, precision, data, settings and code version) disagree."""


EXPECTED = ("expected result tables: CSV files with one row per run and seed (columns space, dataset, method, "
            "seed, the config and the metrics), as `nar run --out DIR` writes DIR/results.csv, a sweep writes "
            "<storage>/<name>/results.csv, or the copies under results/ (results/*.csv)")


def _expand(paths: Iterable[str | os.PathLike]) -> list[tuple[Path, str]]:
    """Each results file with its name for a reader: ``<folder name>/<path below it>`` for a file
    found in a folder (the same wherever the folder lies), the file's name for a file given."""
    files: list[tuple[Path, str]] = []
    for p in paths:
        p = Path(p).expanduser()
        if p.is_dir():
            # results/<sweep>.csv (the committed copies) and <storage>/<name>/results.csv at any depth;
            # not every CSV below (Ray Tune's per-trial progress.csv is no results table), nor the
            # side tables beside a results.csv (the summary.csv of `nar run --out DIR`)
            top = [] if (p / "results.csv").is_file() else glob.glob(str(p / "*.csv"))
            found = sorted({Path(f) for f in top}
                           | {Path(f) for f in glob.glob(str(p / "**" / "results.csv"), recursive=True)})
            if not found:
                raise DataError(p, f"folder holds no results table; {EXPECTED}")
            name = p.resolve().name
            files.extend((f, "/".join(x for x in (name, f.relative_to(p).as_posix()) if x)) for f in found)
        elif p.is_file():
            files.append((p, p.name))
        else:
            raise DataError(p, "results file not found")
    return files


def load_results(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Read and stack results tables (files, or folders: their ``*.csv`` and any ``results.csv`` below).

    Keeps rows of finished runs only (``status`` ok where a sweep wrote one), normalises the
    dataset name and adds ``_device`` (``cpu``, ``cuda``: the ``device`` column without its index),
    ``_precision`` (the ``precision`` column, ``fp32`` where absent). A run is a pure function of its
    config, seed, device, precision and settings version (:data:`RUN_KEY`; the config is every config
    column less ``data_dir``/``device``/``num_threads``, the fields ``config_hash`` hashes): rows of
    one run that agree on ``test_acc`` and ``test_acc_valpick`` count once, rows that disagree are a
    :class:`DuplicateRunError` naming both files and rows, never a choice by file order. Adds
    ``_source`` (the file), ``_file`` (its name for a reader), ``_row`` (its line in the file),
    ``queries_budget`` (train + val cells + iterations x top-k, as planned), ``_config`` (which config
    less its seed, an id within this frame) and ``_config_text`` (its fields that vary in the frame,
    a JSON object of field -> value as text), the group columns
    :data:`GROUP_COLUMNS`, ``_budget_row``, ``_bench``, ``_version``, ``_superseded``
    (:func:`superseded_mask`) and ``_health`` (:func:`health_of`).
    A CSV without the columns of a results table is refused (a foreign folder), naming the file.
    """
    if not paths:
        raise NarError("no results given (use --results PATH [PATH ...])")
    frames = []
    for f, label in _expand(paths):
        try:
            df = pd.read_csv(f, dtype=RESULT_TEXT_COLUMNS)
        except pd.errors.EmptyDataError:
            raise DataError(f, "results file is empty") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise DataError(f, f"not a readable CSV table ({exc})") from None
        missing = [c for c in ("space", "dataset", "method", "seed") if c not in df.columns]
        if missing:
            raise DataError(f, f"not a results table: missing column(s) {', '.join(missing)}; {EXPECTED}")
        df["_row"] = np.arange(len(df)) + 2  # the line in the file (after the header)
        if "found_key" in df.columns:  # a sweep table with pending rows wrote the NB201 index 541 as 541.0
            df["found_key"] = df["found_key"].str.replace(r"^(\d+)\.0$", r"\1", regex=True)
        df["_source"] = str(f)
        df["_file"] = label
        frames.append(df)
    df = pd.concat(frames, ignore_index=True, sort=False)
    df = df[finished_mask(df)].copy()
    df["space"] = str_col(df["space"])
    df["method"] = str_col(df["method"])
    df["dataset"] = [_canonical_or_same(x, s) for x, s in zip(str_col(df["dataset"]), df["space"])]
    if "settings_version" in df.columns:  # a re-run under new settings is another run than its superseded row
        df["settings_version"] = pd.to_numeric(df["settings_version"], errors="coerce")
    else:
        df["settings_version"] = np.nan
    df["_device"] = device_kind(str_col(col_or(df, "device", "cpu")))
    df["_precision"] = str_col(col_or(df, "precision", DEFAULT_PRECISION)).replace("", DEFAULT_PRECISION)
    if "precision" in df.columns:  # a row from before the column ran in fp32: the same config as a row saying so
        df["precision"] = df["_precision"]
    # the data a run read (Benchmark.fingerprint): one config and seed on two benchmark files (the
    # full NB101 and its 2,500-cell subset) are two runs, never pooled or paired
    df["_data"] = str_col(col_or(df, "data_fingerprint", "")).str.slice(0, 8)
    # the code that produced the row (nar_core.version.code_version): a re-run at a newer commit
    # is another run, and supersedes the older one (:func:`_rerun_of`)
    df["_code"] = str_col(col_or(df, "code_version", ""))
    for m in METRICS:
        if m in df.columns:
            df[m] = pd.to_numeric(df[m], errors="coerce")
    df = _one_row_per_run(df, config_columns(df) + list(RUN_KEY))
    # which config (less its seed) a row ran: rows of two configs are never paired as one row; and
    # its settings that vary across these tables (JSON, field -> value as text), to say how two differ
    cfg = [c for c in config_columns(df) if c != "seed"]
    df["_config"] = df.groupby(cfg, dropna=False, sort=False).ngroup()
    one = df.drop_duplicates("_config").set_index("_config")[cfg].astype(str)
    varying = [c for c in cfg if one[c].nunique() > 1]
    df["_config_text"] = df["_config"].map({k: json.dumps(dict(zip(varying, r)))
                                            for k, r in zip(one.index, one[varying].to_numpy())})
    return _tag(df)


def finished_mask(df: pd.DataFrame) -> pd.Series:
    """True for the rows of finished runs: ``status`` ok, or no status written."""
    if "status" not in df.columns:
        return pd.Series(True, index=df.index, dtype=bool)
    return str_col(df["status"]).isin(["ok", ""])


def device_kind(device: pd.Series) -> pd.Series:
    """A device as runs are keyed by it: ``cpu``, ``cuda`` (without its index: ``cuda:1`` is ``cuda``)."""
    return device.replace("", "cpu").str.replace(r"^cuda(:\d+)?$", "cuda", regex=True)


def col_or(df: pd.DataFrame, name: str, default: object) -> pd.Series:
    """``df[name]``, or ``default`` on every row when the column is absent."""
    return df[name] if name in df.columns else pd.Series(default, index=df.index, dtype=object)


def config_columns(df: pd.DataFrame) -> list[str]:
    """The config columns of ``df`` that identify a run's config (``config_hash``'s fields, seed included)."""
    return [c for c in ExperimentConfig.__dataclass_fields__ if c in df.columns and c not in _NOT_IDENTITY]


def _same_value(a: float, b: float) -> bool:
    return (np.isnan(a) and np.isnan(b)) or a == b


def _one_row_per_run(df: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """Rows of one run (equal ``key``) kept once when they agree; :class:`DuplicateRunError` when not."""
    dup = df.duplicated(subset=key, keep=False).to_numpy(bool)
    if dup.any():
        agree = [m for m in _AGREE if m in df.columns]
        for _, g in df[dup].groupby(key, dropna=False, sort=False):
            first = g.iloc[0]
            for _, other in g.iloc[1:].iterrows():
                bad = [m for m in agree if not _same_value(float(first[m]), float(other[m]))]
                if bad:
                    what = "; ".join(f"{m} {first[m]:g} vs {other[m]:g}" for m in bad)
                    h = first.get("config_hash", "")
                    cfg = f"config {h}" if isinstance(h, str) and h else "one config"
                    raise DuplicateRunError(
                        first["_file"], f"row {first['_row']} and {other['_file']} row {other['_row']} are the same run "
                        f"({cfg}, seed {first['seed']}, device {first['_device']}, precision {first['_precision']}, "
                        f"settings_version {_version_text(first['settings_version'])}, code {first['_code'] or 'unrecorded'}) "
                        f"but disagree: {what}. A run is "
                        f"a pure function of these, so one of the two rows is wrong or stale: remove it (no row is "
                        f"chosen by file order)")
    return df[~df.duplicated(subset=key, keep="first").to_numpy(bool)].reset_index(drop=True)


def _version_text(v: object) -> str:
    v = pd.to_numeric(pd.Series([v]), errors="coerce").iloc[0]
    return "none (1)" if pd.isna(v) else f"{int(v)}"


def queries_label(made: Sequence[float], row: str) -> str:
    """A budget as the queries made: ``150``; ``129-130 (budget 150)`` for a run with the cells and
    iterations of the budget table's row 150 that made 129 to 130 queries (top-1, repeats free);
    ``57 (other)`` off the table; the row's name alone where no ``queries_total`` was recorded."""
    made = [m for m in np.asarray(made, float) if not np.isnan(m)]
    if not made:
        return row
    lo, hi = int(min(made)), int(max(made))
    text = f"{lo}" if lo == hi else f"{lo}-{hi}"
    if row == "other":
        return f"{text} (other)"
    return text if text == row else f"{text} (budget {row})"


def _canonical_or_same(name: str, space: str) -> str:
    try:
        return canonical_dataset(name, space if space in space_names() else None)
    except NarError:
        return name


def _tag(df: pd.DataFrame) -> pd.DataFrame:
    short = {"nb101": "NB101", "nb201": "NB201"}
    df["_bench"] = [f"{short.get(s, s)} {DATASET_LABEL.get(d, d)}" for s, d in zip(df["space"], df["dataset"])]
    where = [("" if (d, p) == ("cpu", DEFAULT_PRECISION) else f" ({d}" + ("" if p == DEFAULT_PRECISION else f", {p}") + ")")
             for d, p in zip(df["_device"], df["_precision"])]
    df["ours_bench"] = [b + w for b, w in zip(df["_bench"], where)]
    if len(df):
        several = df.groupby("_bench")["_data"].transform(lambda s: s[s != ""].nunique() > 1).astype(bool)
        if several.any():
            df.loc[several, "ours_bench"] = [f"{b} [data {d}]" for b, d in zip(df.loc[several, "ours_bench"],
                                                                            df.loc[several, "_data"])]
    shape = [c for c in ("train_size", "val_size", "search_iterations", "epochs", "batch_size") if c in df.columns]
    df["_budget_row"] = [budget_of(r) for r in df[shape].to_dict("records")] if shape else "other"
    df["_version"] = df["settings_version"]
    made = pd.to_numeric(col_or(df, "queries_total", np.nan), errors="coerce")
    config = ["_config", *RUN_KEY]
    frame = df[config].assign(_made=made)
    lo = frame.groupby(config, dropna=False, sort=False)["_made"].transform("min")
    hi = frame.groupby(config, dropna=False, sort=False)["_made"].transform("max")
    df["ours_budget"] = [queries_label([a, b], r) for a, b, r in zip(lo, hi, df["_budget_row"])]
    if {"train_size", "val_size", "search_iterations", "top_k"} <= set(df.columns):
        df["queries_budget"] = (pd.to_numeric(df["train_size"], errors="coerce") + pd.to_numeric(df["val_size"], errors="coerce")
                                + pd.to_numeric(df["search_iterations"], errors="coerce")
                                * pd.to_numeric(df["top_k"], errors="coerce"))
    else:
        df["queries_budget"] = np.nan
    df["_superseded"] = superseded_mask(df)
    df["_health"] = health_of(df)
    df["ours_settings"] = settings_of(df)
    defaults = held_defaults(df)  # once per load, from each row's preset: every table and claim filters on them
    for k in HELD_KNOBS:
        df[f"_held_{k}"] = defaults[k]
    # a config re-run at a newer code version: its older rows are history, labelled apart in the
    # tables (never averaged with the re-run or with rows of an older settings version), never judged
    df["_rerun"], df["_rerun_lost"] = _rerun_of(df)
    old = (df["_rerun"] != "").to_numpy(bool)
    if old.any():
        df.loc[old, "ours_settings"] = [f"{s}, code {short_code(c)} (superseded)" for s, c in
                                        zip(df.loc[old, "ours_settings"], df.loc[old, "_code"])]
        df.loc[old, "_superseded"] = True
    return df


# ------------------------------------------------------------------------------------------------
# superseded and flagged rows
# ------------------------------------------------------------------------------------------------
def superseded_mask(df: pd.DataFrame) -> pd.Series:
    """True for a row of an older settings version: ``settings_version`` missing (version 1, before
    issue 17), empty, or below :data:`~nar_core.config.SETTINGS_VERSION`; after :func:`load_results`,
    also for a row of a config re-run at a newer code version (``_superseded``)."""
    if "_superseded" in df.columns:  # computed by load_results
        return df["_superseded"].astype(bool)
    if "settings_version" not in df.columns:
        return pd.Series(True, index=df.index, dtype=bool)
    version = pd.to_numeric(df["settings_version"], errors="coerce")
    return ~(version >= SETTINGS_VERSION)  # NaN: no version, superseded


def short_code(code: str) -> str:
    """A code version as a reader scans it: the commit (``06ac28c4``), else the version as written."""
    _, _, local = str(code).partition("+g")
    return local or str(code) or "unrecorded"


def _rerun_of(df: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """For each row of the current settings version whose config (with its device, precision and
    data) was also run at a newer code version: that newer version (``""`` for every other row),
    and whether the row's seed is missing at the newer version (a seed the re-run did not repeat,
    lost to the verdicts until it is).

    The newest code version is the one every other version's commit is an ancestor of, in this
    repository (:func:`nar_core.version.newest_code`). Versions it cannot order (diverged branches,
    a commit it lacks, a ``-dirty`` or unrecorded version) are a :class:`~nar_core.errors.DataError`
    naming the files, never a choice by file order."""
    out = pd.Series("", index=df.index, dtype=object)
    lost = pd.Series(False, index=df.index, dtype=bool)
    cur = df[~df["_superseded"].to_numpy(bool)]
    if cur.empty:
        return out, lost
    key = ["_config"] + [k for k in RUN_KEY if k != "_code"]
    codes = cur.groupby(key, dropna=False, sort=False)["_code"].transform("nunique")
    several = cur[(codes > 1).to_numpy(bool)]
    for _, g in several.groupby(key, dropna=False, sort=False):
        versions = sorted(set(g["_code"]))
        newest = newest_code(versions, str(_REPO_ROOT))
        if newest is None:
            files = ", ".join(sorted(set(g["_file"])))
            hashes = sorted({h for h in str_col(col_or(g, "config_hash", "")) if h})
            raise DataError(g["_file"].iloc[0], (
                f"one config ({'config ' + ' / '.join(hashes) if hashes else 'no config_hash recorded'}) was run at "
                f"code versions {', '.join(v or 'unrecorded' for v in versions)} (in {files}), which this repository "
                f"cannot order (commits on diverged branches, a commit it lacks, a -dirty or an unrecorded version): "
                f"move the rows of the older code out of the results folder (no row is chosen by file order)"))
        is_old = (g["_code"] != newest).to_numpy(bool)
        out.loc[g.index[is_old]] = newest
        redone = set(g.loc[~is_old, "seed"])
        lost.loc[g.index[is_old]] = [sd not in redone for sd in g.loc[is_old, "seed"]]
    return out, lost


def health_of(df: pd.DataFrame) -> pd.Series:
    """Each row's ``health`` as text: ``ok``, the flags (``"; "``-joined), or ``""`` where none was
    recorded (no ``health`` column, or a method without a ranker)."""
    if "_health" in df.columns:  # computed by load_results
        return df["_health"].astype(str)
    if "health" not in df.columns:
        return pd.Series("", index=df.index, dtype=object)
    return str_col(df["health"])


def flags_of(health: pd.Series) -> pd.Series:
    """The flags of each row (a list; empty for ``ok`` and for rows without a recorded health)."""
    return health.map(lambda h: [] if h in ("", HEALTH_OK) else [f.strip() for f in str(h).split(";") if f.strip()])


def superseded_files(df: pd.DataFrame) -> pd.DataFrame:
    """The superseded rows per file: ``file``, ``rows``, ``settings_version`` (``1 (none)`` where
    the file has no such column), ``superseded by`` (the settings version, or the newer code
    version its config was re-run at) and ``seeds not re-run`` (of a re-run config: rows whose seed
    the newer code did not repeat, out of every verdict until it does), in file order."""
    columns = ["file", "rows", "settings_version", "superseded by", "seeds not re-run"]
    if df.empty:
        return pd.DataFrame(columns=columns)
    old = df[superseded_mask(df).to_numpy(bool)]
    if old.empty:
        return pd.DataFrame(columns=columns)
    file = old["_file"] if "_file" in old.columns else old.get("_source", pd.Series("results", index=old.index))
    version = (pd.to_numeric(old["settings_version"], errors="coerce") if "settings_version" in old.columns
               else pd.Series(np.nan, index=old.index))
    label = [f"{int(v)}" if not pd.isna(v) else "1 (none)" for v in version]
    rerun = old["_rerun"] if "_rerun" in old.columns else pd.Series("", index=old.index)
    why = [f"a re-run at code {short_code(r)}" if r else f"settings version {SETTINGS_VERSION}" for r in rerun]
    lost = (old["_rerun_lost"] if "_rerun_lost" in old.columns else pd.Series(False, index=old.index)).astype(int)
    out = (pd.DataFrame({"file": file.astype(str).to_numpy(), "settings_version": label, "superseded by": why,
                         "lost": lost.to_numpy()})
           .groupby(["file", "settings_version", "superseded by"], sort=True)
           .agg(rows=("lost", "size"), lost=("lost", "sum")).reset_index())
    out["seeds not re-run"] = [str(n) if w.startswith("a re-run") else "" for n, w in zip(out["lost"], out["superseded by"])]
    return out[columns]


# ------------------------------------------------------------------------------------------------
# settings (presets) and the defaults a table holds
# ------------------------------------------------------------------------------------------------
def _preset_keys(space: str, configs: Sequence[dict]) -> list[str]:
    """Config fields a preset decides: the fields ``PRESETS`` names, those its configs differ in, and
    the switches of :data:`~nar_core.config.CHOICES` (each value names its source: a run that flips
    one follows no preset).

    Reads ``PRESETS`` either per space (``{preset: {space: fields}}``) or flat (``{preset: fields}``, the
    per-space values then coming from the space itself), so both layouts name the same fields.
    """
    fields = set(ExperimentConfig.__dataclass_fields__)
    keys: set[str] = set(CHOICES) & fields
    for p in PRESETS.values():
        keys |= set(p[space]) if isinstance(p.get(space), dict) else {k for k in p if k in fields}
    if configs:
        keys |= {k for k in configs[0] if any(c.get(k) != configs[0].get(k) for c in configs[1:])}
    return sorted(keys - _BUDGET_KEYS - {"seed", "dataset", "method", "space"})


def _preset_config(space: str, preset: str, dataset: str, method: str) -> dict | None:
    try:
        return ExperimentConfig.for_space(space, preset, dataset=dataset, method=method).to_dict()
    except NarError:
        return None


def _same(a: object, b: object) -> bool:
    if isinstance(b, str) or isinstance(a, str):
        return str(a) == str(b)
    try:
        return bool(np.isclose(float(a), float(b)))
    except (TypeError, ValueError):
        return False


def settings_of(df: pd.DataFrame, ignore: Iterable[str] = HELD_KNOBS) -> pd.Series:
    """The preset (``PRESETS``) each row's config follows on the fields the presets set, else ``custom``;
    :data:`SUPERSEDED` for a row of an older settings version (:func:`superseded_mask`: the presets
    changed meaning since, so it is matched against none of them).

    The ablation knobs (``ignore``) are left out: a row of an ablation varies one of them on
    purpose and keeps its settings' name. Where several presets match (``default`` and ``authors``
    differ in an ablation knob only, the rank-loss factor), the one whose values of those knobs the
    row has most of wins, then the first in ``PRESETS`` order.
    """
    out = pd.Series("custom", index=df.index, dtype=object)
    old = superseded_mask(df).to_numpy(bool)
    out[old] = SUPERSEDED
    if not {"space", "dataset", "method"} <= set(df.columns) or df.empty or old.all():
        return out
    cur = df[~old]
    ignore = set(ignore)
    for (space, dataset, method), idx in cur.groupby(["space", "dataset", "method"], sort=False).groups.items():
        configs = {name: _preset_config(space, name, dataset, method) for name in PRESETS}
        known = [c for c in configs.values() if c is not None]
        keys = [k for k in _preset_keys(space, known) if k in df.columns and k not in ignore]
        knobs = sorted(k for k in ignore if k in df.columns)
        sub = df.loc[idx]
        best = pd.Series(-1, index=idx)
        for name, cfg in configs.items():
            if cfg is None:
                continue
            hit = np.ones(len(sub), bool)
            for k in keys:
                hit &= np.array([_same(v, cfg[k]) for v in sub[k]], dtype=bool)
            score = np.zeros(len(sub), int)
            for k in knobs:
                if k in cfg:
                    score += np.array([_same(v, cfg[k]) for v in sub[k]], dtype=int)
            win = hit & (score > best.to_numpy())
            out.loc[idx[win]] = name
            best[win] = score[win]
    return out


def held_defaults(df: pd.DataFrame) -> pd.DataFrame:
    """The default of every held knob for each row: its space, dataset, method and settings."""
    if all(f"_held_{k}" in df.columns for k in HELD_KNOBS):  # computed by load_results
        return pd.DataFrame({k: df[f"_held_{k}"] for k in HELD_KNOBS}, index=df.index)
    out = pd.DataFrame(index=df.index, columns=list(HELD_KNOBS), dtype=object)
    settings = df["ours_settings"] if "ours_settings" in df.columns else settings_of(df)
    # custom and superseded rows: the defaults of the default preset
    settings = settings.where(settings.isin(list(PRESETS)), DEFAULT_PRESET)
    method = df["method"] if "method" in df.columns else pd.Series("narq2t", index=df.index)
    frame = df.assign(_m=method, _p=settings)
    for (space, dataset, meth, preset), idx in frame.groupby(["space", "dataset", "_m", "_p"], sort=False).groups.items():
        cfg = _preset_config(space, preset, dataset, meth)
        if cfg is None:
            continue  # an unknown space/dataset: such rows fail the space filter anyway
        for k in HELD_KNOBS:
            out.loc[idx, k] = cfg.get(k, np.nan)
    return out


def _held_mask(df: pd.DataFrame, spec: TableSpec, defaults: pd.DataFrame) -> pd.Series:
    mask = pd.Series(True, index=df.index)
    for k in HELD_KNOBS:
        if k in spec.swept or k not in df.columns:
            continue
        d = defaults[k]
        if k in STRING_KNOBS:
            mask &= str_col(df[k]) == d.astype(str)
        else:
            v = pd.to_numeric(df[k], errors="coerce").to_numpy(float)
            mask &= np.isclose(v, pd.to_numeric(d, errors="coerce").to_numpy(float))
    return mask


def describe(df: pd.DataFrame, columns: Sequence[str]) -> str:
    parts = []
    for c in columns:
        if c in df.columns:
            counts = str_col(df[c]).value_counts().sort_index()
            parts.append(f"{c}={{" + ", ".join(f"{v or '(empty)'}: {n}" for v, n in counts.items()) + "}")
    return "; ".join(parts)


def select_rows(results: pd.DataFrame, spec: TableSpec, loose: bool = False) -> pd.DataFrame:
    """Our rows that belong to ``spec``; :class:`NoMatchingRowsError` says what was found instead."""
    df = results
    mask = str_col(col(df, "method")).isin(spec.methods)
    if spec.spaces is not None:
        mask &= str_col(col(df, "space")).isin(spec.spaces)
    if spec.datasets is not None:
        mask &= str_col(df["dataset"]).isin(spec.datasets)
    sub = df[mask]
    if len(sub):
        defaults = held_defaults(sub)
        if not loose:
            keep = _held_mask(sub, spec, defaults).to_numpy(bool)
            sub, defaults = sub[keep], defaults[keep]
        if spec.select is not None and len(sub):
            sub = sub[spec.select(sub, defaults).to_numpy(bool)]
    if sub.empty:
        wanted = f"space {'any' if spec.spaces is None else f'in {spec.spaces}'}, method in {spec.methods}"
        if spec.datasets:
            wanted += f", dataset in {spec.datasets}"
        held = [k for k in HELD_KNOBS if k not in spec.swept]
        raise NoMatchingRowsError(
            f"table {spec.name} ({spec.paper} {spec.label}): none of {len(df)} result rows match "
            f"({wanted}; swept: {', '.join(spec.swept) or 'nothing'}; held at the defaults of their settings"
            f"{' (off: --loose)' if loose else ''}: {', '.join(held)}). "
            f"Found: {describe(df, ('space', 'dataset', 'method') + tuple(spec.swept) + tuple(held))}")
    return sub


def tag_columns(spec: TableSpec) -> list[str]:
    """Columns shown with our rows and grouped by, not joined on the paper."""
    return (["ours_method"] if spec.tag_method else []) + [f"ours_{c}" for c in spec.tag_columns]


def labelled_rows(spec: TableSpec | str, results: pd.DataFrame, loose: bool = False) -> pd.DataFrame:
    """One row per run of ours in ``spec``: its row keys, group and tag columns, metrics (per seed)."""
    spec = get_table(spec) if isinstance(spec, str) else spec
    rows = select_rows(results, spec, loose=loose)
    out = pd.DataFrame({k: spec.ours[k](rows) for k in spec.keys}, index=rows.index)
    for g in GROUP_COLUMNS:
        out[g] = rows[g]
    if spec.tag_method:
        out["ours_method"] = rows["method"]
    for c in spec.tag_columns:
        out[f"ours_{c}"] = num_label(col(rows, c))
    for c in ("seed", "space", "dataset", "method", "rank_loss_factor", "found_key"):
        if c in rows.columns:
            out[f"_{c}"] = rows[c]
    for c in ("_bench", "_budget_row", "_version", "_device", "_precision", "_data", "_code", "_superseded",
              "_config", "_config_text", "_file", "_row"):
        if c in rows.columns:
            out[c] = rows[c]
    out["_health"] = health_of(rows)
    # what the verdicts and figures read beside the table's metrics: both selection protocols, the
    # test regret and the queries made
    for m in ("test_acc", "test_acc_valpick", "regret_test", "queries_total", "queries_train", "queries_search"):
        if m not in spec.metrics and m in rows.columns:
            out[m] = pd.to_numeric(rows[m], errors="coerce")
    for m in spec.metrics:
        out[m] = pd.to_numeric(rows[m], errors="coerce") if m in rows.columns else np.nan
    return out


def aggregate(rows: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean, std (ddof=1), best and number of seeds of each metric per group of ``by``.

    One row per (group, metric): ``*by, metric, mean, std, best, n``
    (:func:`nar_core.aggregate.seed_stats`; best is the minimum for :data:`LOWER_IS_BETTER`).
    """
    return seed_stats(rows, metrics, by=by, lower_is_better=LOWER_IS_BETTER)


def load_paper_table(spec: TableSpec, paper_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The paper's table in wide form: row keys, ``metric``, ``paper_mean/std/best``, ``paper_n``, ``_order``.

    Empty (same columns) for a table the paper printed no numbers for (``spec.csv`` "").
    """
    keys = list(spec.keys) + ["metric"]
    columns = keys + ["paper_mean", "paper_std", "paper_best", "paper_n", "_order"]
    if not spec.csv:
        return pd.DataFrame(columns=columns)
    path = paper_results_dir(paper_dir) / spec.csv
    if not path.is_file():
        raise DataError(path, f"paper table {spec.paper} {spec.label} not found")
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    need = {"paper", "table", "stat", "value"}
    if not need <= set(raw.columns):
        raise DataError(path, f"missing column(s) {', '.join(sorted(need - set(raw.columns)))}")
    raw = raw[(raw["paper"] == spec.paper) & (raw["table"] == spec.label)].reset_index(drop=True)
    if raw.empty:
        raise DataError(path, f"no rows for paper={spec.paper} table={spec.label}")
    try:
        long = pd.DataFrame({k: fn(raw) for k, fn in spec.paper_keys.items()}, index=raw.index)
        long["metric"] = spec.paper_metric(raw)
    except KeyError as exc:
        raise DataError(path, f"expected column {exc} for table {spec.name}") from None
    long["stat"] = raw["stat"]
    long["value"] = pd.to_numeric(raw["value"].replace("", np.nan), errors="coerce")
    long["n"] = pd.to_numeric(raw.get("n_runs", pd.Series("", index=raw.index)).replace("", np.nan),
                              errors="coerce")
    long = long[long["metric"].notna()]
    long["_order"] = long.groupby(keys, sort=False).ngroup()
    wide = long.pivot_table(index=keys + ["_order"], columns="stat", values="value", aggfunc="first",
                            dropna=False).reset_index()
    wide.columns.name = None
    n = long.groupby(keys, sort=False)["n"].first().rename("paper_n").reset_index()
    wide = wide.merge(n, on=keys, how="left")
    for stat in ("mean", "std", "best"):
        if stat not in wide.columns:
            wide[stat] = np.nan
    wide = wide.rename(columns={"mean": "paper_mean", "std": "paper_std", "best": "paper_best"})
    # Rows printed as "-" in every stat carry nothing to compare.
    wide = wide[wide[["paper_mean", "paper_std", "paper_best"]].notna().any(axis=1)]
    return wide[columns].sort_values("_order")


def _natural(v: object) -> tuple:
    """Sort key: numbers by value, a label led by a number (a budget ``129-130 (budget 150)``) by that number."""
    try:
        return (0, float(str(v)), "")
    except ValueError:
        import re

        m = re.match(r"^(\d+(?:\.\d+)?)(?=[-\s])", str(v))
        return (0, float(m.group(1)), str(v)) if m else (1, 0.0, str(v))


def build_table(spec: TableSpec | str, results: pd.DataFrame | None,
                paper_dir: str | os.PathLike | None = None, loose: bool = False,
                labelled: pd.DataFrame | None = None) -> pd.DataFrame:
    """Our aggregate per row key and group beside the paper's numbers.

    ``results`` None gives the paper's table alone. Columns: the row keys, the group columns
    (``ours_bench``, ``ours_budget``, ``ours_settings``), the tag columns (``ours_method`` ...),
    ``metric``, ``ours_mean``, ``ours_std``, ``ours_best``, ``ours_n``, ``ours_flagged`` (of the n
    seeds, how many a health flag marks: the ranker did not learn; empty where no seed recorded its
    health), ``ours_flags`` (those flags, with their counts), ``ours_configs`` (how many configs
    the row's runs hold: more than 1 is a mean over two settings, which the verdicts never pair
    as one row), ``paper_mean``,
    ``paper_std``, ``paper_best``, ``paper_n``, ``delta`` (ours - paper mean). Flagged seeds count in
    the means (the table shows what ran; the verdicts judge them with the rest and count them). Paper rows come
    first in printed order, then our rows the paper does not have; a paper row we have not run
    stays, with ``ours_n`` 0. ``labelled``: :func:`labelled_rows` of ``results`` when the caller has them.
    """
    spec = get_table(spec) if isinstance(spec, str) else spec
    keys = list(spec.keys)
    paper = load_paper_table(spec, paper_dir)
    groups = list(GROUP_COLUMNS) + tag_columns(spec)
    if results is None:
        ours = pd.DataFrame(columns=keys + groups + ["metric", "mean", "std", "best", "n", "ours_flagged", "ours_flags",
                                                     "ours_configs"])
    else:
        rows = labelled if labelled is not None else labelled_rows(spec, results, loose=loose)
        ours = _with_flags(aggregate(rows, keys + groups, spec.metrics), rows, keys + groups, spec.metrics)
        ours = _with_configs(ours, rows, keys + groups, spec.metrics)
    ours = ours.rename(columns={"mean": "ours_mean", "std": "ours_std", "best": "ours_best", "n": "ours_n"})
    for k in keys + ["metric"]:
        ours[k] = ours[k].astype(object)
        paper[k] = paper[k].astype(object)
    elsewhere = np.zeros(len(ours), bool)
    if results is not None:
        # ours sit beside the paper's numbers only on a benchmark compared with the paper (a plug-in
        # space's rows show alone) and, where the keys do not name the dataset, on the paper's
        # dataset (CIFAR-10)
        on = str_col(col_or(rows, "_space", "")).isin(spec.paper_spaces)
        if "dataset" not in keys:
            on &= str_col(col_or(rows, "_dataset", "")) == PAPER_DATASET
        elsewhere = ~ours["ours_bench"].isin(set(rows.loc[on, "ours_bench"])).to_numpy(bool)
    table = pd.concat([paper.merge(ours[~elsewhere], on=keys + ["metric"], how="outer", sort=False),
                       ours[elsewhere]], ignore_index=True, sort=False)
    for t in groups:
        if t not in table.columns:
            table[t] = np.nan
    table["delta"] = table["ours_mean"] - table["paper_mean"]
    metric_rank = {m: i for i, m in enumerate(spec.metrics)}
    table["_o0"] = [tuple(_natural(v) for v in row) for row in table[groups].fillna("").itertuples(index=False)]
    # a metric the paper does not print (test_acc_valpick) sits under the paper row of the same keys
    first = paper.groupby(keys, sort=False)["_order"].min() if len(paper) else pd.Series(dtype=float)
    by_keys = [first.get(k if len(keys) > 1 else k[0], np.nan) for k in table[keys].itertuples(index=False, name=None)]
    table["_o1"] = table["_order"].astype(float).fillna(pd.Series(by_keys, index=table.index, dtype=float)).fillna(np.inf)
    table["_o2"] = [tuple(_natural(v) for v in row) for row in table[keys].itertuples(index=False)]
    table["_o3"] = table["metric"].map(metric_rank).fillna(len(metric_rank))
    table = table.sort_values(["_o1", "_o2", "_o0", "_o3"], kind="stable")
    cols = keys + groups + ["metric", "ours_mean", "ours_std", "ours_best", "ours_n", "ours_flagged", "ours_flags",
                            "ours_configs", "paper_mean", "paper_std", "paper_best", "paper_n", "delta"]
    table = table[cols].reset_index(drop=True)
    table["ours_n"] = table["ours_n"].fillna(0).astype(int)
    table["ours_flags"] = table["ours_flags"].astype(object).where(table["ours_flags"].notna(), "")
    return table


def _with_configs(ours: pd.DataFrame, rows: pd.DataFrame, by: list[str], metrics: Sequence[str]) -> pd.DataFrame:
    """``ours`` with ``ours_configs``: per group and metric, how many configs (``_config``) the runs
    with that metric hold (NaN without ``_config``)."""
    if "_config" not in rows.columns or ours.empty:
        return ours.assign(ours_configs=np.nan)
    counts = [rows[rows[m].notna()].groupby(by, sort=False)["_config"].nunique().rename("ours_configs").reset_index()
              .assign(metric=m) for m in metrics if m in rows.columns]
    if not counts:
        return ours.assign(ours_configs=np.nan)
    return ours.merge(pd.concat(counts, ignore_index=True), on=by + ["metric"], how="left")


def _with_flags(ours: pd.DataFrame, rows: pd.DataFrame, by: list[str], metrics: Sequence[str]) -> pd.DataFrame:
    """``ours`` with ``ours_flagged`` (seeds of each group and metric whose health is flagged; NaN where
    none recorded a health) and ``ours_flags`` (``flag: count``, ``, ``-joined)."""
    health = rows["_health"] if "_health" in rows.columns else pd.Series("", index=rows.index)
    flags = flags_of(health)
    flagged = flags.map(bool).to_numpy(bool)
    out = ours.copy()
    for name, mask in (("_checked", (health != "").to_numpy(bool)), ("ours_flagged", flagged)):
        counts = aggregate(rows[mask], by, metrics) if mask.any() else pd.DataFrame()
        if counts.empty:
            out[name] = np.nan
        else:
            out = out.merge(counts[by + ["metric", "n"]].rename(columns={"n": name}), on=by + ["metric"], how="left")
    out["ours_flagged"] = out["ours_flagged"].where(out["ours_flagged"].notna(), out["_checked"] * 0)
    text = pd.Series("", index=out.index, dtype=object)
    if flagged.any():
        sub = rows[flagged].assign(_flags=flags[flagged])
        named = {}
        for key, g in sub.groupby(by, sort=False):
            counts: dict[str, int] = {}
            for fl in g["_flags"]:
                for f in fl:
                    counts[f] = counts.get(f, 0) + 1
            named[key if isinstance(key, tuple) else (key,)] = ", ".join(f"{f}: {n}" for f, n in sorted(counts.items()))
        keys = [tuple(r) for r in out[by].itertuples(index=False, name=None)]
        text = pd.Series([named.get(k, "") for k in keys], index=out.index, dtype=object)
        text = text.where(out["ours_flagged"].fillna(0) > 0, "")
    out["ours_flags"] = text
    return out.drop(columns="_checked")


def budgets(results: pd.DataFrame, spec: TableSpec, loose: bool = False) -> str:
    """A one-line summary of the budgets our rows for ``spec`` ran with (cells, epochs, iterations)."""
    rows = select_rows(results, spec, loose=loose)
    return describe(rows, BUDGET_COLUMNS) or "budgets not recorded"
