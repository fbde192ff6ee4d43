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
--replace to overwrite it, or --append to add the new rows after its own, every value as written: a
run it already holds, or one twice among the new rows, is kept once when the numbers agree and
refused, naming both rows, when they do not; a run is what the report calls one). Every table is
checked before any is written. Exit status 2 and one line naming the problem when a folder holds no
runs or a run is refused.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

from nar_core.ablations.aggregation import finished_mask, load_results
from nar_core.ablations.verdicts import BASELINES
from nar_core.budget import budget_of
from nar_core.errors import NarError
from nar_core.io import RESULT_TEXT_COLUMNS, atomic_path


def table_name(job: str, rows: pd.DataFrame) -> str:
    first = rows.iloc[0]
    version = int(first["settings_version"])
    where = f"{first['space']}_{first['dataset']}"
    if job.startswith("queries."):
        kind = "baselines" if set(rows["method"]) <= set(BASELINES) else "rankers"
        return f"queries_vs_accuracy_{where}_{kind}_v{version}.csv"
    return f"{job.split('.', 1)[0]}_{where}_q{budget_of(first.to_dict())}_v{version}.csv"


def appended(old: Path | None, new: pd.DataFrame) -> pd.DataFrame:
    """The rows of table ``old`` (None: no table yet) then those of ``new`` it does not hold yet,
    every value as written.

    Runs are told apart as the report tells them (:func:`nar_core.ablations.aggregation.load_results`:
    config, seed, device, precision, settings and code version, data): a run twice (in the table, or
    twice among the new rows) whose numbers agree is kept once, one whose numbers disagree is a
    :class:`~nar_core.ablations.aggregation.DuplicateRunError` naming both rows."""
    both = pd.concat([read_text(old), new], ignore_index=True, sort=False) if old else new.reset_index(drop=True)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "rows.csv"
        both.to_csv(path, index=False, lineterminator="\n")
        kept = set(load_results([path])["_row"] - 2)  # _row: the line in the file, after the header
    again = finished_mask(both).to_numpy(bool) & ~both.index.isin(list(kept))
    return both[~again].reset_index(drop=True)


def read_text(path: Path) -> pd.DataFrame:
    """A results table with every value as written (no number re-formatted, empty stays empty)."""
    return pd.read_csv(path, dtype=str, keep_default_na=False)


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
            name = table_name(f.parent.name, pd.read_csv(f, dtype=RESULT_TEXT_COLUMNS))
            tables.setdefault(name, []).append(read_text(f).assign(_job=f.parent.name))
    into = Path(args.into)
    ready = []  # every table checked before any is written: a refusal leaves all of them as they were
    for name, frames in sorted(tables.items()):
        df = (pd.concat(frames, ignore_index=True, sort=False)
              .sort_values(["_job", "seed"], key=lambda c: pd.to_numeric(c, errors="coerce") if c.name == "seed" else c,
                           kind="stable").drop(columns="_job"))
        path = into / name
        if path.exists() and not (args.append or args.replace):
            print(f"collect_runs: {path} exists (pass --append to add the new rows, --replace to overwrite it)",
                  file=sys.stderr)
            return 2
        try:
            ready.append((path, appended(path if path.exists() and args.append else None, df)))
        except NarError as exc:
            print(f"collect_runs: {path}: {exc}", file=sys.stderr)
            return 2
    for path, df in ready:
        with atomic_path(path) as tmp:
            df.to_csv(tmp, index=False, lineterminator="\n")
        seeds = pd.to_numeric(df["seed"])
        print(f"{path}: {len(df)} rows ({df['method'].nunique()} method(s), seeds {seeds.min()}-{seeds.max()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
