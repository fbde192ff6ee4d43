#!/usr/bin/env python
"""Is bf16 equivalent to fp32? Rows of one config run in both precisions, paired by seed.

    .venv/bin/python analysis/precision.py results/precision/narq2t_nb201_cifar10_q150.csv

For each metric: the seeds both precisions ran, the means, the mean paired difference (bf16 -
fp32) with its 95% t and bootstrap intervals (``nar_core.ablations.verdicts.paired_stats``, the
statistics of the report's verdicts), the smallest difference the seeds could detect, and whether
the 95% interval lies within the equivalence margin (issue 18: +-0.1 points of found test
accuracy, +-0.02 of Kendall tau). Then the time per run in each precision. Rows are paired only
within one method, dataset, budget, device and code version; every other config field must agree.
"""
from __future__ import annotations

import argparse
import sys

import pandas as pd

from nar_core.ablations.verdicts import paired_stats
from nar_core.budget import budget_of
from nar_core.config import RUNTIME_FIELDS, ExperimentConfig
from nar_core.io import text_columns

#: metric -> equivalence margin (None: reported, not judged)
MARGINS = {"test_acc": 0.1, "test_acc_valpick": 0.1, "kendall_tau": 0.02, "tier_accuracy": None}
TIMES = ("train_seconds", "total_seconds")


def pair_up(rows: pd.DataFrame) -> list[tuple[tuple, pd.DataFrame]]:
    """Groups of rows equal in every config field but precision (and device, code version), each
    as a frame with one row per seed and columns ``<metric>_fp32`` / ``<metric>_bf16``."""
    fields = [f for f in ExperimentConfig().to_dict() if f in rows and f not in RUNTIME_FIELDS and f != "precision"]
    keys = [f for f in fields if rows[f].astype(str).nunique() > 1] + ["device", "code_version"]
    out = []
    for key, g in rows.groupby([k for k in keys if k in rows], dropna=False):
        by = {p: g[g.precision == p].set_index("seed") for p in ("fp32", "bf16")}
        if any(by[p].index.duplicated().any() for p in by):
            raise SystemExit(f"analysis/precision.py: a seed appears twice for one precision in group {key}")
        both = by["fp32"].merge(by["bf16"], left_index=True, right_index=True, suffixes=("_fp32", "_bf16"))
        if len(both):
            out.append((key if isinstance(key, tuple) else (key,), both))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("tables", nargs="+", help="result CSVs (nar run's results.csv or a copy)")
    args = p.parse_args()
    frames = []
    for t in args.tables:
        try:
            frames.append(text_columns(pd.read_csv(t, dtype=str)))
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            print(f"analysis/precision.py: cannot read {t}: {exc}", file=sys.stderr)
            return 2
    rows = pd.concat(frames, ignore_index=True)
    missing = [c for c in ("precision", "seed", "method") + tuple(MARGINS) + TIMES if c not in rows]
    if missing:
        print(f"analysis/precision.py: not a results table (no column {', '.join(missing)})", file=sys.stderr)
        return 2
    for c in ("seed",) + tuple(MARGINS) + TIMES:
        rows[c] = pd.to_numeric(rows[c], errors="coerce")
    groups = pair_up(rows)
    if not groups:
        print("analysis/precision.py: no seed ran in both fp32 and bf16 under one config", file=sys.stderr)
        return 2
    for key, both in groups:
        first = both.iloc[0]
        print(f"{first['method_fp32']} on {first['space_fp32']} {first['dataset_fp32']}, budget "
              f"{budget_of(first.rename(lambda c: c.removesuffix('_fp32')))} queries, {len(both)} seeds in both "
              f"precisions; device {key[-2]}, code {key[-1]}")
        for metric, margin in MARGINS.items():
            s = paired_stats(both[f"{metric}_bf16"], both[f"{metric}_fp32"])
            lo, hi = s.ci95_t
            verdict = "" if margin is None else (
                f"  within +-{margin}" if -margin < lo and hi < margin else f"  NOT within +-{margin}")
            print(f"  {metric:17s} fp32 {s.mean_b:8.3f}  bf16 {s.mean_a:8.3f}  bf16-fp32 {s.diff:+.3f}  "
                  f"95% t [{lo:+.3f}, {hi:+.3f}]  bootstrap [{s.ci95_boot[0]:+.3f}, {s.ci95_boot[1]:+.3f}]  "
                  f"detectable {s.mde:.3f}{verdict}")
        for t in TIMES:
            a, b = both[f"{t}_fp32"].mean(), both[f"{t}_bf16"].mean()
            print(f"  {t:17s} fp32 {a:8.1f} s  bf16 {b:8.1f} s  ({a / b:.2f}x)")
        flagged = {pr: int((both[f"health_{pr}"].fillna("ok") != "ok").sum()) for pr in ("fp32", "bf16")}
        print(f"  seeds flagged as not learned: fp32 {flagged['fp32']}, bf16 {flagged['bf16']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
