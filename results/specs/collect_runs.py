#!/usr/bin/env python
"""Gather the rows of `results/specs/gpu_batch.sh` runs into the committed result tables.

    PYTHONPATH=. .venv/bin/python results/specs/collect_runs.py /work/runs19 /work/runs19b --into results/

Each OUT folder of gpu_batch.sh holds `runs/<job name>/results.csv` (one row per seed). A job name
starts with its ablation (`tiers.num_tiers3.top_k5`, as `make_jobs.py` names it) or with `queries.`
for the queries-versus-accuracy lines; the rows of one ablation, space, dataset and budget go to one
table, `<ablation>_<space>_<dataset>_q<budget>_v<settings version>.csv`, and the queries lines to
`queries_vs_accuracy_<space>_<dataset>_<methods>_v<settings version>.csv` (methods: `baselines` for
random search and evolution, else `rankers`). Rows are sorted by job and seed; a table is written
atomically and only when it does not exist yet (a table never silently replaces committed rows: pass
--replace to overwrite it, or --append to add the new rows after its own: a run it already holds,
the same config, seed and code version, is skipped when its numbers agree and refused when they do
not). Exit status 2 and one line naming the problem when a folder holds no runs.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from nar_core.budget import budget_of
from nar_core.io import RESULT_TEXT_COLUMNS, atomic_path

BASELINES = {"random_search", "evolution"}


def table_name(job: str, rows: pd.DataFrame) -> str:
    first = rows.iloc[0]
    version = int(first["settings_version"])
    where = f"{first['space']}_{first['dataset']}"
    if job.startswith("queries."):
        kind = "baselines" if set(rows["method"]) <= BASELINES else "rankers"
        return f"queries_vs_accuracy_{where}_{kind}_v{version}.csv"
    return f"{job.split('.', 1)[0]}_{where}_q{budget_of(first.to_dict())}_v{version}.csv"


#: what identifies a run in a table, and the numbers two copies of it must agree on
RUN = ("config_hash", "seed", "code_version", "device")
AGREE = ("test_acc", "test_acc_valpick", "found_key")


def appended(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """``old`` then the rows of ``new`` it does not hold yet; ValueError naming the run when a row of
    ``new`` is a run of ``old`` (:data:`RUN`) with other numbers (:data:`AGREE`)."""
    key = [c for c in RUN if c in old.columns and c in new.columns]
    agree = [c for c in AGREE if c in old.columns and c in new.columns]
    both = new.reset_index().merge(old[key + agree], on=key, how="inner", suffixes=("", "_old"))
    for row in both.itertuples(index=False):
        r = row._asdict()
        if any(str(r[c]) != str(r[f"{c}_old"]) for c in agree):
            run = ", ".join(f"{c} {r[c]}" for c in key)
            diff = ", ".join(f"{c} {r[c + '_old']} vs {r[c]}" for c in agree)
            raise ValueError(f"run {run} is already in the table with other numbers ({diff}): refusing to append")
    fresh = new.drop(index=both["index"].to_numpy()) if len(both) else new
    return pd.concat([old, fresh], ignore_index=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("outs", nargs="+", help="OUT folders of gpu_batch.sh")
    p.add_argument("--into", default="results", help="folder of the result tables (default results/)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("--replace", action="store_true", help="overwrite a table that exists")
    how.add_argument("--append", action="store_true", help="add the new rows to a table that exists")
    args = p.parse_args(argv)
    tables: dict[str, list[pd.DataFrame]] = {}
    for out in args.outs:
        found = sorted(Path(out).glob("runs/*/results.csv"))
        if not found:
            print(f"collect_runs: {out}: no runs/<name>/results.csv (an OUT folder of gpu_batch.sh?)", file=sys.stderr)
            return 2
        for f in found:
            rows = pd.read_csv(f, dtype=RESULT_TEXT_COLUMNS).assign(_job=f.parent.name)
            tables.setdefault(table_name(f.parent.name, rows), []).append(rows)
    into = Path(args.into)
    for name, frames in sorted(tables.items()):
        df = pd.concat(frames, ignore_index=True).sort_values(["_job", "seed"], kind="stable").drop(columns="_job")
        path = into / name
        if path.exists() and args.append:
            try:
                df = appended(pd.read_csv(path, dtype=RESULT_TEXT_COLUMNS), df)
            except ValueError as exc:
                print(f"collect_runs: {path}: {exc}", file=sys.stderr)
                return 2
        elif path.exists() and not args.replace:
            print(f"collect_runs: {path} exists (pass --append to add the new rows, --replace to overwrite it)",
                  file=sys.stderr)
            return 2
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=False, lineterminator="\n")
        print(f"{path}: {len(df)} rows ({df['method'].nunique()} method(s), seeds {df['seed'].min()}-{df['seed'].max()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
