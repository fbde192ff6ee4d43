"""Regenerate the papers' result and ablation tables from our runs, side by side with the papers.

Two inputs, both tidy CSV tables:

* our results: ``DIR/results.csv`` of ``nar run --out DIR`` (one row per seed) and
  ``<storage>/<name>/results.csv`` of a sweep (one row per trial and seed). Columns: every
  field of :class:`nar_core.config.ExperimentConfig` plus the metrics (``val_acc``, ``test_acc``,
  ``latency_rmse``, ...); sweeps add ``trial_id``, ``status``, ``error``. Extra columns are
  ignored, missing optional ones are tolerated.
* the papers' tables: ``shared/reference/paper_results/*.csv`` (long format, one printed number
  per row, ``stat`` in mean/std/best). Their numbers are read from those files, never typed here.

A :class:`TableSpec` says, for one printed table, which of our rows belong to it (space, methods,
the config columns the table sweeps) and how our config columns and the paper's columns map to
the table's row keys (e.g. NARQ2T Table IV: number of tiers x top-k). :func:`build_table`
aggregates our rows per row key (mean, std, best, number of seeds), joins the paper's
mean/std/best for the same row (outer join: a paper row we have not run stays visible) and
returns one tidy frame; :func:`render` prints it as markdown, CSV or LaTeX.

Statistics (:mod:`nar_core.aggregate`): ``std`` is the sample standard deviation (ddof=1) over seeds; the
papers print "mean ± std" over 5 or 10 runs without saying which estimator. ``best`` is the
maximum over seeds (the minimum for error-like metrics such as ``latency_rmse``), which is
what the papers' bracketed "(best)" numbers are. A row key whose other ablation knobs differ
from the paper's setting is not mixed in: every knob a table does not sweep must equal the
papers' default for that space and dataset (:meth:`ExperimentConfig.for_space`), unless
``loose=True``.
"""
from __future__ import annotations

import difflib
import glob
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from nar_core.aggregate import STD_DDOF, seed_stats
from nar_core.spaces import canonical_dataset, space_names
from nar_core.config import ExperimentConfig
from nar_core.errors import DataError, NarError
from nar_core.io import atomic_path

__all__ = [
    "STD_DDOF",
    "METRICS",
    "TableSpec",
    "TABLES",
    "NoMatchingRowsError",
    "get_table",
    "table_names",
    "paper_results_dir",
    "load_results",
    "load_paper_table",
    "select_rows",
    "aggregate",
    "build_table",
    "render",
    "write_table",
]


METRICS = (
    "val_acc", "test_acc", "rank_val", "rank_test", "percentile_test", "regret_val", "regret_test",
    "queries_train", "queries_search", "queries_total", "kendall_tau", "tier_accuracy",
    "latency_rmse", "latency_within_5", "latency_within_10",
    "train_seconds", "search_seconds", "total_seconds", "peak_memory_mb",
)
"""Metric columns of a results table (``best_so_far_val`` is a list: see :mod:`analysis.figures`)."""

# Lower is better for these: their "best" over seeds is the minimum.
LOWER_IS_BETTER = frozenset({
    "rank_val", "rank_test", "percentile_test", "regret_val", "regret_test", "latency_rmse",
    "train_seconds", "search_seconds", "total_seconds", "peak_memory_mb",
})

# Ablation knobs: a table holds each one it does not sweep at the papers' default.
HELD_KNOBS = (
    "num_tiers", "cls_loss_factor", "rank_loss_factor", "latency_loss_factor",
    "random_proportion", "constraints", "sampling_mode", "top_k", "query_metric",
)
_STRING_KNOBS = frozenset({"constraints", "sampling_mode", "query_metric"})
# Budget columns: not filtered, but reported under each table so a reader sees short runs.
BUDGET_COLUMNS = ("train_size", "epochs", "search_iterations")
# Config columns that do not change the result (where it ran, where the data was).
_NOT_IDENTITY = frozenset({"data_dir", "device", "num_threads"})

DATASET_LABEL = {"cifar10": "CIFAR-10", "cifar100": "CIFAR-100", "imagenet16": "ImageNet-16-120"}
def space_label(space: str) -> str:
    """A space's name in tables ("NAS-Bench-201"), from its plug-in; the name itself if unknown."""
    from nar_core.errors import NarError
    from nar_core.spaces import get_space

    try:
        return get_space(space).display_name()
    except NarError:
        return str(space)
METHOD_LABEL = {"nar": "NAR", "narq2t": "NARQ2T"}
CONSTRAINT_LABEL = {"flops": "FLOPs", "params": "#Params", "flops+params": "FLOPs&#Params"}
# Paper metric names (Tables III, IX) -> our metric columns.
PAPER_METRIC = {
    "validation_accuracy": "val_acc",
    "test_accuracy": "test_acc",
    "latency_rmse": "latency_rmse",
    "latency_within_5pct": "latency_within_5",
    "latency_within_10pct": "latency_within_10",
}
SPLIT_METRIC = {"validation": "val_acc", "test": "test_acc"}

PAPER_DIR_ENV = "NAR_PAPER_RESULTS"
_REPO_ROOT = Path(__file__).resolve().parents[1]


class NoMatchingRowsError(NarError):
    """None of our result rows belong to the requested table."""


# ------------------------------------------------------------------------------------------------
# small column helpers (vectorised over a results frame)
# ------------------------------------------------------------------------------------------------
def _num_label(values: pd.Series) -> pd.Series:
    """Numbers as short labels (``5``, ``0.5``, ``21``); missing -> ``-`` (the papers' dash)."""
    num = pd.to_numeric(values, errors="coerce")
    return pd.Series([("-" if np.isnan(x) else f"{x:g}") for x in num.to_numpy(float)],
                     index=values.index, dtype=object)


def _str(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), "").astype(str).str.strip()


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    if name not in df.columns:
        raise DataError(_sources(df), f"results have no {name!r} column, needed for this table")
    return df[name]


def _sources(df: pd.DataFrame) -> str:
    if "_source" in df.columns and len(df):
        files = sorted(set(df["_source"].astype(str)))
        return ", ".join(files[:3]) + (f" (+{len(files) - 3} more)" if len(files) > 3 else "")
    return "results"


def _method_label(df: pd.DataFrame) -> pd.Series:
    m = _str(_col(df, "method"))
    return m.map(lambda x: METHOD_LABEL.get(x, x))


def _dataset_label(df: pd.DataFrame) -> pd.Series:
    return _str(_col(df, "dataset")).map(lambda x: DATASET_LABEL.get(x, x))


def _factor_on(df: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(_col(df, name), errors="coerce") > 0


def _yes_no(mask: pd.Series) -> pd.Series:
    return mask.map({True: "yes", False: "no"}).astype(object)


def _tier_label(df: pd.DataFrame) -> pd.Series:
    # The "-" row of NARQ2T Table IV is the encoder-only baseline without quality tiers.
    return _num_label(_col(df, "num_tiers")).where(_str(_col(df, "method")) != "no_tier", "-")


def _loss_label(df: pd.DataFrame) -> pd.Series:
    cls, rank = _factor_on(df, "cls_loss_factor"), _factor_on(df, "rank_loss_factor")
    out = pd.Series("", index=df.index, dtype=object)
    out[cls & ~rank] = "Cls. Loss"
    out[~cls & rank] = "Ranking Loss"
    out[cls & rank] = "Cls.+Ranking Loss"
    return out


def _is_default_or_zero(df: pd.DataFrame, name: str) -> pd.Series:
    """The loss tables switch a loss off (factor 0) or keep the paper's factor; nothing else."""
    v = pd.to_numeric(df[name], errors="coerce")
    d = pd.to_numeric(_defaults(df)[name], errors="coerce")
    return (v == 0) | np.isclose(v, d)


# ------------------------------------------------------------------------------------------------
# the registry
# ------------------------------------------------------------------------------------------------
KeyFn = Callable[[pd.DataFrame], pd.Series]


@dataclass(frozen=True)
class TableSpec:
    """How one printed table maps onto our results.

    Attributes:
        name: registry name, ``<paper>-<label>`` (``narq2t-IV``, ``nar-3``).
        paper, label: as in the CSV's ``paper`` and ``table`` columns.
        csv: the paper CSV file name in the paper-results directory.
        title: what the table shows.
        spaces: search spaces our rows must come from.
        methods: our ``method`` values that belong to the table.
        swept: config columns the table varies (all other ablation knobs are held at default).
        keys: row-key headers, in display order; ``ours[k]`` / ``paper[k]`` compute them.
        metrics: our metric columns compared.
        paper_metric: our metric name for each paper row (None/NaN rows are not compared).
        tag_method: also show our ``method`` (a column that is not joined on), for tables whose
            paper rows do not name the ranker (the ablations were run with NAR).
        datasets: canonical datasets our rows must come from (None: any).
        select: an extra filter on our rows (after space/method/held knobs).
        x_key: the swept key plotted on the x axis of the ablation figure.
        aliases: other names ``get_table`` accepts.
        tag_columns: config columns our rows are also grouped by and shown with, not joined on
            (Table III: the latency-loss factor of a NARLat row, which the paper does not state).
    """

    name: str
    paper: str
    label: str
    csv: str
    title: str
    spaces: tuple[str, ...]
    methods: tuple[str, ...]
    swept: tuple[str, ...]
    keys: tuple[str, ...]
    ours: Mapping[str, KeyFn]
    paper_keys: Mapping[str, KeyFn]
    metrics: tuple[str, ...]
    paper_metric: KeyFn
    tag_method: bool = True
    datasets: tuple[str, ...] | None = None
    select: Callable[[pd.DataFrame], pd.Series] | None = None
    x_key: str | None = None
    aliases: tuple[str, ...] = field(default=())
    tag_columns: tuple[str, ...] = ()


def _accuracy_is_test(p: pd.DataFrame) -> pd.Series:
    # NB101 tables print "accuracy": CIFAR-10 test accuracy queried from the benchmark.
    return p["metric"].map({"accuracy": "test_acc"})


def _nb101_ablations() -> list[TableSpec]:
    """NAR Tables 3-8 and NARQ2T Tables IV, V, VII, VIII, X, XI (same numbers, both papers)."""
    specs: list[TableSpec] = []
    rankers = ("nar", "narq2t")
    common = dict(spaces=("nb101",), metrics=("test_acc",), paper_metric=_accuracy_is_test)
    for paper, label, csv, aliases in (("NAR", "3", "nar_table3_num_tiers.csv", ()),
                                       ("NARQ2T", "IV", "narq2t_table4_num_tiers.csv", ("num_tiers", "tiers"))):
        specs.append(TableSpec(
            name=f"{paper.lower()}-{label}", paper=paper, label=label, csv=csv,
            title="number of quality tiers x top-k (NAS-Bench-101)",
            methods=rankers + ("no_tier",), swept=("num_tiers", "top_k"), keys=("tiers", "top-k"),
            ours={"tiers": _tier_label, "top-k": lambda d: _num_label(_col(d, "top_k"))},
            paper_keys={"tiers": lambda p: _num_label(p["num_tiers"]), "top-k": lambda p: _num_label(p["top_k"])},
            x_key="tiers", aliases=aliases, **common))
    for paper, label, csv, aliases in (("NAR", "4", "nar_table4_losses.csv", ()),
                                       ("NARQ2T", "V", "narq2t_table5_losses.csv", ("losses",))):
        specs.append(TableSpec(
            name=f"{paper.lower()}-{label}", paper=paper, label=label, csv=csv,
            title="classification / ranking loss on or off x top-k (NAS-Bench-101)",
            methods=rankers, swept=("cls_loss_factor", "rank_loss_factor", "top_k"), keys=("losses", "top-k"),
            ours={"losses": _loss_label, "top-k": lambda d: _num_label(_col(d, "top_k"))},
            paper_keys={"losses": lambda p: _str(p["loss_config"]), "top-k": lambda p: _num_label(p["top_k"])},
            select=lambda d: (_is_default_or_zero(d, "cls_loss_factor") & _is_default_or_zero(d, "rank_loss_factor")
                              & (_loss_label(d) != "")),
            x_key="top-k", aliases=aliases, **common))
    for paper, label, csv, aliases in (("NAR", "5", "nar_table5_random_proportion.csv", ()),
                                       ("NARQ2T", "VII", "narq2t_table7_random_proportion.csv",
                                        ("random_proportion", "p"))):
        specs.append(TableSpec(
            name=f"{paper.lower()}-{label}", paper=paper, label=label, csv=csv,
            title="proportion p of random samples (NAS-Bench-101)",
            methods=rankers, swept=("random_proportion",), keys=("p",),
            ours={"p": lambda d: _num_label(_col(d, "random_proportion"))},
            paper_keys={"p": lambda p: _num_label(p["p"])}, x_key="p", aliases=aliases, **common))
    for paper, label, csv, aliases in (("NAR", "6", "nar_table6_sampling_constraints.csv", ()),
                                       ("NARQ2T", "VIII", "narq2t_table8_sampling_constraints.csv",
                                        ("constraints",))):
        specs.append(TableSpec(
            name=f"{paper.lower()}-{label}", paper=paper, label=label, csv=csv,
            title="sampling constraints x top-k (NAS-Bench-101)",
            methods=rankers, swept=("constraints", "top_k"), keys=("constraints", "top-k"),
            ours={"constraints": lambda d: _str(_col(d, "constraints")).map(lambda c: CONSTRAINT_LABEL.get(c, c)),
                  "top-k": lambda d: _num_label(_col(d, "top_k"))},
            paper_keys={"constraints": lambda p: _str(p["constraints"]), "top-k": lambda p: _num_label(p["top_k"])},
            x_key="top-k", aliases=aliases, **common))
    for paper, label, csv, aliases in (("NAR", "7", "nar_table7_building_block.csv", ()),
                                       ("NARQ2T", "X", "narq2t_table10_building_block.csv",
                                        ("building_block", "convnet"))):
        specs.append(TableSpec(
            name=f"{paper.lower()}-{label}", paper=paper, label=label, csv=csv,
            title="building block of the ranker: ConvNet vs multi-head self-attention x top-k (NAS-Bench-101)",
            methods=rankers + ("convnet",), swept=("top_k",), keys=("building block", "top-k"),
            ours={"building block": lambda d: _str(_col(d, "method")).map(lambda m: "ConvNet" if m == "convnet" else "MSA"),
                  "top-k": lambda d: _num_label(_col(d, "top_k"))},
            paper_keys={"building block": lambda p: _str(p["building_block"]), "top-k": lambda p: _num_label(p["top_k"])},
            x_key="top-k", aliases=aliases, **common))
    for paper, label, csv, aliases in (("NAR", "8", "nar_table8_num_selected_queries.csv", ()),
                                       ("NARQ2T", "XI", "narq2t_table11_num_selected_queries.csv",
                                        ("queries", "top_k"))):
        specs.append(TableSpec(
            name=f"{paper.lower()}-{label}", paper=paper, label=label, csv=csv,
            title="number of selected queries (top-k per iteration) x ranking loss (NAS-Bench-101)",
            methods=rankers, swept=("top_k", "rank_loss_factor"), keys=("ranking loss", "top-k"),
            ours={"ranking loss": lambda d: _yes_no(_factor_on(d, "rank_loss_factor")),
                  "top-k": lambda d: _num_label(_col(d, "top_k"))},
            paper_keys={"ranking loss": lambda p: _str(p["ranking_loss"]), "top-k": lambda p: _num_label(p["top_k"])},
            select=lambda d: _is_default_or_zero(d, "rank_loss_factor"),
            x_key="top-k", aliases=aliases, **common))
    return specs


def _search_label(d: pd.DataFrame) -> pd.Series:
    # "NAR (random)" / "NAR (statistics)": the ranker and its sampling mode (Table 1 / I).
    base = _method_label(d)
    ranker = _str(_col(d, "method")).isin(METHOD_LABEL)
    return base.where(~ranker, base + " (" + _str(_col(d, "sampling_mode")) + ")")


def _lat_label(d: pd.DataFrame) -> pd.Series:
    # NARLat / NARQ2TLat: the ranker trained with the latency head (lambda1 > 0), Table III.
    return _method_label(d) + _factor_on(d, "latency_loss_factor").map({True: "Lat", False: ""})


def _table6_metric(p: pd.DataFrame) -> pd.Series:
    split = _str(p["split"])
    return split.map(SPLIT_METRIC).where(split != "", "test_acc")


def _main_tables() -> list[TableSpec]:
    search_methods = ("nar", "narq2t", "random_search", "evolution")
    specs: list[TableSpec] = []
    for paper, label, csv, aliases in (("NAR", "1", "nar_table1_nb101_search.csv", ()),
                                       ("NARQ2T", "I", "narq2t_table1_nb101_search.csv", ("nb101",))):
        specs.append(TableSpec(
            name=f"{paper.lower()}-{label}", paper=paper, label=label, csv=csv,
            title="search results on NAS-Bench-101 (test accuracy)",
            spaces=("nb101",), methods=search_methods, swept=("sampling_mode",), keys=("method",),
            ours={"method": _search_label}, paper_keys={"method": lambda p: _str(p["row_label"])},
            metrics=("test_acc",), paper_metric=_accuracy_is_test, tag_method=False, aliases=aliases))
    for paper, label, csv, aliases in (("NAR", "2", "nar_table2_nb201_search.csv", ()),
                                       ("NARQ2T", "II", "narq2t_table2_nb201_search.csv", ("nb201",))):
        specs.append(TableSpec(
            name=f"{paper.lower()}-{label}", paper=paper, label=label, csv=csv,
            title="search results on NAS-Bench-201 (validation / test accuracy per dataset)",
            spaces=("nb201",), methods=search_methods, swept=(), keys=("dataset", "method"),
            ours={"dataset": _dataset_label, "method": _method_label},
            paper_keys={"dataset": lambda p: _str(p["dataset"]), "method": lambda p: _str(p["method"])},
            metrics=("val_acc", "test_acc"), paper_metric=lambda p: _str(p["split"]).map(SPLIT_METRIC),
            tag_method=False, aliases=aliases))
    specs.append(TableSpec(
        name="narq2t-III", paper="NARQ2T", label="III", csv="narq2t_table3_nb201_latency_prediction.csv",
        title="latency prediction on NAS-Bench-201 (accuracy, latency RMSE, share of top-5 within 5%/10%)",
        spaces=("nb201",), methods=("nar", "narq2t"), swept=("latency_loss_factor",), keys=("dataset", "method"),
        ours={"dataset": _dataset_label, "method": _lat_label},
        paper_keys={"dataset": lambda p: _str(p["dataset"]), "method": lambda p: _str(p["method"])},
        metrics=("val_acc", "test_acc", "latency_rmse", "latency_within_5", "latency_within_10"),
        paper_metric=lambda p: p["metric"].map(PAPER_METRIC), tag_method=False, aliases=("latency",),
        tag_columns=("latency_loss_factor",)))
    specs.append(TableSpec(
        name="narq2t-VI", paper="NARQ2T", label="VI", csv="narq2t_table6_rank_loss_factor.csv",
        title="rank-loss factor lambda2 per benchmark and dataset (NARQ2T)",
        spaces=("nb101", "nb201"), methods=("narq2t",), swept=("rank_loss_factor",),
        keys=("benchmark", "dataset", "lambda2"),
        ours={"benchmark": lambda d: _str(_col(d, "space")).map(space_label),
              "dataset": _dataset_label, "lambda2": lambda d: _num_label(_col(d, "rank_loss_factor"))},
        paper_keys={"benchmark": lambda p: _str(p["benchmark"]), "dataset": lambda p: _str(p["dataset"]),
                    "lambda2": lambda p: _num_label(p["loss_factor"])},
        metrics=("val_acc", "test_acc"), paper_metric=_table6_metric, tag_method=False,
        x_key="lambda2", aliases=("rank_loss_factor", "lambda2")))
    specs.append(TableSpec(
        name="narq2t-IX", paper="NARQ2T", label="IX", csv="narq2t_table9_latency_loss_factor.csv",
        title="latency-loss factor lambda1, run with NAR (NAS-Bench-201 CIFAR-10; caption says NB101, README item 7)",
        spaces=("nb201",), methods=("nar",), swept=("latency_loss_factor",), keys=("lambda1",),
        ours={"lambda1": lambda d: _num_label(_col(d, "latency_loss_factor"))},
        paper_keys={"lambda1": lambda p: _num_label(p["loss_factor"])},
        metrics=("val_acc", "test_acc", "latency_rmse", "latency_within_5", "latency_within_10"),
        paper_metric=lambda p: p["metric"].map(PAPER_METRIC), tag_method=False, datasets=("cifar10",),
        select=lambda d: _factor_on(d, "latency_loss_factor"),
        x_key="lambda1", aliases=("latency_loss_factor", "lambda1")))
    return specs


_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI")

TABLES: dict[str, TableSpec] = {s.name: s for s in _main_tables() + _nb101_ablations()}
"""Every table we can regenerate, by registry name."""


def table_names() -> list[str]:
    """Registry names in the papers' order (NAR 1-8, then NARQ2T I-XI)."""
    def order(s: TableSpec) -> tuple[int, int]:
        return (0, int(s.label)) if s.paper == "NAR" else (1, _ROMAN.index(s.label))

    return [s.name for s in sorted(TABLES.values(), key=order)]


def get_table(name: str) -> TableSpec:
    """A table by registry name or alias (case-insensitive); unknown names suggest close ones."""
    wanted = name.strip().lower().replace(" ", "-")
    lookup: dict[str, str] = {}
    for spec in TABLES.values():
        lookup[spec.name.lower()] = spec.name
        if spec.paper == "NARQ2T":  # "narq2t-4" for Table IV
            lookup[f"narq2t-{_ROMAN.index(spec.label) + 1}"] = spec.name
        for a in spec.aliases:
            lookup.setdefault(a.lower(), spec.name)
    if wanted in lookup:
        return TABLES[lookup[wanted]]
    close = difflib.get_close_matches(wanted, list(lookup), n=3, cutoff=0.5)
    shown = [lookup[c] if lookup[c].lower() == c else f"{c} ({lookup[c]})" for c in close]
    hint = f"; did you mean {', '.join(shown)}?" if close else ""
    raise NarError(f"unknown table {name!r}{hint} (`python -m analysis list` shows them all)")


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


def _expand(paths: Iterable[str | os.PathLike]) -> list[Path]:
    files: list[Path] = []
    for p in paths:
        p = Path(p).expanduser()
        if p.is_dir():
            found = sorted(Path(f) for f in glob.glob(str(p / "**" / "results.csv"), recursive=True))
            if not found:
                raise DataError(p, "folder holds no results.csv (expected DIR/results.csv or <storage>/<name>/results.csv)")
            files.extend(found)
        elif p.is_file():
            files.append(p)
        else:
            raise DataError(p, "results file not found")
    return files


def load_results(paths: Sequence[str | os.PathLike]) -> pd.DataFrame:
    """Read and stack results tables (files, or folders searched for ``results.csv``).

    Keeps rows of finished runs only (``status`` ok where a sweep wrote one), normalises the
    dataset name, and drops repeated runs: a run is a pure function of its config and seed, so
    rows with equal config columns (less ``data_dir``/``device``/``num_threads``) are one run.
    Adds ``_source`` (the file a row came from).
    """
    if not paths:
        raise NarError("no results given (use --results PATH [PATH ...])")
    frames = []
    for f in _expand(paths):
        try:
            df = pd.read_csv(f)
        except pd.errors.EmptyDataError:
            raise DataError(f, "results file is empty") from None
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            raise DataError(f, f"not a readable CSV table ({exc})") from None
        missing = [c for c in ("space", "dataset", "method", "seed") if c not in df.columns]
        if missing:
            raise DataError(f, f"not a results table: missing column(s) {', '.join(missing)}")
        df["_source"] = str(f)
        frames.append(df)
    df = pd.concat(frames, ignore_index=True, sort=False)
    if "status" in df.columns:
        df = df[_str(df["status"]).isin(["ok", ""])]
    df = df.copy()
    df["space"] = _str(df["space"])
    df["method"] = _str(df["method"])
    df["dataset"] = [_canonical_or_same(x, s) for x, s in zip(_str(df["dataset"]), df["space"])]
    identity = [c for c in ExperimentConfig.__dataclass_fields__ if c in df.columns and c not in _NOT_IDENTITY]
    df = df.drop_duplicates(subset=identity, keep="first").reset_index(drop=True)
    for m in METRICS:
        if m in df.columns:
            df[m] = pd.to_numeric(df[m], errors="coerce")
    return df


def _canonical_or_same(name: str, space: str) -> str:
    try:
        return canonical_dataset(name, space if space in space_names() else None)
    except NarError:
        return name


def load_paper_table(spec: TableSpec, paper_dir: str | os.PathLike | None = None) -> pd.DataFrame:
    """The paper's table in wide form: row keys, ``metric``, ``paper_mean/std/best``, ``paper_n``, ``_order``."""
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
    keys = list(spec.keys) + ["metric"]
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
    return wide[keys + ["paper_mean", "paper_std", "paper_best", "paper_n", "_order"]].sort_values("_order")


# ------------------------------------------------------------------------------------------------
# selection and aggregation
# ------------------------------------------------------------------------------------------------
def _defaults(df: pd.DataFrame) -> pd.DataFrame:
    """The papers' setting of every held knob, per row (it depends on space and dataset)."""
    out = pd.DataFrame(index=df.index, columns=list(HELD_KNOBS), dtype=object)
    method = df["method"] if "method" in df.columns else pd.Series("narq2t", index=df.index)
    for (space, dataset, meth), idx in df.assign(_m=method).groupby(["space", "dataset", "_m"], sort=False).groups.items():
        try:  # the default depends on the method too (NAR's own rank-loss factor, issue 9 item 12)
            cfg = ExperimentConfig.for_space(space, dataset=dataset, method=meth).to_dict()
        except NarError:
            continue  # an unknown space/dataset: such rows fail the space filter anyway
        for k in HELD_KNOBS:
            out.loc[idx, k] = cfg.get(k, np.nan)
    return out


def _held_mask(df: pd.DataFrame, spec: TableSpec) -> pd.Series:
    mask = pd.Series(True, index=df.index)
    defaults = _defaults(df)
    for k in HELD_KNOBS:
        if k in spec.swept or k not in df.columns:
            continue
        d = defaults[k]
        if k in _STRING_KNOBS:
            mask &= _str(df[k]) == d.astype(str)
        else:
            v = pd.to_numeric(df[k], errors="coerce").to_numpy(float)
            mask &= np.isclose(v, pd.to_numeric(d, errors="coerce").to_numpy(float))
    return mask


def _describe(df: pd.DataFrame, columns: Sequence[str]) -> str:
    parts = []
    for c in columns:
        if c in df.columns:
            counts = _str(df[c]).value_counts().sort_index()
            parts.append(f"{c}={{" + ", ".join(f"{v or '(empty)'}: {n}" for v, n in counts.items()) + "}")
    return "; ".join(parts)


def select_rows(results: pd.DataFrame, spec: TableSpec, loose: bool = False) -> pd.DataFrame:
    """Our rows that belong to ``spec``; :class:`NoMatchingRowsError` says what was found instead."""
    df = results
    steps = [("space", _str(_col(df, "space")).isin(spec.spaces)),
             ("method", _str(_col(df, "method")).isin(spec.methods))]
    if spec.datasets is not None:
        steps.append(("dataset", _str(df["dataset"]).isin(spec.datasets)))
    mask = pd.Series(True, index=df.index)
    for _, m in steps:
        mask &= m
    if not loose:
        mask &= _held_mask(df, spec)
    sub = df[mask]
    if spec.select is not None and len(sub):
        sub = sub[spec.select(sub).to_numpy(bool)]
    if sub.empty:
        wanted = f"space in {spec.spaces}, method in {spec.methods}"
        if spec.datasets:
            wanted += f", dataset in {spec.datasets}"
        held = [k for k in HELD_KNOBS if k not in spec.swept]
        raise NoMatchingRowsError(
            f"table {spec.name} ({spec.paper} Table {spec.label}): none of {len(df)} result rows match "
            f"({wanted}; swept: {', '.join(spec.swept) or 'nothing'}; held at the papers' defaults"
            f"{' (off: --loose)' if loose else ''}: {', '.join(held)}). "
            f"Found: {_describe(df, ('space', 'dataset', 'method') + tuple(spec.swept) + tuple(held))}")
    return sub


def aggregate(rows: pd.DataFrame, by: Sequence[str], metrics: Sequence[str]) -> pd.DataFrame:
    """Mean, std (ddof=1), best and number of seeds of each metric per group of ``by``.

    Returns one row per (group, metric) with columns ``*by, metric, mean, std, best, n``
    (:func:`nar_core.aggregate.seed_stats`; best is the minimum for :data:`LOWER_IS_BETTER`).
    """
    return seed_stats(rows, metrics, by=by, lower_is_better=LOWER_IS_BETTER)


def _natural(v: object) -> tuple:
    try:
        return (0, float(str(v)), "")
    except ValueError:
        return (1, 0.0, str(v))


def build_table(spec: TableSpec | str, results: pd.DataFrame | None,
                paper_dir: str | os.PathLike | None = None, loose: bool = False) -> pd.DataFrame:
    """Our aggregate per row key beside the paper's numbers.

    ``results`` None gives the paper's table alone. Columns: the row keys, ``ours_method``
    (for ablation tables), ``metric``, ``ours_mean``, ``ours_std``, ``ours_best``, ``ours_n``,
    ``paper_mean``, ``paper_std``, ``paper_best``, ``paper_n``, ``delta`` (ours - paper mean).
    Paper rows come first in printed order, then our rows the paper does not have.
    """
    spec = get_table(spec) if isinstance(spec, str) else spec
    keys = list(spec.keys)
    paper = load_paper_table(spec, paper_dir)
    if results is None:
        ours = pd.DataFrame(columns=keys + ["metric", "mean", "std", "best", "n"])
    else:
        rows = select_rows(results, spec, loose=loose)
        labelled = pd.DataFrame({k: spec.ours[k](rows) for k in keys}, index=rows.index)
        by = keys.copy()
        if spec.tag_method:
            labelled["ours_method"] = rows["method"]
            by.append("ours_method")
        for c in spec.tag_columns:
            labelled[f"ours_{c}"] = _num_label(_col(rows, c))
            by.append(f"ours_{c}")
        for m in spec.metrics:
            if m in rows.columns:
                labelled[m] = rows[m]
        ours = aggregate(labelled, by, spec.metrics)
    ours = ours.rename(columns={"mean": "ours_mean", "std": "ours_std", "best": "ours_best", "n": "ours_n"})
    for k in keys + ["metric"]:
        ours[k] = ours[k].astype(object)
        paper[k] = paper[k].astype(object)
    table = paper.merge(ours, on=keys + ["metric"], how="outer", sort=False)
    tags = (["ours_method"] if spec.tag_method else []) + [f"ours_{c}" for c in spec.tag_columns]
    for t in tags:
        if t not in table.columns:
            table[t] = np.nan
    table["delta"] = table["ours_mean"] - table["paper_mean"]
    metric_rank = {m: i for i, m in enumerate(spec.metrics)}
    table["_o1"] = table["_order"].fillna(np.inf)
    table["_o2"] = [tuple(_natural(v) for v in row) for row in table[keys].itertuples(index=False)]
    table["_o3"] = table["metric"].map(metric_rank).fillna(len(metric_rank))
    table = table.sort_values(["_o1", "_o2", "_o3"], kind="stable")
    cols = keys + tags + ["metric", "ours_mean", "ours_std", "ours_best", "ours_n",
                          "paper_mean", "paper_std", "paper_best", "paper_n", "delta"]
    table = table[cols].reset_index(drop=True)
    table["ours_n"] = table["ours_n"].fillna(0).astype(int)
    return table


def budgets(results: pd.DataFrame, spec: TableSpec, loose: bool = False) -> str:
    """A one-line summary of the budgets our rows for ``spec`` ran with (train size, epochs, iterations)."""
    rows = select_rows(results, spec, loose=loose)
    return _describe(rows, BUDGET_COLUMNS) or "budgets not recorded"


# ------------------------------------------------------------------------------------------------
# output
# ------------------------------------------------------------------------------------------------
def _fmt(x: float, digits: int) -> str:
    return "" if x is None or pd.isna(x) else f"{x:.{digits}f}"


def _digits(metric: str) -> int:
    return 0 if metric.startswith("latency_within") else 2


def _cell(mean: float, std: float, best: float, n: int | float | None, digits: int, with_n: bool) -> str:
    if pd.isna(mean) and pd.isna(best):
        return "-"
    s = _fmt(mean, digits) if not pd.isna(mean) else ""
    if not pd.isna(std):
        s += f" ± {_fmt(std, digits)}"
    if not pd.isna(best):
        s += f" ({_fmt(best, digits)})" if s else f"({_fmt(best, digits)})"
    if with_n and n is not None and not pd.isna(n) and n > 0:
        s += f" n={int(n)}"
    return s


def display_frame(spec: TableSpec, table: pd.DataFrame) -> pd.DataFrame:
    """The side-by-side table as strings: ``ours: m ± s (best) n=N | paper: m ± s (best) | delta``."""
    tags = (["ours_method"] if spec.tag_method else []) + [f"ours_{c}" for c in spec.tag_columns]
    keys = list(spec.keys) + tags
    show_metric = table["metric"].nunique() > 1
    out = pd.DataFrame({k: table[k].where(table[k].notna(), "").astype(str) for k in keys})
    out = out.rename(columns={"ours_method": "ranker", **{f"ours_{c}": c for c in spec.tag_columns}})
    if show_metric:
        out["metric"] = table["metric"].astype(str)
    digits = table["metric"].astype(str).map(_digits)
    out["ours"] = [_cell(m, s, b, n, d, True) if n > 0 else "-" for m, s, b, n, d in
                   zip(table["ours_mean"], table["ours_std"], table["ours_best"], table["ours_n"], digits)]
    out["paper"] = [_cell(m, s, b, n, d, False) for m, s, b, n, d in
                    zip(table["paper_mean"], table["paper_std"], table["paper_best"], table["paper_n"], digits)]
    out["delta"] = [("" if pd.isna(x) else f"{x:+.{d}f}") for x, d in zip(table["delta"], digits)]
    if not (table["ours_n"] > 0).any():  # the paper's table alone
        out = out.drop(columns=[c for c in ("ranker", "ours", "delta", *spec.tag_columns) if c in out.columns])
    return out


def _markdown(df: pd.DataFrame) -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return "\n".join(lines) + "\n"


def _latex(df: pd.DataFrame) -> str:
    def esc(s: str) -> str:
        for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("#", r"\#"), ("_", r"\_"),
                     ("±", r"$\pm$")):
            s = s.replace(a, b)
        return s

    cols = list(df.columns)
    lines = [r"\begin{tabular}{" + "l" * len(cols) + "}", r"\hline",
             " & ".join(esc(c) for c in cols) + r" \\", r"\hline"]
    for row in df.itertuples(index=False):
        lines.append(" & ".join(esc(str(v)) for v in row) + r" \\")
    lines += [r"\hline", r"\end{tabular}"]
    return "\n".join(lines) + "\n"


def header(spec: TableSpec) -> str:
    return f"{spec.paper} Table {spec.label}: {spec.title}"


def render(spec: TableSpec, table: pd.DataFrame, fmt: str = "markdown", note: str = "") -> str:
    """The table as ``markdown`` (side by side, with a title line), ``csv`` (tidy numbers) or ``latex``."""
    if fmt == "csv":
        buf = io.StringIO()
        table.to_csv(buf, index=False, float_format="%.6g")
        return buf.getvalue()
    shown = display_frame(spec, table)
    if fmt == "latex":
        return f"% {header(spec)}\n" + _latex(shown)
    if fmt != "markdown":
        raise NarError(f"--format: unknown format {fmt!r}; expected markdown, csv or latex")
    text = f"### {header(spec)}\n\n" + (f"{note}\n\n" if note else "") + _markdown(shown)
    return text + f"\nours: mean ± std (best) over n seeds, std with ddof={STD_DDOF}; " \
                  f"paper: as printed ({spec.csv}); delta = ours mean - paper mean.\n"


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomic write, readable by others like any report (mkstemp alone would leave mode 0600)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
    return path


def write_table(spec: TableSpec, table: pd.DataFrame, out_dir: str | os.PathLike, note: str = "",
                formats: Sequence[str] = ("csv", "markdown")) -> list[Path]:
    """Write ``<out>/<name>.csv`` (tidy numbers) and ``<name>.md`` (side by side), atomically."""
    out = Path(out_dir)
    written = []
    ext = {"csv": ".csv", "markdown": ".md", "latex": ".tex"}
    for fmt in formats:
        path = out / f"{spec.name}{ext[fmt]}"
        write_text(path, render(spec, table, fmt, note=note))
        written.append(path)
    return written


def parse_curve(value: object) -> list[float]:
    """``best_so_far_val`` as a list of floats (a JSON list string in CSV, or a list already)."""
    if isinstance(value, (list, tuple, np.ndarray)):
        return [float(v) for v in value]
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return []
    try:
        data = json.loads(str(value))
    except json.JSONDecodeError as exc:
        raise NarError(f"best_so_far_val: not a JSON list ({exc}): {str(value)[:60]!r}") from None
    if not isinstance(data, list):
        raise NarError(f"best_so_far_val: expected a JSON list, got {type(data).__name__}")
    return [float(v) for v in data]
