"""Figures from our runs, saved as PNG atomically with fixed metadata (same results -> same bytes).

* :func:`plot_anytime`: test regret of the returned cell (log scale, 0 = the benchmark optimum,
  drawn) against the total queries the runs made (training + validation cells + searched), per
  method, mean over seeds with a 95% bootstrap band; a column per dataset, a row per selection
  protocol (test-pick, val-pick). From the queries-vs-accuracy rows.
* :func:`plot_ranks`: the rank of each method on each dataset at each budget (1 = best mean test
  accuracy), averaged across the datasets; a panel per protocol.
* :func:`plot_ablation`: one point per row of an ablation table, our mean with its 95% t interval
  over seeds and the seed count beside it, the axis scaled to the intervals; a panel per
  benchmark / budget / settings, at most three in a row. The paper's numbers are drawn only beside
  runs on the paper's benchmark and dataset at the paper's budget, labelled as printed.
* :func:`plot_curves`: within-run validation regret of the best cell so far (log scale) against
  total queries, per method, mean with a 95% bootstrap band (rows record the best-so-far on
  validation only).
* :func:`plot_latency`: the latency head's prediction against the measured latency of the five
  best queried cells of each run (NARQ2T Table III's RMSE and within-5%/10% come from these pairs).

Bootstrap bands resample seeds with a fixed generator seed (:data:`~.verdicts.BOOT_SEED`).
Matplotlib runs with the Agg backend (no display needed).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # files only; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from ..errors import NarError  # noqa: E402
from ..io import atomic_path  # noqa: E402
from .aggregation import PAPER_DATASET, build_table, describe, labelled_rows  # noqa: E402
from .registry import DATASET_LABEL, METHOD_LABEL, TableSpec, get_table, space_label  # noqa: E402
from .verdicts import BOOT_SEED  # noqa: E402

__all__ = ["curve_matrix", "parse_curve", "plot_curves", "plot_ablation", "plot_anytime", "plot_queries",
           "plot_ranks", "plot_latency", "bootstrap_band", "ablation_panels", "rank_table", "MAX_COLUMNS"]

#: panels in a row, at most
MAX_COLUMNS = 3
#: resamples of a figure's bootstrap band (the verdicts use more: a band is read by eye)
N_BOOT_BAND = 2000
#: below this regret (percentage points) the log axis is linear, so a regret of 0 (the optimum) is drawn
LINTHRESH = 0.01
PROTOCOL_METRIC = {"test-pick": "test_acc", "val-pick": "test_acc_valpick"}

METRIC_LABEL = {
    "test_acc": "test accuracy (%)", "val_acc": "validation accuracy (%)", "latency_rmse": "latency RMSE (ms)",
    "test_acc_valpick": "test accuracy, val-pick (%)",
}
# PNG text chunks: none that change between runs or matplotlib versions
_METADATA = {"Software": None}


def parse_curve(value: object, name: str = "best_so_far_val") -> list[float]:
    """A list column (``best_so_far_val``, ``latency_predicted``...) as a list of floats (a JSON list
    string in CSV, or a list already); ``name`` only labels the error."""
    import json

    if isinstance(value, (list, tuple, np.ndarray)):
        return [float(v) for v in value]
    if value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == "":
        return []
    try:
        data = json.loads(str(value))
    except json.JSONDecodeError as exc:
        raise NarError(f"{name}: not a JSON list ({exc}): {str(value)[:60]!r}") from None
    if not isinstance(data, list):
        raise NarError(f"{name}: expected a JSON list, got {type(data).__name__}")
    return [float(v) for v in data]


def curve_matrix(curves: Sequence[Sequence[float]]) -> np.ndarray:
    """Stack per-seed best-so-far curves into (seeds, iterations).

    Shorter curves are carried forward with their last value: a finished search keeps its best.
    """
    curves = [list(c) for c in curves if len(c)]
    if not curves:
        raise NarError("best_so_far_val: no non-empty curve to plot")
    length = max(len(c) for c in curves)
    out = np.empty((len(curves), length))
    for i, c in enumerate(curves):
        out[i, : len(c)] = c
        out[i, len(c):] = c[-1]
    return out


def _save(fig: plt.Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=100, metadata=_METADATA)
        os.chmod(tmp, 0o644)
    plt.close(fig)
    return path


def bootstrap_band(values: np.ndarray, level: float = 0.95, n_boot: int = N_BOOT_BAND,
                   seed: int = BOOT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of the mean over seeds, per column of ``values`` (seeds x points).

    The seeds (rows) are resampled together, with a generator seeded by ``seed``: same values, same band.
    One seed: the band is the value itself."""
    values = np.atleast_2d(np.asarray(values, float))
    if len(values) < 2:
        return values[0], values[0]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    means = values[idx].mean(axis=1)  # (n_boot, points)
    lo, hi = np.percentile(means, [50 * (1 - level), 50 * (1 + level)], axis=0)
    return lo, hi


def _grid(n: int, width: float, height: float) -> tuple[plt.Figure, list]:
    """``n`` panels, at most :data:`MAX_COLUMNS` in a row; the unused axes are hidden."""
    cols = min(MAX_COLUMNS, max(n, 1))
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    flat = list(axes.ravel())
    for ax in flat[n:]:
        ax.set_visible(False)
    return fig, flat[:n]


def _regret_axis(ax, what: str) -> None:
    ax.set_yscale("symlog", linthresh=LINTHRESH, linscale=0.5)
    ax.set_ylim(bottom=0)
    ax.axhline(0, color="k", ls=":", lw=1.2, label="optimum (regret 0)")
    ax.set_ylabel(f"{what} (pp, log)")
    ax.grid(alpha=0.3, which="both")


def _style(name: str, methods: Sequence[str]) -> dict:
    """A series' colour (its method's, whatever the device) and line style (solid on the CPU, dashed elsewhere)."""
    method = name.split(" (")[0]
    i = sorted(methods).index(method) if method in methods else 0
    return {"color": f"C{i % 10}", "ls": "-" if name == method else "--"}


def _series(rows: pd.DataFrame) -> pd.Series:
    """A method's name in a legend, with the device where not the CPU (ranks and curves never hide it)."""
    dev = rows["_device"].astype(str) if "_device" in rows.columns else pd.Series("cpu", index=rows.index)
    prec = rows["_precision"].astype(str) if "_precision" in rows.columns else pd.Series("fp32", index=rows.index)
    method = rows["method"].astype(str)
    return pd.Series([m if (d, p) == ("cpu", "fp32") else f"{m} ({d}{'' if p == 'fp32' else ', ' + p})"
                      for m, d, p in zip(method, dev, prec)], index=rows.index)


def _queries_rows(results: pd.DataFrame, settings: str | None) -> pd.DataFrame:
    rows = labelled_rows("queries", results)
    if settings is not None:
        rows = rows[rows["ours_settings"] == settings]
    if rows.empty:
        raise NarError(f"no queries-vs-accuracy rows of ours with settings {settings}")
    rows = rows.assign(_series=_series(rows), _budget=pd.to_numeric(rows["queries"], errors="coerce"))
    return rows


def plot_anytime(results: pd.DataFrame, out: str | os.PathLike, settings: str | None = None) -> Path:
    """Test regret vs total queries made, per method: a column per dataset, a row per protocol.

    Each point is one budget of the budget table: x the mean of the runs' ``queries_total``
    (training + validation cells + searched, repeats free), y the mean test regret of the returned
    cell over seeds (``regret_test``; val-pick: the regret of ``test_acc_valpick``) with a 95%
    bootstrap band. ``settings``: only rows of these settings (the report draws ``default`` and
    the superseded rows apart). NarError when no row has a test regret."""
    rows = _queries_rows(results, settings)
    if "regret_test" not in rows.columns or rows["regret_test"].isna().all():
        raise NarError("queries-vs-accuracy rows without regret_test: nothing to plot")
    optimum = rows["test_acc"] + rows["regret_test"]
    regret = {"test-pick": rows["regret_test"]}
    if "test_acc_valpick" in rows.columns and rows["test_acc_valpick"].notna().any():
        regret["val-pick"] = optimum - rows["test_acc_valpick"]
    made = rows["queries_total"] if "queries_total" in rows.columns else rows["_budget"]
    rows = rows.assign(_x=pd.to_numeric(made, errors="coerce").fillna(rows["_budget"]))
    benches = sorted(rows["_bench"].unique())
    series = sorted(rows["_series"].unique())
    methods = sorted(rows["method"].astype(str).unique())
    fig, axes = plt.subplots(len(regret), len(benches), figsize=(5.0 * len(benches), 3.9 * len(regret)),
                             squeeze=False)
    for r, (proto, values) in enumerate(regret.items()):
        for c, bench in enumerate(benches):
            ax = axes[r][c]
            b = rows[rows["_bench"] == bench].assign(_y=values)
            for name in series:
                m = b[(b["_series"] == name) & b["_y"].notna()]
                if m.empty:
                    continue
                pts = []
                for _, g in m.groupby("_budget", sort=True):
                    lo, hi = bootstrap_band(g["_y"].to_numpy(float)[:, None])
                    pts.append((g["_x"].mean(), g["_y"].mean(), lo[0], hi[0]))
                x, y, lo, hi = map(np.array, zip(*pts))
                st = _style(name, methods)
                ax.plot(x, y, marker="o", ms=3, lw=1.5, label=name, **st)
                ax.fill_between(x, lo, hi, color=st["color"], alpha=0.12, lw=0)
            ax.set_xscale("log")
            _regret_axis(ax, "test regret")
            ax.set_xlabel("total queries made (training + validation cells + searched)", fontsize=8)
            ax.set_title(f"{bench}, {proto}", fontsize=10)
            ax.legend(fontsize=6, loc="upper right", ncol=2)
    fig.suptitle("Anytime test regret of the returned cell: mean over seeds, 95% bootstrap band; 0 = the "
                 "benchmark optimum" + (f" ({settings} settings)" if settings else ""), fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    return _save(fig, out)


def plot_queries(results: pd.DataFrame, out: str | os.PathLike) -> Path:
    """The queries-vs-accuracy figure: :func:`plot_anytime` (test regret, log scale) over every row."""
    return plot_anytime(results, out)


def rank_table(results: pd.DataFrame, settings: str | None = None) -> pd.DataFrame:
    """Each method's rank on each dataset at each budget (1 = best mean; ties share the mean rank).

    Columns: ``protocol``, ``budget`` (the budget table's row), ``bench``, ``series`` (method, with the
    device where not the CPU), ``mean``, ``n``, ``rank``, ``of`` (methods ranked there)."""
    rows = _queries_rows(results, settings)
    out = []
    for proto, metric in PROTOCOL_METRIC.items():
        if metric not in rows.columns:
            continue
        m = rows[rows[metric].notna()]
        if m.empty:
            continue
        means = m.groupby(["_budget", "_bench", "_series"], sort=True)[metric].agg(["mean", "count"]).reset_index()
        means["rank"] = means.groupby(["_budget", "_bench"])["mean"].rank(ascending=False, method="average")
        means["of"] = means.groupby(["_budget", "_bench"])["mean"].transform("count")
        means["protocol"] = proto
        out.append(means)
    if not out:
        raise NarError("no queries-vs-accuracy rows to rank")
    table = pd.concat(out, ignore_index=True).rename(columns={"_budget": "budget", "_bench": "bench", "_series": "series",
                                                             "count": "n"})
    return table[["protocol", "budget", "bench", "series", "mean", "n", "rank", "of"]]


def plot_ranks(results: pd.DataFrame, out: str | os.PathLike, settings: str | None = None) -> Path:
    """The methods' ranks across the datasets, a panel per budget (at most three in a row).

    In a panel, a line per method (best mean rank on top): its rank on each dataset (a marker per
    dataset, test-pick), its mean rank over those datasets under test-pick (black bar) and val-pick
    (hollow diamond). A method run on a GPU is its own line (``(cuda)``)."""
    table = rank_table(results, settings)
    table = table[table["of"] > 1]
    if table.empty:
        raise NarError("no budget with two or more methods on one dataset: nothing to rank")
    budgets = sorted(table["budget"].unique())
    benches = sorted(table["bench"].unique())
    most = int(table.groupby(["budget"])["series"].nunique().max())
    fig, axes = _grid(len(budgets), 4.6, 0.45 * most + 1.6)
    markers = "osD^v<>"
    for ax, budget in zip(axes, budgets):
        t = table[table["budget"] == budget]
        test = t[t["protocol"] == "test-pick"]
        val = t[t["protocol"] == "val-pick"]
        mean_test = test.groupby("series")["rank"].mean()
        mean_val = val.groupby("series")["rank"].mean()
        order = sorted(set(t["series"]), key=lambda n: (mean_test.get(n, np.inf), mean_val.get(n, np.inf), n))
        y = {n: i for i, n in enumerate(order)}
        for j, bench in enumerate(benches):
            b = test[test["bench"] == bench]
            ax.scatter(b["rank"], [y[n] + 0.12 * (j - 1) for n in b["series"]], marker=markers[j % len(markers)],
                       color=f"C{j}", s=18, alpha=0.8, label=f"{bench} (test-pick)")
        ax.scatter([mean_test.get(n, np.nan) for n in order], [y[n] for n in order], marker="|", s=300, color="k",
                   lw=2, label="mean over the datasets, test-pick")
        ax.scatter([mean_val.get(n, np.nan) for n in order], [y[n] for n in order], marker="D", s=30, facecolor="white",
                   edgecolor="k", label="mean over the datasets, val-pick", zorder=3)
        ax.set_yticks(range(len(order)))
        ax.set_yticklabels([f"{n}\n{int(t.loc[t['series'] == n, 'bench'].nunique())} of {len(benches)} datasets"
                            for n in order], fontsize=7)
        ax.set_ylim(len(order) - 0.5, -0.5)
        top = int(max(float(t["of"].max()), 2))
        ax.set_xlim(0.5, top + 0.5)
        ax.set_xticks(range(1, top + 1))
        ax.set_xlabel("rank on a dataset (1 = best mean test accuracy)", fontsize=8)
        ax.set_title(f"budget {int(budget)} (budget-table row)", fontsize=9)
        ax.grid(alpha=0.3, axis="x")
    axes[-1].legend(fontsize=6, loc="lower right")
    fig.suptitle("Methods ranked on each dataset at each budget" + (f" ({settings} settings)" if settings else ""),
                 fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    return _save(fig, out)


def plot_curves(results: pd.DataFrame, out: str | os.PathLike, space: str | None = None,
                dataset: str | None = None, methods: Sequence[str] | None = None,
                optimum: float | None = None) -> Path:
    """Within-run validation regret of the best cell so far vs total queries, per method (log scale).

    Mean over seeds with a 95% bootstrap band; the regret is ``optimum - best_so_far_val``, the
    optimum (default: from the rows, ``val_acc + regret_val``) drawn at 0. x: the training and
    validation cells (``queries_train``) plus the searched queries spread evenly over the
    iterations (``queries_search``); the search iteration where the rows lack those columns.
    ``space``/``dataset`` pick one benchmark when the results hold several (required then).
    """
    df = results
    if "best_so_far_val" not in df.columns:
        raise NarError("results have no 'best_so_far_val' column: nothing to plot")
    if space is not None:
        df = df[df["space"] == space]
    if dataset is not None:
        df = df[df["dataset"] == dataset]
    if methods:
        df = df[df["method"].isin(methods)]
    df = df[df["best_so_far_val"].notna()]
    if df.empty:
        raise NarError(f"no rows with best_so_far_val for space={space}, dataset={dataset}, methods={methods}; "
                       f"found: {describe(results, ('space', 'dataset', 'method'))}")
    benches = df[["space", "dataset"]].drop_duplicates()
    if len(benches) > 1:
        found = ", ".join(f"{s}/{d}" for s, d in benches.itertuples(index=False))
        raise NarError(f"results hold several benchmarks ({found}): choose one with --space and --dataset")
    space, dataset = benches.iloc[0]
    if optimum is None and {"val_acc", "regret_val"} <= set(df.columns):
        opt = (pd.to_numeric(df["val_acc"], errors="coerce") + pd.to_numeric(df["regret_val"], errors="coerce")).dropna()
        optimum = float(opt.median()) if len(opt) else None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    by_queries = {"queries_train", "queries_search"} <= set(df.columns)
    df = df.assign(_series=_series(df))
    methods = sorted(df["method"].astype(str).unique())
    for name, rows in df.groupby("_series", sort=True):
        st = _style(name, methods)
        curves = curve_matrix([parse_curve(v) for v in rows["best_so_far_val"]])
        steps = np.arange(1, curves.shape[1] + 1)
        if by_queries:
            train = float(pd.to_numeric(rows["queries_train"], errors="coerce").mean())
            search = float(pd.to_numeric(rows["queries_search"], errors="coerce").mean())
            x = train + search * steps / curves.shape[1]
        else:
            x = steps
        y = (optimum - curves) if optimum is not None else curves
        lo, hi = bootstrap_band(y)
        ax.plot(x, y.mean(axis=0), lw=1.8, label=f"{name} (n={len(curves)})", **st)
        if len(curves) > 1:
            ax.fill_between(x, lo, hi, color=st["color"], alpha=0.15, lw=0)
    if optimum is not None:
        _regret_axis(ax, "validation regret of the best so far")
    else:
        ax.set_ylabel("best validation accuracy so far (%)")
        ax.grid(alpha=0.3)
    ax.set_xlabel("total queries (training + validation cells + searched)" if by_queries else "search iteration")
    ax.set_title(f"{space_label(space)} {DATASET_LABEL.get(dataset, dataset)}: within-run regret "
                 f"(mean, 95% bootstrap band)" + (f"\noptimum: validation accuracy {optimum:.2f}" if optimum is not None
                                                 else ""), fontsize=10)
    ax.legend(loc="upper right", fontsize=8)
    return _save(fig, out)


def _is_number(v: str) -> bool:
    try:
        float(v)
        return True
    except ValueError:
        return False


def _paper_setting(spec: TableSpec) -> tuple[str, str] | None:
    """The benchmark (space, dataset) a table's paper numbers were measured on; None when its row
    keys name the benchmark (Table VI: the join on the keys matches like with like)."""
    if "benchmark" in spec.keys:
        return None
    return spec.paper_spaces[0], PAPER_DATASET


_SHAPE = ("train_size", "val_size", "search_iterations", "epochs", "batch_size")


def _at_paper_budget(rows: pd.DataFrame) -> bool:
    """Whether every row ran at its space's default budget (the papers' cells, iterations, epochs, batch)."""
    from ..config import ExperimentConfig

    if not set(_SHAPE) <= set(rows.columns) or rows.empty:
        return False
    for (space, dataset), g in rows.groupby(["space", "dataset"]):
        try:
            cfg = ExperimentConfig.for_space(space, dataset=dataset).to_dict()
        except NarError:
            return False
        for k in _SHAPE:
            if not np.allclose(pd.to_numeric(g[k], errors="coerce").to_numpy(float), float(cfg[k])):
                return False
    return True


def ablation_panels(spec: TableSpec | str, results: pd.DataFrame, metric: str = "test_acc",
                    loose: bool = False) -> list[tuple[tuple, list, bool, dict]]:
    """The panels of :func:`plot_ablation`: ``(group, points, with the paper's numbers, the paper's numbers)``.

    A point is ``(order, row key, mean, 95% interval, n, queries made)``; the group is (run on,
    budget-table row, settings). Groups with two or more points, or every group when none has two."""
    from .verdicts import paired_t_interval

    spec = get_table(spec) if isinstance(spec, str) else spec
    rows = labelled_rows(spec, results, loose=loose)
    table = build_table(spec, results, loose=loose, labelled=rows)  # the paper's row order and numbers
    if metric not in rows.columns or rows[metric].isna().all():
        raise NarError(f"table {spec.name}: no {metric} values of ours to plot")
    rows = rows[rows[metric].notna()]
    point_keys = list(spec.keys) + (["ours_method"] if spec.tag_method else [])
    order = {tuple(str(v) for v in k): i for i, k in
             enumerate(table[list(spec.keys)].astype(str).drop_duplicates().itertuples(index=False, name=None))}
    paper = table[(table["metric"] == metric) & table["paper_mean"].notna()].drop_duplicates(list(spec.keys))
    paper = {tuple(str(v) for v in k): (m, s) for k, m, s in
             zip(paper[list(spec.keys)].itertuples(index=False, name=None), paper["paper_mean"], paper["paper_std"])}
    setting = _paper_setting(spec)
    panels = []
    for gkey, g in rows.groupby(["ours_bench", "_budget_row", "ours_settings"], sort=True):
        pts = []
        for pkey, p in g.groupby(point_keys, sort=False):
            pkey = tuple(str(v) for v in (pkey if isinstance(pkey, tuple) else (pkey,)))
            v = p[metric].to_numpy(float)
            ci = paired_t_interval(v, 0.95) if len(v) > 1 and v.std(ddof=1) > 0 else (v.mean(), v.mean())
            made = p["queries_total"].dropna() if "queries_total" in p.columns else pd.Series(dtype=float)
            q = "" if made.empty else (f"{int(made.min())}" if made.min() == made.max() else f"{int(made.min())}-{int(made.max())}")
            pts.append((order.get(pkey[:len(spec.keys)], len(order)), pkey, v.mean(), ci, len(v), q))
        pts.sort(key=lambda t: (t[0], t[1]))
        src = results.loc[g.index]
        on_bench = setting is None or ((src["space"] == setting[0]) & (src["dataset"] == setting[1])).all()
        panels.append((gkey, pts, bool(on_bench and _at_paper_budget(src))))
    panels = [p for p in panels if len(p[1]) > 1] or panels
    return [(gkey, pts, with_paper, paper) for gkey, pts, with_paper in panels]


def plot_ablation(spec: TableSpec | str, results: pd.DataFrame, out: str | os.PathLike,
                  metric: str = "test_acc", loose: bool = False) -> Path:
    """One point per table row: our mean of ``metric`` with its 95% t interval over seeds, ``n=`` beside it.

    One panel per group of our runs (benchmark and device, budget-table row, settings) with two or
    more rows of the table (a lone point, such as the default config run for another table,
    compares nothing), or per group when none has two; at most three panels in a row. The y axis
    spans the intervals (and the paper's points where drawn). Under each tick: the queries the row's
    runs made. The paper's mean ± std (hollow) only in a panel on the paper's benchmark and dataset
    at the paper's budget (:func:`_at_paper_budget`): the papers' NAS-Bench-101 numbers sit beside no
    NAS-Bench-201 run.
    """
    spec = get_table(spec) if isinstance(spec, str) else spec
    panels = ablation_panels(spec, results, metric, loose)
    width = max(4.0, 0.9 * max(len(p[1]) for p in panels) + 2)
    fig, axes = _grid(len(panels), width, 3.8)
    for ax, (gkey, pts, with_paper, paper) in zip(axes, panels):
        nk = len(spec.keys)
        vary = [i for i in range(nk) if len({p[1][i] for p in pts}) > 1] or list(range(nk))
        if all(_is_number(p[1][i]) for p in pts for i in vary):  # numbers in their order, not the paper's
            pts = sorted(pts, key=lambda p: tuple(float(p[1][i]) for i in vary))
        x = np.arange(len(pts))
        mean = np.array([p[2] for p in pts])
        lo = np.array([p[3][0] for p in pts])
        hi = np.array([p[3][1] for p in pts])
        ax.errorbar(x, mean, yerr=[mean - lo, hi - mean], fmt="o", color="C0", capsize=4, ms=5,
                    label="ours: mean, 95% t interval over seeds")
        for xi, p in zip(x, pts):
            ax.annotate(f"n={p[4]}", (xi, p[2]), xytext=(7, 0), textcoords="offset points", fontsize=7, va="center")
        span = [lo.min(), hi.max()]
        if with_paper:
            pm = [paper.get(p[1][:len(spec.keys)], (np.nan, np.nan)) for p in pts]
            pmean = np.array([m for m, _ in pm], float)
            pstd = np.nan_to_num(np.array([s for _, s in pm], float))
            if np.isfinite(pmean).any():
                ax.errorbar(x + 0.15, pmean, yerr=pstd, fmt="s", mfc="white", color="C3", capsize=3, ms=5,
                            label="paper, as printed: mean ± std of its runs")
                span += [np.nanmin(pmean - pstd), np.nanmax(pmean + pstd)]
        lo_y, hi_y = min(span), max(span)
        pad = max(0.05, 0.12 * (hi_y - lo_y))
        ax.set_ylim(lo_y - pad, hi_y + pad)
        # the row keys that vary in the panel name its points (the others are in its title)
        fixed = [f"{spec.keys[i]} {pts[0][1][i]}" for i in range(nk)
                 if i not in vary and spec.keys[i] not in ("benchmark", "dataset")]  # those are in "run on"
        labels = [" ".join(p[1][i] for i in vary) + (f" [{p[1][-1]}]" if spec.tag_method and
                                                     len({q[1][-1] for q in pts}) > 1 else "")
                  + (f"\n{p[5]} q" if p[5] else "") for p in pts]
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_xlim(-0.5, len(pts) - 0.3)
        ax.set_xlabel(", ".join(spec.keys[i] for i in vary) + " (q: total queries made)")
        ax.set_ylabel(METRIC_LABEL.get(metric, metric))
        ax.set_title(", ".join([f"{gkey[0]}", f"budget {gkey[1]}", f"{gkey[2]}"] + fixed), fontsize=9)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=6, loc="lower right")
    fig.suptitle(f"{spec.paper} {spec.label}: {metric}", fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


def plot_latency(results: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Predicted vs measured latency of the top-5 queried cells of every run with a latency head.

    One panel per benchmark, one colour per ranker and settings (NARQ2TLat, default); the diagonal and the +-10%
    band of NARQ2T Table III's "within 10%" are drawn. NarError when no row holds latency pairs.
    """
    need = {"latency_predicted", "latency_measured", "latency_loss_factor"}
    if not need <= set(results.columns):
        raise NarError("results have no latency pairs (run a ranker with latency_loss_factor > 0)")
    df = results[pd.to_numeric(results["latency_loss_factor"], errors="coerce").fillna(0) > 0]
    pairs = []
    for r in df.itertuples(index=False):
        pred = parse_curve(r.latency_predicted, "latency_predicted")
        true = parse_curve(r.latency_measured, "latency_measured")
        if len(pred) != len(true):
            raise NarError(f"latency_predicted and latency_measured differ in length ({len(pred)} vs {len(true)}) "
                           f"in a {r.method} row, seed {r.seed}")
        pairs += [(r.ours_bench, r.method, r.ours_settings, p, t) for p, t in zip(pred, true)]
    if not pairs:
        raise NarError("no run with a latency head holds latency pairs")
    data = pd.DataFrame(pairs, columns=["bench", "method", "settings", "predicted", "measured"])
    benches = sorted(data["bench"].unique())
    fig, axes = _grid(len(benches), 4.6, 4.4)
    for ax, bench in zip(axes, benches):
        b = data[data["bench"] == bench]
        lo, hi = float(b[["predicted", "measured"]].min().min()), float(b[["predicted", "measured"]].max().max())
        pad = 0.05 * (hi - lo or 1.0)
        line = np.array([lo - pad, hi + pad])
        ax.plot(line, line, color="k", lw=1, label="predicted = measured")
        ax.fill_between(line, line * 0.9, line * 1.1, color="0.5", alpha=0.15, lw=0, label="within 10%")
        for i, ((method, settings), m) in enumerate(b.groupby(["method", "settings"], sort=True)):
            rmse = float(np.sqrt(np.mean((m["predicted"] - m["measured"]) ** 2)))
            label = f"{METHOD_LABEL.get(method, method)}Lat, {settings} ({len(m)} cells, RMSE {rmse:.2f} ms)"
            ax.scatter(m["measured"], m["predicted"], s=12, color=f"C{i}", alpha=0.7, label=label)
        ax.set_xlim(line)
        ax.set_ylim(line)
        ax.set_xlabel("measured latency (ms)")
        ax.set_ylabel("predicted latency (ms)")
        ax.set_title(f"{bench}: top-5 queried cells per run", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    return _save(fig, out)
