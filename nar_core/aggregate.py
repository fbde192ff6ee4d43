"""Per-seed results -> mean, std, best and number of seeds: the one aggregation of the project.

Used by ``nar run``'s summary, the sweep trials' running metrics and summary, and the paper
tables of ``nar report`` / ``nar tables``. ``std`` is the sample standard deviation (ddof=1, :data:`STD_DDOF`):
the papers print "mean ± std" over 5 or 10 runs without naming the estimator, and over that few
runs the unbiased variance is the usual choice; with one seed it is NaN (unknown), not 0. A
missing or NaN value does not count for its seed. ``best`` is the maximum over seeds, the minimum
for the metrics in ``lower_is_better`` (errors such as ``latency_rmse``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Iterable, Mapping, Sequence

if TYPE_CHECKING:  # imported where used: `nar run` and the sweeps check their input before loading pandas
    import pandas as pd

STD_DDOF = 1
COLUMNS = ("metric", "mean", "std", "best", "n")


def seed_stats(rows: pd.DataFrame | Iterable[Mapping[str, Any]], metrics: Sequence[str], by: Sequence[str] = (),
               lower_is_better: Iterable[str] = ()) -> pd.DataFrame:
    """One row per (group of ``by``, metric): ``*by, metric, mean, std, best, n``.

    Metrics absent from ``rows``, and groups without a value of a metric, have no row.
    """
    import pandas as pd

    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    by = list(by)
    present = [m for m in metrics if m in df.columns]
    if not present or df.empty:
        return pd.DataFrame(columns=[*by, *COLUMNS])
    key = by or ["_all"]
    frame = df[by + present].assign(_all=0) if not by else df[by + present]
    long = frame.melt(id_vars=key, value_vars=present, var_name="metric", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce")
    g = long.groupby(key + ["metric"], sort=False)["value"]
    out = pd.DataFrame({"mean": g.mean(), "std": g.std(ddof=STD_DDOF), "max": g.max(), "min": g.min(),
                        "n": g.count()}).reset_index()
    lower = out["metric"].isin(set(lower_is_better))
    out["best"] = out["max"].where(~lower, out["min"])
    return out.loc[out["n"] > 0, [*by, *COLUMNS]].reset_index(drop=True)


def seed_stats_dict(records: Iterable[Mapping[str, Any]], metrics: Sequence[str],
                    lower_is_better: Iterable[str] = ()) -> dict[str, dict[str, float]]:
    """``{metric: {"mean", "std", "best", "n"}}`` over one group of records (NaN where no seed has it)."""
    table = seed_stats(records, metrics, lower_is_better=lower_is_better).set_index("metric")
    nan = float("nan")
    return {m: ({k: float(table.at[m, k]) for k in ("mean", "std", "best", "n")} if m in table.index
                else {"mean": nan, "std": nan, "best": nan, "n": 0.0}) for m in metrics}
