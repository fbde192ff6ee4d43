"""Figures from our runs: search curves and ablation plots, saved as PNG atomically.

* :func:`plot_curves`: best-so-far validation accuracy (``best_so_far_val``) against search
  iteration, mean and a ±1 std band over seeds, one line per method, with the benchmark
  optimum as a dashed line.
* :func:`plot_ablation`: one metric against the swept parameter of an ablation table (e.g.
  test accuracy vs number of tiers), our mean ± std beside the paper's points.

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

from nar_core.errors import NarError  # noqa: E402
from nar_core.io import atomic_path  # noqa: E402

from .tables import (  # noqa: E402
    DATASET_LABEL, STD_DDOF, TableSpec, _describe, build_table, get_table, load_paper_table, space_label,
    parse_curve,
)

__all__ = ["curve_matrix", "benchmark_optimum", "plot_curves", "plot_ablation"]

METRIC_LABEL = {
    "test_acc": "test accuracy (%)", "val_acc": "validation accuracy (%)", "latency_rmse": "latency RMSE (ms)",
    "latency_within_5": "top-5 within 5% latency (%)", "latency_within_10": "top-5 within 10% latency (%)",
}
# Our methods that are a row of an ablation table rather than a ranker variant.
_BASELINE_TAGS = frozenset({"no_tier", "convnet"})


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


def benchmark_optimum(rows: pd.DataFrame, space: str, dataset: str,
                      paper_dir: str | os.PathLike | None = None) -> float | None:
    """Best validation accuracy in the benchmark for the plotted rows.

    From our rows first (``val_acc + regret_val`` is the optimum every run was measured
    against), else the paper's "Optimal" row (NB201 Table II), else None.
    """
    if {"val_acc", "regret_val"} <= set(rows.columns):
        opt = (pd.to_numeric(rows["val_acc"], errors="coerce") + pd.to_numeric(rows["regret_val"], errors="coerce"))
        opt = opt.dropna()
        if len(opt):
            return float(opt.median())
    if space == "nb201":
        try:
            paper = load_paper_table(get_table("narq2t-II"), paper_dir)
        except NarError:
            return None
        hit = paper[(paper["method"] == "Optimal") & (paper["dataset"] == DATASET_LABEL.get(dataset, dataset))
                    & (paper["metric"] == "val_acc")]
        if len(hit):
            return float(hit["paper_best"].iloc[0])
    return None


def _save(fig: plt.Figure, path: str | os.PathLike) -> Path:
    path = Path(path)
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png", dpi=130, bbox_inches="tight")
        os.chmod(tmp, 0o644)
    plt.close(fig)
    return path


def plot_curves(results: pd.DataFrame, out: str | os.PathLike, space: str | None = None,
                dataset: str | None = None, methods: Sequence[str] | None = None,
                optimum: float | None = None, paper_dir: str | os.PathLike | None = None) -> Path:
    """Best-so-far validation accuracy vs search iteration, mean ± std over seeds per method.

    ``space``/``dataset`` pick one benchmark when the results hold several (required then).
    ``optimum`` overrides :func:`benchmark_optimum`. Returns the PNG path.
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
                       f"found: {_describe(results, ('space', 'dataset', 'method'))}")
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
        color = f"C{i}"
        ax.plot(x, mean, color=color, lw=1.8, label=f"{method} (n={len(curves)})")
        if len(curves) > 1:
            std = curves.std(axis=0, ddof=STD_DDOF)
            ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2, lw=0)
    opt = optimum if optimum is not None else benchmark_optimum(df, space, dataset, paper_dir)
    if opt is not None:
        ax.axhline(opt, color="k", ls="--", lw=1, label=f"benchmark optimum {opt:.2f}")
    ax.set_xlabel("search iteration")
    ax.set_ylabel("best validation accuracy so far (%)")
    ax.set_title(f"{space_label(space)} {DATASET_LABEL.get(dataset, dataset)}: "
                 f"best-so-far (mean ± std over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, out)


def _pick_x(spec: TableSpec) -> str:
    if spec.x_key is None:
        raise NarError(f"table {spec.name} is not an ablation over one parameter; ablation figures exist for: "
                       + ", ".join(n for n, s in _ablations().items()))
    return spec.x_key


def _ablations() -> dict[str, TableSpec]:
    from .tables import TABLES

    return {n: s for n, s in TABLES.items() if s.x_key is not None}


def _x_sort(labels: Sequence[str]) -> list[str]:
    def key(v: str) -> tuple:
        if v == "-":
            return (0, 0.0, "")
        try:
            return (1, float(v), "")
        except ValueError:
            return (2, 0.0, v)

    return sorted(set(labels), key=key)


def plot_ablation(spec: TableSpec | str, results: pd.DataFrame | None, out: str | os.PathLike,
                  metric: str | None = None, paper_dir: str | os.PathLike | None = None,
                  loose: bool = False) -> Path:
    """``metric`` against the table's swept parameter: our mean ± std (filled) and the paper's (hollow).

    One series per combination of the table's other row keys (e.g. top-k, dataset) and our ranker.
    Returns the PNG path.
    """
    spec = get_table(spec) if isinstance(spec, str) else spec
    x_key = _pick_x(spec)
    table = build_table(spec, results, paper_dir=paper_dir, loose=loose)
    metric = metric or spec.metrics[-1 if "test_acc" not in spec.metrics else spec.metrics.index("test_acc")]
    if metric not in spec.metrics:
        raise NarError(f"--metric: table {spec.name} compares {', '.join(spec.metrics)}, not {metric!r}")
    table = table[table["metric"] == metric]
    if table.empty:
        raise NarError(f"table {spec.name}: no {metric} values to plot")
    others = [k for k in spec.keys if k != x_key]
    xs = _x_sort(table[x_key].astype(str))
    pos = {v: i for i, v in enumerate(xs)}
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    groups = table.groupby(others, sort=False, dropna=False) if others else [((), table)]
    n_series = 0
    for gi, (gkey, g) in enumerate(groups):
        gkey = gkey if isinstance(gkey, tuple) else (gkey,)
        name = ", ".join(f"{k}={v}" for k, v in zip(others, gkey))
        color = f"C{gi % 10}"
        offset = (gi - 0.5 * (len(groups) - 1)) * 0.06 if others else 0.0
        paper = g[g["paper_mean"].notna() | g["paper_best"].notna()].drop_duplicates(subset=[x_key])
        if len(paper):
            px = np.array([pos[v] for v in paper[x_key].astype(str)]) + offset - 0.02
            py = paper["paper_mean"].fillna(paper["paper_best"]).to_numpy(float)
            order = np.argsort(px)
            ax.errorbar(px[order], py[order], yerr=paper["paper_std"].fillna(0).to_numpy(float)[order],
                        fmt="o--", mfc="white", color=color, alpha=0.8, capsize=3, lw=1,
                        label=" ".join(x for x in ("paper", name) if x))
            n_series += 1
        ours = g[g["ours_n"] > 0]
        tags = ours["ours_method"].fillna("") if "ours_method" in ours.columns else pd.Series("", index=ours.index)
        rankers = set(tags) - _BASELINE_TAGS
        if len(rankers) <= 1:  # the row keys already tell a baseline (no tiers, ConvNet) apart: one line
            tags = pd.Series(next(iter(rankers), ""), index=ours.index)
        for ti, (tag, o) in enumerate(ours.groupby(tags, sort=True)):
            ox = np.array([pos[v] for v in o[x_key].astype(str)]) + offset + 0.02 + 0.03 * ti
            order = np.argsort(ox)
            label = " ".join(x for x in ("ours", name, f"[{tag}]" if tag else "") if x)
            ax.errorbar(ox[order], o["ours_mean"].to_numpy(float)[order],
                        yerr=o["ours_std"].fillna(0).to_numpy(float)[order], fmt="s-", color=color,
                        capsize=3, lw=1.5, elinewidth=1, label=label.strip())
            n_series += 1
    ax.set_xticks(range(len(xs)))
    ax.set_xticklabels(xs)
    ax.set_xlabel(x_key)
    ax.set_ylabel(METRIC_LABEL.get(metric, metric))
    ax.set_title(f"{spec.paper} Table {spec.label}: {metric} vs {x_key}", fontsize=10)
    ax.grid(alpha=0.3)
    if n_series:
        ax.legend(fontsize=7, loc="best")
    return _save(fig, out)

