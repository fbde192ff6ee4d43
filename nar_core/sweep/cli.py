"""The common command line of every ``sweeps/<name>.py`` script.

``python sweeps/tiers.py --local --seeds 0-1 --num-samples 3 --storage DIR --quick`` runs here;
``ray submit cluster/cluster.yaml sweeps/loss_factors.py -- --table rank_cifar10 --storage '~/nar/runs'``
on a cluster. Exit status: 0 every trial finished; 3 some trials failed for good (the table is
still written, with their errors); 2 bad input (one line naming the problem; also when another
driver runs the same sweep); 130 interrupted (what finished is written; continue with --resume).
"""
from __future__ import annotations

import argparse
import logging
import sys
from typing import Mapping, Sequence

from ..budget import BUDGETS, budget_help
from ..cli import allowed_values_text, plain_text
from ..config import PRESETS
from ..cli_common import QUICK_SETTINGS, ArgumentParser, parse_seeds, parse_set, positive_int
from ..errors import NarError
from ..spaces import space_names
from .runner import SweepOptions, run_sweep
from .spec import SweepSpec, load_spec

EXIT_OK, EXIT_BAD_INPUT, EXIT_TRIALS_FAILED, EXIT_INTERRUPTED = 0, 2, 3, 130
#: the space a sweep script runs on unless told: the one of the README's main job (NAS-Bench-201)
DEFAULT_SPACE = "nb201"

EPILOG = """\
Space: NAS-Bench-201 (nb201), the space of the README's main job, unless --space says otherwise or the
--table names a space (rank_nb101 runs on nb101); a --spec file runs on its own space. The papers ran
the NAS-Bench-101 ablations on nb101 (the 2,500-cell subset here): --space nb101. The first line a
sweep prints names its space, dataset, budget, preset, trials and storage.

Output: that line, one line per finished trial (its settings; test-pick and val-pick accuracy, mean
± std over its seeds; where it ran), then a table of both protocols per configuration in the grid's
order and the `nar tables table ...` command that makes the paper's table of it. test_acc
(test-pick, the papers' protocol) is the test accuracy of the returned cell; test_acc_valpick
(val-pick) that of the searched cell with the best validation accuracy (n/a without a validation
split). -v adds Ray's own reporting, -vv the trials' logs; -q prints only the final table.

Where Ray runs: with --local, Ray starts on this machine (all its CPUs unless --num-cpus). Without
it, the script joins a running cluster (--address, default "auto": what `ray submit` and a node
started with `ray start` provide); if none is reachable it says so and exits 2. Trials need no
filesystem shared with the driver: their results travel through Ray and the driver writes them.

Results: <storage>/<name>/results.csv and results.parquet: one row per trial and seed, every
config value and metric, trial_id (grid-NNNN or optuna-NNNN), status (ok/failed/stopped/pending)
and error. Seed results are appended to <storage>/<name>/records.jsonl as they arrive; optuna mode
keeps its study in <storage>/<name>/optuna.journal (optuna.load_study or optuna-dashboard opens it).
--storage is a path on the driver's machine (quote '~/...' in a ray submit command so that the
head expands it) or a URI: s3://..., gs://..., file:///nfs/... (pyarrow filesystems, as Ray Tune).

One driver per sweep: a second one is refused (exit 2) naming the running one. Kill the sweep at
any point (Ctrl-C, or even SIGKILL) and run the same command with --resume: finished trials are
kept, unfinished ones skip their recorded seeds.

GPUs: --gpus-per-trial > 0 runs trials on CUDA only. On a cluster without GPU nodes yet, trials
wait for the autoscaler to add them (--no-wait-for-gpus: exit 2 at once instead); with --local on
a machine without a GPU the sweep exits 2.

Exit status: 0 all trials ok; 3 some trials failed for good (table written); 2 bad input or sweep
busy; 130 interrupted.

--quick settings: {quick}

Allowed --space and --dataset values, and the methods a spec may use:
{allowed}"""


def build_parser(specs: Mapping[str, SweepSpec], prog: str | None = None, description: str = "") -> argparse.ArgumentParser:
    quick = ", ".join(f"{k}={v}" for k, v in QUICK_SETTINGS.items())
    p = ArgumentParser(prog=prog, description=plain_text(description),
                                epilog=EPILOG.format(quick=quick, allowed=allowed_values_text(prefix="")),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    names = list(specs)
    if len(names) > 1:
        p.add_argument("--table", choices=names, default=names[0], metavar="TABLE",
                       help="which table's spec to run: " + "; ".join(f"{n}: {s.description}" for n, s in specs.items())
                       + f" (default {names[0]})")
    p.add_argument("--spec", metavar="FILE.yaml", help="load the spec from YAML instead (write one with --print-spec)")
    p.add_argument("--print-spec", action="store_true", help="print the spec as YAML and exit")
    p.add_argument("--mode", choices=("grid", "optuna"), default="grid",
                   help="grid: the paper's rows (regenerates the table); optuna: Optuna TPE search over the spec's "
                        "ranges (finds the best setting). Default grid")
    p.add_argument("--space", choices=space_names(), default=None,
                   help=f"run on this search space (default {DEFAULT_SPACE}, the README's main job; a --table named "
                        "after a space runs there, a --spec file on its own space; see below)")
    p.add_argument("--dataset", default=None, help="run on this dataset (default: the spec's)")
    p.add_argument("--preset", choices=tuple(PRESETS), default=None,
                   help="settings every trial starts from: default (the authors' code, the papers' text where "
                        "the code is silent), authors (the authors' public code exactly) or paper (the papers' "
                        "text as printed); see docs/fidelity.md")
    p.add_argument("--budget", type=int, choices=tuple(BUDGETS), default=None, metavar="QUERIES",
                   help=budget_help() + " (default: the spec's settings, the papers' budget)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", default=[],
                   help="override one config field for every trial (repeatable; applied after --quick)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="start Ray on this machine")
    where.add_argument("--address", default=None, help="Ray cluster address (default 'auto': the running cluster)")
    p.add_argument("--num-cpus", type=int, default=None, help="with --local: CPUs Ray may use (default all)")
    p.add_argument("--num-samples", type=int, default=None,
                   help="optuna: number of trials (default: the spec's num_samples); grid: run only the first N rows")
    p.add_argument("--seeds", default=None, help="seeds per trial, e.g. 0-9 or 0,3,5 (default: the spec's)")
    p.add_argument("--max-concurrent", type=int, default=None, help="at most this many trials at once (default: as resources allow)")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, help="CPUs per trial; also torch threads per trial (default 1)")
    p.add_argument("--gpus-per-trial", type=float, default=0.0,
                   help="GPUs per trial, fractional allowed (0.25: four trials share a GPU); trials then run on CUDA (default 0)")
    p.add_argument("--pack", type=positive_int, default=1, metavar="N",
                   help="train a trial's seeds N at a time as one packed model (same rows as one by one; "
                        "fills a GPU that one run leaves idle; default 1)")
    p.add_argument("--no-wait-for-gpus", action="store_true",
                   help="with --gpus-per-trial: exit 2 at once if the cluster has no GPU now, instead of waiting for GPU nodes")
    p.add_argument("--storage", default="runs/sweeps",
                   help="results folder: a path on the driver's machine or a URI (s3://, gs://, file://); default runs/sweeps")
    p.add_argument("--name", default=None, help="experiment name (default: the spec's name, + '_optuna' in optuna mode)")
    p.add_argument("--resume", action="store_true", help="continue the interrupted sweep <storage>/<name>")
    p.add_argument("--dry-run", action="store_true", help="print the trials that would run and exit")
    p.add_argument("--quick", action="store_true", help="small settings for a smoke test (see below)")
    p.add_argument("--data", default=None, help="benchmark data folder (default: $NAR_DATA, else ../shared/data, else the NAS-Bench-201 table shipped with the package)")
    p.add_argument("--max-failures", type=int, default=2, help="retries of a failing trial before it is recorded as failed (default 2)")
    p.add_argument("--optuna-seed", type=int, default=0, help="seed of the Optuna TPE sampler (default 0)")
    p.add_argument("--early-stop", action="store_true", help="optuna mode: ASHA stops poor configurations after a few seeds")
    p.add_argument("-v", "--verbose", action="count", default=0,
                   help="Ray's own progress reporting too: trial tables, every result (-vv: the trials' logs too)")
    p.add_argument("-q", "--quiet", action="store_true", help="print only the final table (no header, no line per trial)")
    return p


def sweep_main(specs: SweepSpec | Mapping[str, SweepSpec], argv: Sequence[str] | None = None,
               prog: str | None = None, description: str = "") -> int:
    """Entry point of a ``sweeps/*.py`` script: parse, validate, run, print the summary; returns the exit status."""
    if isinstance(specs, SweepSpec):
        specs = {specs.name: specs}
    try:
        parser = build_parser(specs, prog=prog, description=description)  # lists the spaces: NAR_SPACES read here
    except NarError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        table_key = getattr(args, "table", None) or next(iter(specs), "")
        spec = load_spec(args.spec) if args.spec else specs[table_key]
        space = args.space or (None if args.spec else default_space(table_key, spec))
        if args.print_spec:
            import yaml

            print(yaml.safe_dump(spec.to_dict(), sort_keys=False), end="")
            return EXIT_OK
        options = SweepOptions(
            mode=args.mode, local=args.local, address=args.address, num_cpus=args.num_cpus,
            num_samples=args.num_samples, seeds=parse_seeds(args.seeds) if args.seeds is not None else None,
            space=space, dataset=args.dataset, preset=args.preset, budget=args.budget,
            overrides=parse_set(args.set),
            max_concurrent=args.max_concurrent, cpus_per_trial=args.cpus_per_trial,
            gpus_per_trial=args.gpus_per_trial, pack=args.pack, wait_for_gpus=not args.no_wait_for_gpus, storage=args.storage,
            name=args.name, resume=args.resume, dry_run=args.dry_run, quick=args.quick, data=args.data,
            max_failures=args.max_failures, optuna_seed=args.optuna_seed, early_stop=args.early_stop,
            verbose=0 if args.quiet else 1 + args.verbose,
        )
        outcome = run_sweep(spec, options)
    except NarError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print(f"{parser.prog}: interrupted; run the same command with --resume to continue", file=sys.stderr)
        return EXIT_INTERRUPTED
    if options.dry_run:
        print(f"{spec.name} ({options.mode}): {spec.description}")
        print(f"settings: space {space or spec.space}, dataset {options.dataset or spec.dataset}, "
              f"preset {options.preset or spec.preset}, "
              + (f"budget {options.budget} queries" if options.budget else "budget as in the spec"))
        print(f"would run {len(outcome.plan)} trial(s) x {len(outcome.plan[0]['seeds']) if outcome.plan else 0} seed(s) "
              f"into {outcome.experiment_dir}")
        for i, t in enumerate(outcome.plan):
            print(f"  trial {i}: {t['params']}  seeds={t['seeds']}")
        return EXIT_OK
    print(summarize(outcome, spec.name))
    if not outcome.complete:
        return EXIT_INTERRUPTED
    return EXIT_TRIALS_FAILED if outcome.failed else EXIT_OK


def default_space(table_key: str, spec: SweepSpec) -> str:
    """The space a registry sweep runs on without --space: one its --table key names (rank_nb101),
    else :data:`DEFAULT_SPACE`."""
    named = [sp for sp in space_names() if sp in str(table_key).split("_")]
    return named[0] if named else DEFAULT_SPACE


def summarize(outcome, spec_name: str = "") -> str:
    """The final table (both protocols per configuration, mean ± std over ok seeds, in the grid's order),
    where the results are, failures, and the command that makes the paper's table of them."""
    from .console import final_table, paper_table_commands

    df = outcome.table
    lines = []
    if df.empty:
        return "\n".join([f"sweep folder: {outcome.experiment_dir}", "no results"])
    lines.append(final_table(df))
    lines.append(f"results: {outcome.experiment_dir}/results.csv ({len(df)} rows: "
                 + ", ".join(f"{k} {v}" for k, v in df["status"].value_counts().items()) + ")")
    if outcome.optuna_completed is not None:
        lines.append(f"optuna study: {outcome.optuna_completed} completed trials")
    failed = df[df["status"] == "failed"]
    for tid, grp in failed.groupby("trial_id"):
        lines.append(f"failed trial {tid} ({grp['params'].iloc[0]}): {grp['error'].iloc[0]}")
    if not outcome.complete:
        lines.append("the sweep did not finish: run the same command with --resume to continue it")
    results = str(outcome.local_dir) if outcome.local_dir is not None else outcome.experiment_dir
    for cmd in paper_table_commands(spec_name, results):
        lines.append(f"paper table: {cmd}")
    return "\n".join(lines)
