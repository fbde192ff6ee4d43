"""Figures from our runs, saved as PNG atomically with fixed metadata (same results -> same bytes).

* :func:`plot_ablation`: one bar per row of an ablation table (our mean ± std over seeds), the
  paper's mean ± std beside it as a hollow marker, one panel per benchmark / budget / settings.
* :func:`plot_queries`: test accuracy of the returned cell against total queries, one line per
  method (mean ± std band), test-pick (the papers' protocol, solid) and val-pick (dashed).
* :func:`plot_curves`: best-so-far validation accuracy against search iteration, per method.
* :func:`plot_latency`: the latency head's prediction against the measured latency of the five
  best queried cells of each run (NARQ2T Table III's RMSE and within-5%/10% come from these pairs).

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

from ..aggregate import STD_DDOF  # noqa: E402
from ..errors import NarError  # noqa: E402
from ..io import atomic_path  # noqa: E402
from .aggregation import GROUP_COLUMNS, build_table, describe  # noqa: E402
from .registry import DATASET_LABEL, METHOD_LABEL, TableSpec, get_table, space_label  # noqa: E402

__all__ = ["curve_matrix", "parse_curve", "plot_curves", "plot_ablation", "plot_queries", "plot_latency"]

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


def plot_curves(results: pd.DataFrame, out: str | os.PathLike, space: str | None = None,
                dataset: str | None = None, methods: Sequence[str] | None = None,
                optimum: float | None = None) -> Path:
    """Best-so-far validation accuracy vs search iteration, mean ± std over seeds per method.

    ``space``/``dataset`` pick one benchmark when the results hold several (required then).
    ``optimum`` (default: from the rows, ``val_acc + regret_val``) is drawn dashed.
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
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for i, (method, rows) in enumerate(df.groupby("method", sort=True)):
        curves = curve_matrix([parse_curve(v) for v in rows["best_so_far_val"]])
        x = np.arange(1, curves.shape[1] + 1)
        mean = curves.mean(axis=0)
        ax.plot(x, mean, color=f"C{i}", lw=1.8, label=f"{method} (n={len(curves)})")
        if len(curves) > 1:
            std = curves.std(axis=0, ddof=STD_DDOF)
            ax.fill_between(x, mean - std, mean + std, color=f"C{i}", alpha=0.2, lw=0)
    if optimum is None and {"val_acc", "regret_val"} <= set(df.columns):
        opt = (pd.to_numeric(df["val_acc"], errors="coerce") + pd.to_numeric(df["regret_val"], errors="coerce")).dropna()
        optimum = float(opt.median()) if len(opt) else None
    if optimum is not None:
        ax.axhline(optimum, color="k", ls="--", lw=1, label=f"benchmark optimum {optimum:.2f}")
    ax.set_xlabel("search iteration")
    ax.set_ylabel("best validation accuracy so far (%)")
    ax.set_title(f"{space_label(space)} {DATASET_LABEL.get(dataset, dataset)}: best-so-far "
                 f"(mean ± std over seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, out)


def plot_ablation(spec: TableSpec | str, results: pd.DataFrame, out: str | os.PathLike,
                  metric: str = "test_acc", loose: bool = False) -> Path:
    """Bars of ``metric`` per table row (ours: mean ± std), the paper's mean ± std as hollow markers.

    One panel per group of our runs (benchmark, budget, settings) with two or more rows of the table
    (a lone bar, such as the default config run for another table, compares nothing), or per group
    when none has two; rows we did not run are left out.
    """
    spec = get_table(spec) if isinstance(spec, str) else spec
    table = build_table(spec, results, loose=loose)
    table = table[(table["metric"] == metric) & (table["ours_n"] > 0)]
    if table.empty:
        raise NarError(f"table {spec.name}: no {metric} values of ours to plot")
    panels = list(table.groupby(list(GROUP_COLUMNS), sort=True))
    panels = [p for p in panels if len(p[1]) > 1] or panels
    fig, axes = plt.subplots(1, len(panels), figsize=(max(4.0, 0.9 * max(len(g) for _, g in panels) + 2)
                                                      * len(panels), 3.8), squeeze=False)
    for ax, (gkey, g) in zip(axes[0], panels):
        labels = [" ".join(f"{v}" for v in row) for row in g[list(spec.keys)].astype(str).itertuples(index=False)]
        if "ours_method" in g.columns and g["ours_method"].nunique() > 1:
            labels = [f"{lab}\n[{m}]" for lab, m in zip(labels, g["ours_method"])]
        x = np.arange(len(g))
        ax.bar(x, g["ours_mean"], yerr=g["ours_std"].fillna(0), capsize=4, color="C0", alpha=0.8,
               label="ours (mean ± std)")
        if spec.csv and g["paper_mean"].notna().any():
            ax.errorbar(x, g["paper_mean"], yerr=g["paper_std"].fillna(0), fmt="o", mfc="white", color="C3",
                        capsize=3, label="paper (NAS-Bench-101)" if "NB101" not in gkey[0] else "paper")
        lo = np.nanmin(np.concatenate([(g["ours_mean"] - g["ours_std"].fillna(0)).to_numpy(float),
                                       g["paper_mean"].dropna().to_numpy(float)]))
        hi = np.nanmax(np.concatenate([(g["ours_mean"] + g["ours_std"].fillna(0)).to_numpy(float),
                                       g["paper_mean"].dropna().to_numpy(float)]))
        pad = max(0.2, 0.15 * (hi - lo))
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_xticks(x)
        ax.set_xticklabels(labels, fontsize=8)
        ax.set_xlabel(", ".join(spec.keys))
        ax.set_ylabel(METRIC_LABEL.get(metric, metric))
        ax.set_title(f"{gkey[0]}, {gkey[1]} queries, {gkey[2]}", fontsize=9)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=7, loc="lower right")
    fig.suptitle(f"{spec.paper} {spec.label}: {metric}", fontsize=10)
    fig.tight_layout()
    return _save(fig, out)


def plot_queries(results: pd.DataFrame, out: str | os.PathLike) -> Path:
    """Test accuracy vs total queries per method: one panel per benchmark; test-pick solid, val-pick dashed."""
    spec = get_table("queries")
    rows = build_table(spec, results)
    rows = rows[rows["ours_n"] > 0]
    if rows.empty:
        raise NarError("no queries-vs-accuracy rows of ours to plot")
    benches = sorted(rows["ours_bench"].unique())
    fig, axes = plt.subplots(1, len(benches), figsize=(5.2 * len(benches), 4.0), squeeze=False)
    methods = sorted(rows["method"].unique())
    for ax, bench in zip(axes[0], benches):
        b = rows[rows["ours_bench"] == bench]
        for i, m in enumerate(methods):
            for metric, ls in (("test_acc", "-"), ("test_acc_valpick", "--")):
                r = b[(b["method"] == m) & (b["metric"] == metric)]
                if r.empty:
                    continue
                q = r["queries"].astype(float).to_numpy()
                order = np.argsort(q)
                mean, std = r["ours_mean"].to_numpy(float)[order], r["ours_std"].fillna(0).to_numpy(float)[order]
                ax.plot(q[order], mean, ls=ls, marker="o", ms=3, color=f"C{i}",
                        label=f"{m}" + (" (val-pick)" if metric != "test_acc" else ""))
                if metric == "test_acc":
                    ax.fill_between(q[order], mean - std, mean + std, color=f"C{i}", alpha=0.15, lw=0)
        ax.set_xscale("log")
        ax.set_xlabel("total queries (training + validation cells + searched)")
        ax.set_ylabel("test accuracy of the returned cell (%)")
        ax.set_title(bench, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6, loc="lower right", ncol=2)
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
    fig, axes = plt.subplots(1, len(benches), figsize=(4.6 * len(benches), 4.4), squeeze=False)
    for ax, bench in zip(axes[0], benches):
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
