"""The one ablation registry: every ablation of the papers, its sweep, its table and its claims.

An :class:`Ablation` holds

* ``sweep``: the :class:`~nar_core.sweep.SweepSpec` that runs it (the paper's grid rows, Optuna
  ranges, the method of the paper whose table it reproduces: NAR for NAR Tables 3-8, NARQ2T for
  Tables IV-XI). The grids are the papers' exact rows on the papers' space (NAS-Bench-101,
  ``--space nb101``); the scripts run them on NAS-Bench-201 unless told (the README's main job's
  space, :data:`nar_core.sweep.cli.DEFAULT_SPACE`), ``--budget 150`` at a budget of the one
  budget table (:mod:`nar_core.budget`). Rows at top-5 come first, so
  ``--num-samples N`` runs the rows that matter at a small budget first.
* ``tables``: the :class:`TableSpec` names it fills: which paper CSV, which of our rows belong
  to it, how our config columns map onto the table's row keys.
* ``claims``: the conclusions the papers draw from it (:class:`Claim`), judged over seeds by
  :mod:`nar_core.ablations.verdicts`.

``sweeps/<script>.py`` are thin scripts over :func:`script_specs`; the report
(:mod:`nar_core.ablations.report`) reads the tables and claims from here. Nothing else defines an
ablation.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

if TYPE_CHECKING:  # pandas is imported where a results frame is labelled, not here: the sweep
    import pandas as pd  # scripts read their specs from this registry before they check their input

from ..cli_common import DATASET_LABEL
from ..errors import DataError, NarError
from ..sweep.spec import Param, SweepSpec, grid_product
from ..budget import BUDGETS

__all__ = [
    "METRICS", "LOWER_IS_BETTER", "HELD_KNOBS", "TableSpec", "TABLES", "table_names", "get_table",
    "Claim", "Ablation", "ABLATIONS", "script_specs", "get_ablation", "NoMatchingRowsError",
]

METRICS = (
    "val_acc", "test_acc", "val_acc_valpick", "test_acc_valpick", "rank_val", "rank_test", "percentile_test",
    "regret_val", "regret_test", "queries_train", "queries_search", "queries_total", "kendall_tau",
    "tier_accuracy", "latency_rmse", "latency_within_5", "latency_within_10",
    "train_seconds", "search_seconds", "total_seconds", "peak_memory_mb",
)
"""Metric columns of a results table (``best_so_far_val`` is a list: see :mod:`.figures`)."""

# Lower is better for these: their "best" over seeds is the minimum.
LOWER_IS_BETTER = frozenset({
    "rank_val", "rank_test", "percentile_test", "regret_val", "regret_test", "latency_rmse",
    "train_seconds", "search_seconds", "total_seconds", "peak_memory_mb",
})

# Ablation knobs: a table holds each one it does not sweep at the default of the row's settings.
HELD_KNOBS = (
    "num_tiers", "cls_loss_factor", "rank_loss_factor", "latency_loss_factor",
    "random_proportion", "constraints", "sampling_mode", "top_k", "query_metric", "encoding_attributes",
)
STRING_KNOBS = frozenset({"constraints", "sampling_mode", "query_metric", "encoding_attributes"})



#: the benchmarks the papers ran: only their rows sit beside the papers' numbers
PAPER_SPACES = ("nb101", "nb201")


def space_label(space: str) -> str:
    """A space's name in tables ("NAS-Bench-201"), from its plug-in; the name itself if unknown."""
    from ..spaces import get_space

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


class NoMatchingRowsError(NarError):
    """None of our result rows belong to the requested table."""


# ------------------------------------------------------------------------------------------------
# column helpers (vectorised over a results frame)
# ------------------------------------------------------------------------------------------------
def num_label(values: pd.Series) -> pd.Series:
    """Numbers as short labels (``5``, ``0.5``, ``21``); missing -> ``-`` (the papers' dash)."""
    import pandas as pd

    num = pd.to_numeric(values, errors="coerce")
    return pd.Series([("-" if np.isnan(x) else f"{x:g}") for x in num.to_numpy(float)],
                     index=values.index, dtype=object)


def str_col(values: pd.Series) -> pd.Series:
    return values.astype(object).where(values.notna(), "").astype(str).str.strip()


def col(df: pd.DataFrame, name: str) -> pd.Series:
    if name not in df.columns:
        raise DataError(sources(df), f"results have no {name!r} column, needed for this table")
    return df[name]


def sources(df: pd.DataFrame) -> str:
    if "_source" in df.columns and len(df):
        files = sorted(set(df["_source"].astype(str)))
        return ", ".join(files[:3]) + (f" (+{len(files) - 3} more)" if len(files) > 3 else "")
    return "results"


def _method_label(df: pd.DataFrame) -> pd.Series:
    return str_col(col(df, "method")).map(lambda x: METHOD_LABEL.get(x, x))


def _dataset_label(df: pd.DataFrame) -> pd.Series:
    return str_col(col(df, "dataset")).map(lambda x: DATASET_LABEL.get(x, x))


def factor_on(df: pd.DataFrame, name: str) -> pd.Series:
    import pandas as pd

    return pd.to_numeric(col(df, name), errors="coerce") > 0


def _yes_no(mask: pd.Series) -> pd.Series:
    return mask.map({True: "yes", False: "no"}).astype(object)


def _tier_label(df: pd.DataFrame) -> pd.Series:
    # The "-" row of NARQ2T Table IV is the encoder-only baseline without quality tiers.
    return num_label(col(df, "num_tiers")).where(str_col(col(df, "method")) != "no_tier", "-")


def _loss_label(df: pd.DataFrame) -> pd.Series:
    import pandas as pd

    cls, rank = factor_on(df, "cls_loss_factor"), factor_on(df, "rank_loss_factor")
    out = pd.Series("", index=df.index, dtype=object)
    out[cls & ~rank] = "Cls. Loss"
    out[~cls & rank] = "Ranking Loss"
    out[cls & rank] = "Cls.+Ranking Loss"
    return out


def _top_k(d: pd.DataFrame) -> pd.Series:
    return num_label(col(d, "top_k"))


def _p_top_k(p: pd.DataFrame) -> pd.Series:
    return num_label(p["top_k"])


# ------------------------------------------------------------------------------------------------
# tables
# ------------------------------------------------------------------------------------------------
KeyFn = Callable[["pd.DataFrame"], "pd.Series"]


@dataclass(frozen=True)
class TableSpec:
    """How one printed table (or figure) maps onto our results.

    Attributes:
        name: registry name, ``<paper>-<label>`` (``narq2t-IV``, ``nar-3``, ``narq2t-fig10``).
        paper, label: as in the CSV's ``paper`` and ``table`` columns.
        csv: the paper CSV file name in the paper-results directory ("" when the paper printed no
            numbers, e.g. a figure: only our rows are shown).
        title: what the table shows.
        spaces: search spaces our rows may come from; None: any registered space, a plug-in's too
            (the ablations and the queries table: the benchmark is a column of the report, and rows of
            different benchmarks are never averaged together).
        paper_spaces: the spaces whose rows sit beside the paper's numbers, the paper's own
            benchmark first (its numbers were measured there; the ablations also compare NB201, where
            we run them). Rows of any other space, a plug-in's, show alone: the paper ran nothing there.
        methods: our ``method`` values that belong to the table.
        swept: config columns the table varies (all other ablation knobs are held at the default).
        keys: row-key headers, in display order; ``ours[k]`` / ``paper[k]`` compute them.
        metrics: our metric columns compared.
        paper_metric: our metric name for each paper row (None/NaN rows are not compared).
        tag_method: also show our ``method`` (a column that is not joined on).
        datasets: canonical datasets our rows must come from (None: any).
        select: an extra filter on our rows (after space/method/held knobs), called with the rows and
            the defaults of their held knobs (one column per :data:`HELD_KNOBS` entry: the defaults
            depend on each row's settings, which :mod:`.aggregation` works out and passes in, so
            this registry only declares the rule and never imports the aggregation).
        x_key: the swept key plotted on the x axis of the ablation figure.
        aliases: other names ``get_table`` accepts.
        tag_columns: config columns our rows are also grouped by and shown with, not joined on.
    """

    name: str
    paper: str
    label: str
    csv: str
    title: str
    spaces: tuple[str, ...] | None
    methods: tuple[str, ...]
    swept: tuple[str, ...]
    keys: tuple[str, ...]
    ours: Mapping[str, KeyFn]
    paper_keys: Mapping[str, KeyFn]
    metrics: tuple[str, ...]
    paper_metric: KeyFn
    tag_method: bool = True
    datasets: tuple[str, ...] | None = None
    select: Callable[[pd.DataFrame, pd.DataFrame], pd.Series] | None = None
    x_key: str | None = None
    aliases: tuple[str, ...] = field(default=())
    tag_columns: tuple[str, ...] = ()
    paper_spaces: tuple[str, ...] = PAPER_SPACES


def _accuracy_is_test(p: pd.DataFrame) -> pd.Series:
    # NB101 tables print "accuracy": CIFAR-10 test accuracy queried from the benchmark.
    return p["metric"].map({"accuracy": "test_acc"})


def _ablation_tables() -> list[TableSpec]:
    """NAR Tables 3-8 and NARQ2T Tables IV, V, VII, VIII, X, XI (same numbers, both papers), Fig. 10.

    Each table takes the rows of the method of its own paper (NAR for 3-8, NARQ2T for IV-XI) and
    the baselines it has rows for (no tiers, ConvNet).
    """
    specs: list[TableSpec] = []
    common = dict(spaces=None, metrics=("test_acc", "test_acc_valpick"), paper_metric=_accuracy_is_test)
    pairs = lambda nar, q2t: (("NAR", nar[0], nar[1], ("nar",), nar[2]), ("NARQ2T", q2t[0], q2t[1], ("narq2t",), q2t[2]))  # noqa: E731
    for paper, label, csv, method, aliases in pairs(("3", "nar_table3_num_tiers.csv", ()),
                                                    ("IV", "narq2t_table4_num_tiers.csv", ("num_tiers", "tiers"))):
        specs.append(TableSpec(
            name=f"{paper.lower()}-{label}", paper=paper, label=label, csv=csv,
            title="number of quality tiers x top-k",
            methods=method + ("no_tier",), swept=("num_tiers", "top_k"), keys=("tiers", "top-k"),
            ours={"tiers": _tier_label, "top-k": _top_k},
            paper_keys={"tiers": lambda p: num_label(p["num_tiers"]), "top-k": _p_top_k},
            x_key="tiers", aliases=aliases, **common))
    for paper, label, csv, method, aliases in pairs(("4", "nar_table4_losses.csv", ()),
                                                    ("V", "narq2t_table5_losses.csv", ("losses",))):
        specs.append(TableSpec(
            name=f"{paper.lower()}-{label}", paper=paper, label=label, csv=csv,
            title="classification / ranking loss on or off x top-k",
            methods=method, swept=("cls_loss_factor", "rank_loss_factor", "top_k"), keys=("losses", "top-k"),
            ours={"losses": _loss_label, "top-k": _top_k},
            paper_keys={"losses": lambda p: str_col(p["loss_config"]), "top-k": _p_top_k},
            select=lambda d, held: (_default_or_zero(d, held, "cls_loss_factor")
                                    & _default_or_zero(d, held, "rank_loss_factor") & (_loss_label(d) != "")),
            x_key="losses", aliases=aliases, **common))
    for paper, label, csv, method, aliases in pairs(("5", "nar_table5_random_proportion.csv", ()),
                                                    ("VII", "narq2t_table7_random_proportion.csv",
                                                     ("random_proportion", "p"))):
        specs.append(TableSpec(
            name=f"{paper.lower()}-{label}", paper=paper, label=label, csv=csv,
            title="proportion p of random samples",
            methods=method, swept=("random_proportion",), keys=("p",),
            ours={"p": lambda d: num_label(col(d, "random_proportion"))},
            paper_keys={"p": lambda p: num_label(p["p"])}, x_key="p", aliases=aliases, **common))
    for paper, label, csv, method, aliases in pairs(("6", "nar_table6_sampling_constraints.csv", ()),
                                                    ("VIII", "narq2t_table8_sampling_constraints.csv",
                                                     ("constraints",))):
        specs.append(TableSpec(
            name=f"{paper.lower()}-{label}", paper=paper, label=label, csv=csv,
            title="sampling constraints x top-k",
            methods=method, swept=("constraints", "top_k"), keys=("constraints", "top-k"),
            ours={"constraints": lambda d: str_col(col(d, "constraints")).map(lambda c: CONSTRAINT_LABEL.get(c, c)),
                  "top-k": _top_k},
            paper_keys={"constraints": lambda p: str_col(p["constraints"]), "top-k": _p_top_k},
            x_key="constraints", aliases=aliases, **common))
    for paper, label, csv, method, aliases in pairs(("7", "nar_table7_building_block.csv", ()),
                                                    ("X", "narq2t_table10_building_block.csv",
                                                     ("building_block", "convnet"))):
        specs.append(TableSpec(
            name=f"{paper.lower()}-{label}", paper=paper, label=label, csv=csv,
            title="building block of the ranker: ConvNet vs multi-head self-attention x top-k",
            methods=method + ("convnet",), swept=("top_k",), keys=("building block", "top-k"),
            ours={"building block": lambda d: str_col(col(d, "method")).map(
                lambda m: "ConvNet" if m == "convnet" else "MSA"), "top-k": _top_k},
            paper_keys={"building block": lambda p: str_col(p["building_block"]), "top-k": _p_top_k},
            x_key="building block", aliases=aliases, **common))
    for paper, label, csv, method, aliases in pairs(("8", "nar_table8_num_selected_queries.csv", ()),
                                                    ("XI", "narq2t_table11_num_selected_queries.csv",
                                                     ("selected_queries", "top_k"))):
        specs.append(TableSpec(
            name=f"{paper.lower()}-{label}", paper=paper, label=label, csv=csv,
            title="number of selected queries (top-k per iteration) x ranking loss",
            methods=method, swept=("top_k", "rank_loss_factor"), keys=("ranking loss", "top-k"),
            ours={"ranking loss": lambda d: _yes_no(factor_on(d, "rank_loss_factor")), "top-k": _top_k},
            paper_keys={"ranking loss": lambda p: str_col(p["ranking_loss"]), "top-k": _p_top_k},
            select=lambda d, held: _default_or_zero(d, held, "rank_loss_factor"),
            x_key="top-k", aliases=aliases, **common))
    specs.append(TableSpec(
        name="narq2t-fig10", paper="NARQ2T", label="Fig. 10", csv="",
        title="cell attributes in the encoding: operation types (O), FLOPs (F), #params (P) "
              "(accuracies only in the figure: the paper states P+F+O is best)",
        methods=("narq2t",), swept=("encoding_attributes",), keys=("attributes",),
        ours={"attributes": lambda d: str_col(col(d, "encoding_attributes"))},
        paper_keys={}, x_key="attributes", aliases=("encoding", "encoding_attributes", "fig10"), **common))
    return specs


def _search_label(d: pd.DataFrame) -> pd.Series:
    # "NAR (random)" / "NAR (statistics)": the ranker and its sampling mode (Table 1 / I).
    base = _method_label(d)
    ranker = str_col(col(d, "method")).isin(METHOD_LABEL)
    return base.where(~ranker, base + " (" + str_col(col(d, "sampling_mode")) + ")")


def _lat_label(d: pd.DataFrame) -> pd.Series:
    # NARLat / NARQ2TLat: the ranker trained with the latency head (lambda1 > 0), Table III.
    return _method_label(d) + factor_on(d, "latency_loss_factor").map({True: "Lat", False: ""})


def _table6_metric(p: pd.DataFrame) -> pd.Series:
    split = str_col(p["split"])
    return split.map(SPLIT_METRIC).where(split != "", "test_acc")


def _main_tables() -> list[TableSpec]:
    search_methods = ("nar", "narq2t", "random_search", "evolution")
    specs: list[TableSpec] = []
    for paper, label, csv, aliases in (("NAR", "1", "nar_table1_nb101_search.csv", ()),
                                       ("NARQ2T", "I", "narq2t_table1_nb101_search.csv", ("nb101",))):
        specs.append(TableSpec(
            name=f"{paper.lower()}-{label}", paper=paper, label=label, csv=csv,
            title="search results on NAS-Bench-101 (test accuracy)",
            spaces=("nb101",), paper_spaces=("nb101",), methods=search_methods, swept=("sampling_mode",), keys=("method",),
            ours={"method": _search_label}, paper_keys={"method": lambda p: str_col(p["row_label"])},
            metrics=("test_acc",), paper_metric=_accuracy_is_test, tag_method=False, aliases=aliases))
    for paper, label, csv, aliases in (("NAR", "2", "nar_table2_nb201_search.csv", ()),
                                       ("NARQ2T", "II", "narq2t_table2_nb201_search.csv", ("nb201",))):
        specs.append(TableSpec(
            name=f"{paper.lower()}-{label}", paper=paper, label=label, csv=csv,
            title="search results on NAS-Bench-201 (validation / test accuracy per dataset)",
            spaces=("nb201",), paper_spaces=("nb201",), methods=search_methods, swept=(), keys=("dataset", "method"),
            ours={"dataset": _dataset_label, "method": _method_label},
            paper_keys={"dataset": lambda p: str_col(p["dataset"]), "method": lambda p: str_col(p["method"])},
            metrics=("val_acc", "test_acc"), paper_metric=lambda p: str_col(p["split"]).map(SPLIT_METRIC),
            tag_method=False, aliases=aliases))
    specs.append(TableSpec(
        name="narq2t-III", paper="NARQ2T", label="III", csv="narq2t_table3_nb201_latency_prediction.csv",
        title="latency prediction on NAS-Bench-201 (accuracy, latency RMSE, share of top-5 within 5%/10%)",
        spaces=("nb201",), paper_spaces=("nb201",), methods=("nar", "narq2t"), swept=("latency_loss_factor",),
        keys=("dataset", "method"),
        ours={"dataset": _dataset_label, "method": _lat_label},
        paper_keys={"dataset": lambda p: str_col(p["dataset"]), "method": lambda p: str_col(p["method"])},
        metrics=("val_acc", "test_acc", "latency_rmse", "latency_within_5", "latency_within_10"),
        paper_metric=lambda p: p["metric"].map(PAPER_METRIC), tag_method=False, aliases=("latency",),
        tag_columns=("latency_loss_factor",)))
    specs.append(TableSpec(
        name="narq2t-VI", paper="NARQ2T", label="VI", csv="narq2t_table6_rank_loss_factor.csv",
        title="rank-loss factor lambda2 per benchmark and dataset (NARQ2T)",
        spaces=None, methods=("narq2t",), swept=("rank_loss_factor",),
        keys=("benchmark", "dataset", "lambda2"),
        ours={"benchmark": lambda d: str_col(col(d, "space")).map(space_label),
              "dataset": _dataset_label, "lambda2": lambda d: num_label(col(d, "rank_loss_factor"))},
        paper_keys={"benchmark": lambda p: str_col(p["benchmark"]), "dataset": lambda p: str_col(p["dataset"]),
                    "lambda2": lambda p: num_label(p["loss_factor"])},
        metrics=("val_acc", "test_acc"), paper_metric=_table6_metric, tag_method=False,
        select=lambda d, held: factor_on(d, "rank_loss_factor") & factor_on(d, "cls_loss_factor"),
        x_key="lambda2", aliases=("rank_loss_factor", "lambda2")))
    specs.append(TableSpec(
        name="narq2t-IX", paper="NARQ2T", label="IX", csv="narq2t_table9_latency_loss_factor.csv",
        title="latency-loss factor lambda1, run with NAR (NAS-Bench-201 CIFAR-10; caption says NB101, README item 7)",
        spaces=("nb201",), paper_spaces=("nb201",), methods=("nar",), swept=("latency_loss_factor",), keys=("lambda1",),
        ours={"lambda1": lambda d: num_label(col(d, "latency_loss_factor"))},
        paper_keys={"lambda1": lambda p: num_label(p["loss_factor"])},
        metrics=("val_acc", "test_acc", "latency_rmse", "latency_within_5", "latency_within_10"),
        paper_metric=lambda p: p["metric"].map(PAPER_METRIC), tag_method=False, datasets=("cifar10",),
        select=lambda d, held: factor_on(d, "latency_loss_factor"),
        x_key="lambda1", aliases=("latency_loss_factor", "lambda1")))
    specs.append(TableSpec(
        name="queries", paper="ours", label="queries", csv="",
        title="test accuracy of the returned cell vs total queries per method (no paper table: the "
              "papers compare at 1,506 queries only); test_acc = test-pick as in the papers, "
              "test_acc_valpick = the cell with the best queried validation accuracy",
        spaces=None, methods=("narq2t", "nar", "no_tier", "convnet", "random_search", "evolution"),
        swept=(), keys=("method", "queries"),  # budgets are top-5: top-k ablation rows are no budget
        ours={"method": lambda d: str_col(col(d, "method")),
              "queries": lambda d: num_label(col(d, "queries_budget"))},
        paper_keys={}, metrics=("test_acc", "test_acc_valpick"), paper_metric=lambda p: p.iloc[:, 0],
        tag_method=False, x_key="queries", aliases=("queries_vs_accuracy",)))
    return specs


_ROMAN = ("I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI")

TABLES: dict[str, TableSpec] = {s.name: s for s in _main_tables() + _ablation_tables()}
"""Every table we can regenerate, by registry name."""


def _table_order(s: TableSpec) -> tuple[int, int]:
    if s.paper == "NAR":
        return (0, int(s.label))
    if s.paper == "NARQ2T":
        return (1, _ROMAN.index(s.label) if s.label in _ROMAN else len(_ROMAN))
    return (2, 0)


def table_names() -> list[str]:
    """Registry names in the papers' order (NAR 1-8, then NARQ2T I-XI, Fig. 10, then ours)."""
    return [s.name for s in sorted(TABLES.values(), key=_table_order)]


def get_table(name: str) -> TableSpec:
    """A table by registry name or alias (case-insensitive); unknown names suggest close ones."""
    wanted = name.strip().lower().replace(" ", "-")
    lookup: dict[str, str] = {}
    for spec in TABLES.values():
        lookup[spec.name.lower()] = spec.name
        if spec.paper == "NARQ2T" and spec.label in _ROMAN:  # "narq2t-4" for Table IV
            lookup[f"narq2t-{_ROMAN.index(spec.label) + 1}"] = spec.name
        for a in spec.aliases:
            lookup.setdefault(a.lower(), spec.name)
    if wanted in lookup:
        return TABLES[lookup[wanted]]
    close = difflib.get_close_matches(wanted, list(lookup), n=3, cutoff=0.5)
    shown = [lookup[c] if lookup[c].lower() == c else f"{c} ({lookup[c]})" for c in close]
    hint = f"; did you mean {', '.join(shown)}?" if close else ""
    raise NarError(f"unknown table {name!r}{hint} (`nar tables list` shows them all)")


def _default_or_zero(df: pd.DataFrame, held: pd.DataFrame, name: str) -> pd.Series:
    """The loss tables switch a loss off (factor 0) or keep the default factor (``held``, the
    row's settings' default: see :attr:`TableSpec.select`); nothing else."""
    import pandas as pd

    v = pd.to_numeric(df[name], errors="coerce")
    d = pd.to_numeric(held[name], errors="coerce")
    return (v == 0) | np.isclose(v, d)


# ------------------------------------------------------------------------------------------------
# claims and ablations
# ------------------------------------------------------------------------------------------------
CLAIM_KINDS = ("beats", "not_better", "chosen_best")


@dataclass(frozen=True)
class Claim:
    """A conclusion a paper draws from an ablation, as a comparison of table rows over seeds.

    ``better`` and each of ``others`` select rows by row-key values (keys not named are compared
    within each of their values, e.g. per top-k), or by a tag column's (``ours_<column>``: NARLat
    at lambda1 = 7, not Table IX's other factors). ``kind``:

    * ``beats``: ``better`` has the higher mean of ``metric`` than every row of ``others``;
    * ``not_better``: no row of ``others`` beats ``better`` (adding something costs nothing, or
      more of something no longer helps);
    * ``chosen_best``: the row whose ``choice_key`` equals the default setting (the chosen factor)
      beats the best other value of that key.
    """

    name: str
    text: str
    table: str
    kind: str
    better: Mapping[str, str] = field(default_factory=dict)
    others: tuple[Mapping[str, str], ...] = ()
    metric: str = "test_acc"
    choice_key: str = ""
    choice_column: str = ""
    space: str = ""      # judged only on runs of this space / dataset ("" = any)
    dataset: str = ""


@dataclass(frozen=True)
class Ablation:
    """One ablation of the papers: the sweep that runs it, the tables it fills, the claims it tests."""

    name: str
    script: str          # sweeps/<script>.py
    key: str             # --table KEY of that script
    sweep: SweepSpec
    tables: tuple[str, ...]
    claims: tuple[Claim, ...] = ()


def _loss_rows(top_ks: tuple[int, ...]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for k in top_ks:
        rows += [{"top_k": k, "rank_loss_factor": 0.0}, {"top_k": k, "cls_loss_factor": 0.0}, {"top_k": k}]
    return rows


def _paper_ablations(paper: str) -> list[Ablation]:
    """The NB101 ablations of one paper: NAR Tables 3-8 (method nar), NARQ2T IV-XI (method narq2t)."""
    nar = paper == "NAR"
    method = "nar" if nar else "narq2t"
    t = {"tiers": ("3", "IV"), "losses": ("4", "V"), "p": ("5", "VII"), "constraints": ("6", "VIII"),
         "block": ("7", "X"), "queries": ("8", "XI")}
    tab = {k: f"{paper.lower()}-{v[0] if nar else v[1]}" for k, v in t.items()}
    suffix = "_nar" if nar else ""
    label = (lambda k: f"{paper} Table {t[k][0] if nar else t[k][1]}")
    out = [
        Ablation(f"tiers{suffix}", "tiers", method, SweepSpec(
            name=f"tiers{suffix}", description=f"number of tiers x top-k ({label('tiers')})",
            space="nb101", dataset="cifar10", method=method,
            # top-5 rows first, the default (5 tiers) last of them: the default row is every ablation's
            # default run, so --num-samples 3 adds only what other sweeps do not already hold
            grid=[{"method": "no_tier", "top_k": 5}] + grid_product(num_tiers=[3, 7, 5], top_k=[5])
            + [{"method": "no_tier", "top_k": 1}] + grid_product(num_tiers=[3, 5, 7], top_k=[1]),
            derived={"tier_index": ("num_tiers", -1)},
            search_space={"num_tiers": Param.int(3, 9), "top_k": Param.int(1, 10)},
            metric="mean_test_acc", num_samples=20, paper_table=TABLES[tab["tiers"]].csv),
            (tab["tiers"],),
            (Claim(f"tiers{suffix}", "5 tiers beat 3, 7 and no tiers", tab["tiers"], "beats",
                   {"tiers": "5"}, ({"tiers": "3"}, {"tiers": "7"}, {"tiers": "-"})),)),
        Ablation(f"losses{suffix}", "loss_factors", f"losses{suffix}", SweepSpec(
            name=f"loss_factors_losses{suffix}",
            description=f"classification / ranking loss on-off x top-k ({label('losses')})",
            space="nb101", dataset="cifar10", method=method, grid=_loss_rows((5, 1, 3)),
            search_space={"cls_loss_factor": Param.float(0.0, 2.0), "rank_loss_factor": Param.float(0.0, 40.0)},
            metric="mean_test_acc", num_samples=20, paper_table=TABLES[tab["losses"]].csv),
            (tab["losses"],),
            (Claim(f"losses{suffix}", "classification + ranking loss beat either alone", tab["losses"], "beats",
                   {"losses": "Cls.+Ranking Loss"}, ({"losses": "Cls. Loss"}, {"losses": "Ranking Loss"})),)),
        Ablation(f"random_proportion{suffix}", "random_proportion", method, SweepSpec(
            name=f"random_proportion{suffix}", description=f"random proportion p ({label('p')})",
            space="nb101", dataset="cifar10", method=method,
            grid=[{"random_proportion": p} for p in (0.0, 1.0, 0.5, 0.3, 0.7)],  # the claim's rows first
            search_space={"random_proportion": Param.float(0.0, 1.0)},
            metric="mean_test_acc", num_samples=20, paper_table=TABLES[tab["p"]].csv),
            (tab["p"],),
            (Claim(f"random_proportion{suffix}", "p = 0.5 beats p = 0 and p = 1", tab["p"], "beats",
                   {"p": "0.5"}, ({"p": "0"}, {"p": "1"})),)),
        Ablation(f"sampling_constraints{suffix}", "sampling_constraints", method, SweepSpec(
            name=f"sampling_constraints{suffix}",
            description=f"FLOPs / #params / both as sampling constraints x top-k ({label('constraints')})",
            space="nb101", dataset="cifar10", method=method,
            grid=grid_product(top_k=[5, 1, 3], constraints=["flops", "params", "flops+params"]),  # default 3rd
            search_space={"constraints": Param.choice("flops", "params", "flops+params"),
                          "random_proportion": Param.float(0.0, 1.0)},
            metric="mean_test_acc", num_samples=20, paper_table=TABLES[tab["constraints"]].csv),
            (tab["constraints"],),
            (Claim(f"sampling_constraints{suffix}", "FLOPs and #params together beat either alone",
                   tab["constraints"], "beats", {"constraints": "FLOPs&#Params"},
                   ({"constraints": "FLOPs"}, {"constraints": "#Params"})),)),
        Ablation(f"building_block{suffix}", "building_block", method, SweepSpec(
            name=f"building_block{suffix}",
            description=f"ConvNet vs Transformer (MSA) ranker x top-k ({label('block')})",
            space="nb101", dataset="cifar10", method=method,
            grid=grid_product(top_k=[5, 1, 3], method=[method, "convnet"]),
            search_space={"top_k": Param.int(1, 10)},
            metric="mean_test_acc", num_samples=10, paper_table=TABLES[tab["block"]].csv),
            (tab["block"],),
            (Claim(f"building_block{suffix}", "the Transformer (MSA) ranker beats the ConvNet ranker", tab["block"],
                   "beats", {"building block": "MSA"}, ({"building block": "ConvNet"},)),)),
        Ablation(f"selected_queries{suffix}", "selected_queries", method, SweepSpec(
            name=f"selected_queries{suffix}",
            description=f"selected queries top-k x ranking loss on/off ({label('queries')})",
            space="nb101", dataset="cifar10", method=method,
            grid=[{"top_k": k} for k in (1, 5, 10, 3, 7)] + [{"top_k": k, "rank_loss_factor": 0.0} for k in (1, 3, 5)],
            search_space={"top_k": Param.int(1, 10)},
            metric="mean_test_acc", num_samples=10, paper_table=TABLES[tab["queries"]].csv),
            (tab["queries"],),
            (Claim(f"queries_help{suffix}", "more selected queries help (top-5 beats top-1)", tab["queries"], "beats",
                   {"ranking loss": "yes", "top-k": "5"}, ({"ranking loss": "yes", "top-k": "1"},)),
             Claim(f"queries_saturate{suffix}", "then saturate (top-10 does not beat top-5)", tab["queries"],
                   "not_better", {"ranking loss": "yes", "top-k": "5"}, ({"ranking loss": "yes", "top-k": "10"},)))),
    ]
    return out


def _rank_factor(key: str, space: str, dataset: str, factors: range, runs: int, lo: float, hi: float) -> Ablation:
    spec = SweepSpec(
        name=f"loss_factors_{key}",
        description=f"rank-loss factor lambda2 on {space} {dataset} (NARQ2T Table VI)",
        space=space, dataset=dataset, method="narq2t",
        grid=[{"rank_loss_factor": float(f)} for f in factors],
        search_space={"rank_loss_factor": Param.float(lo, hi)},
        seeds=tuple(range(runs)),
        metric="mean_test_acc" if space == "nb101" else "mean_val_acc",
        mode="max", num_samples=20, paper_table="narq2t_table6_rank_loss_factor.csv",
    )
    claim = Claim(f"rank_factor_{space}_{dataset}", f"the chosen rank-loss factor lambda2 is the best ({space} {dataset})",
                  "narq2t-VI", "chosen_best", choice_key="lambda2", choice_column="rank_loss_factor",
                  space=space, dataset=dataset)
    return Ablation(f"rank_factor_{key}", "loss_factors", key, spec, ("narq2t-VI",), (claim,))


#: lambda1 of the latency head in NARQ2T Table III (Sec. IV-C); Table IX sweeps 1..10
LATENCY_HEAD_FACTOR = 7.0


def _ablations() -> list[Ablation]:
    out = _paper_ablations("NARQ2T") + _paper_ablations("NAR")
    out += [
        _rank_factor("rank_nb101", "nb101", "cifar10", range(19, 24), 5, 1.0, 40.0),
        _rank_factor("rank_cifar10", "nb201", "cifar10", range(3, 8), 10, 0.5, 30.0),
        _rank_factor("rank_cifar100", "nb201", "cifar100", range(21, 26), 10, 0.5, 40.0),
        _rank_factor("rank_imagenet16", "nb201", "imagenet16", range(16, 21), 10, 0.5, 40.0),
        Ablation("latency_factor", "loss_factors", "latency", SweepSpec(
            name="loss_factors_latency", description="latency-loss factor lambda1 = 1..10 with NAR (NARQ2T Table IX)",
            space="nb201", dataset="cifar10", method="nar",
            grid=[{"latency_loss_factor": float(f)} for f in range(1, 11)],
            search_space={"latency_loss_factor": Param.float(0.1, 20.0, log=True)},
            metric="mean_val_acc", num_samples=20, paper_table="narq2t_table9_latency_loss_factor.csv"),
            ("narq2t-IX",)),
        # Table III: the same ranker with and without its latency head (lambda1 = 7, Sec. IV-C)
        Ablation("latency_head", "loss_factors", "latency_head", SweepSpec(
            name="loss_factors_latency_head",
            description="latency head off / on (lambda1 = 7) for NARQ2T and NAR (NARQ2T Table III)",
            space="nb201", dataset="cifar10", method="narq2t",
            grid=grid_product(method=["narq2t", "nar"], latency_loss_factor=[0.0, LATENCY_HEAD_FACTOR]),
            search_space={"latency_loss_factor": Param.float(0.1, 20.0, log=True)},
            metric="mean_test_acc", num_samples=10, paper_table="narq2t_table3_nb201_latency_prediction.csv"),
            ("narq2t-III",),
            (Claim("latency_head", "the latency head does not cost accuracy (NARQ2TLat vs NARQ2T)", "narq2t-III",
                   "not_better", {"method": "NARQ2TLat", "ours_latency_loss_factor": f"{LATENCY_HEAD_FACTOR:g}"}, ({"method": "NARQ2T"},)),
             Claim("latency_head_nar", "the latency head does not cost accuracy (NARLat vs NAR)", "narq2t-III",
                   "not_better", {"method": "NARLat", "ours_latency_loss_factor": f"{LATENCY_HEAD_FACTOR:g}"}, ({"method": "NAR"},)))),
        Ablation("encoding_attributes", "encoding_attributes", "narq2t", SweepSpec(
            name="encoding_attributes",
            description="cell attributes in the encoding: O, F, P and their combinations (NARQ2T Fig. 10)",
            space="nb101", dataset="cifar10", method="narq2t",
            grid=[{"encoding_attributes": a} for a in ("ops", "ops+flops", "ops+params", "flops+params", "flops",
                                                       "params", "ops+flops+params")],  # the default last
            search_space={"encoding_attributes": Param.choice("ops", "flops", "params", "ops+flops", "ops+params",
                                                              "flops+params", "ops+flops+params")},
            metric="mean_test_acc", num_samples=7, paper_table=""),
            ("narq2t-fig10",),
            # "combining all three attributes, the performance achieves the highest": judged as two claims,
            # the encoding without FLOPs / #params / both (issue 10's rows), and without operation types
            (Claim("encoding_attributes", "FLOPs and #params added to the operation types (P+F+O) beat O+F, O+P and O",
                   "narq2t-fig10", "beats", {"attributes": "ops+flops+params"},
                   tuple({"attributes": a} for a in ("ops+flops", "ops+params", "ops"))),
             Claim("encoding_attributes_ops", "P+F+O beats the encodings without operation types (F+P, F, P)",
                   "narq2t-fig10", "beats", {"attributes": "ops+flops+params"},
                   tuple({"attributes": a} for a in ("flops+params", "flops", "params"))))),
        Ablation("queries_vs_accuracy", "queries_vs_accuracy", "nb201", SweepSpec(
            name="queries_vs_accuracy",
            description="test accuracy vs total queries (50..1506) for every method (budget table)",
            space="nb201", dataset="cifar10", method="narq2t",
            # cheapest first: --num-samples 12 runs the two baselines at every budget (seconds each),
            # 20 adds the fast rankers at 50..150, 24 at 300
            grid=[{"method": m, **BUDGETS[b]} for m in ("random_search", "evolution") for b in BUDGETS]
            + [{"method": m, **BUDGETS[b]} for b in (50, 100, 150, 300) for m in ("narq2t", "no_tier")]
            + [{"method": m, **BUDGETS[b]} for b in (50, 100, 150, 300) for m in ("convnet", "nar")]
            + [{"method": m, **BUDGETS[b]} for b in (600, 1506) for m in ("narq2t", "no_tier", "convnet", "nar")],
            search_space={"top_k": Param.int(1, 10)},
            metric="mean_test_acc", num_samples=10, paper_table=""),
            ("queries",)),
        Ablation("kl_thresholds", "kl_thresholds", "narq2t", SweepSpec(
            name="kl_thresholds",
            # Algorithm 2's KL test decides something only under distribution sampling: NB201's default
            # (interval sampling, the authors' force_uniform) never reads it, so the sweep fixes
            # sampling_mode=statistics (NB101's default); tests/test_learns_tiers.py checks zeta acts here
            description="KL thresholds zeta for FLOPs / #params under distribution sampling, where the KL test "
                        "acts (paper 2.5, authors' NB201 0.35 / 0.3; no published table)",
            space="nb201", dataset="cifar10", method="narq2t", fixed={"sampling_mode": "statistics"},
            grid=[{"kl_threshold_flops": z, "kl_threshold_params": z} for z in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)],
            search_space={"kl_threshold_flops": Param.float(0.1, 10.0, log=True),
                          "kl_threshold_params": Param.float(0.1, 10.0, log=True)},
            seeds=tuple(range(10)), metric="mean_val_acc", num_samples=30), ()),
    ]
    return out


ABLATIONS: dict[str, Ablation] = {a.name: a for a in _ablations()}
"""Every ablation, by name."""

for _a in ABLATIONS.values():  # a claim or an ablation naming a table that does not exist is a bug here
    assert all(t in TABLES for t in _a.tables), _a.name
    assert all(c.table in _a.tables and c.kind in CLAIM_KINDS for c in _a.claims), _a.name


def script_specs(script: str) -> dict[str, SweepSpec]:
    """``{--table key: spec}`` of one ``sweeps/<script>.py``, in registry order."""
    specs = {a.key: a.sweep for a in ABLATIONS.values() if a.script == script}
    if not specs:
        raise NarError(f"no ablation uses the script {script!r}")
    return specs


def get_ablation(name: str) -> Ablation:
    if name not in ABLATIONS:
        close = difflib.get_close_matches(name, list(ABLATIONS), n=3)
        raise NarError(f"unknown ablation {name!r}" + (f"; did you mean {', '.join(close)}?" if close else ""))
    return ABLATIONS[name]


def claims() -> list[Claim]:
    return [c for a in ABLATIONS.values() for c in a.claims]
