#!/usr/bin/env python
"""The job list of every ablation row the claims compare, for `results/specs/gpu_batch.sh`.

    PYTHONPATH=. .venv/bin/python results/specs/make_jobs.py --out results/specs/issue19_nb201_cifar10_q150.tsv
    OUT=gpu_out PAR=15 PACK=4 bash results/specs/gpu_batch.sh results/specs/issue19_nb201_cifar10_q150.tsv

The GPU machine has no Ray, so the sweeps' grid rows run there through `nar run`, one job line
each: name, dataset, method, seeds, total queries (`--budget`), then the `--space` (when not
nb201), `--preset` (when not the default) and `--set key=value` arguments that make `nar run` build exactly the config the sweep builds for that row
(`SweepSpec.resolved(budget=, dataset=, space=)`, then `trial_config`). The overrides are the
fields where the two differ: the row's own values, the spec's fixed settings and derived keys
(tier_index follows num_tiers), whatever differs from what `nar run --budget` already sets. Each
line is checked here by building its config the way `nar run` does: a list that would run
anything else is never written.

Which ablations: those of the registry (nar_core/ablations/registry.py) with claims that apply to
the space and dataset (a claim naming another space or dataset, like lambda2 on CIFAR-100, does
not), all their grid rows, on every seed of --seeds so that every comparison is paired. A config
that several tables share (the default row is in most of them) is one line, named after the first
ablation and row that uses it; the seeds of a line run as one `nar run` (`--pack` in
gpu_batch.sh trains them as packed models, same rows).

What is left: `--done results/` drops every seed a line already has a current row of in those
result tables (not superseded, on `--device`, fp32). A line partly done must run its other seeds
at the commit its done rows ran at, since a newer one would supersede them (docs/report.md): such
lines go to `FILE.<commit>` beside `--out FILE` (run that list in `git worktree add --detach DIR
<commit>`), the others to FILE. `--per-seed` writes one line per seed, so that gpu_batch.sh's PAR
spreads a line's seeds over the cores.

    PYTHONPATH=. .venv/bin/python results/specs/make_jobs.py --done results/ --per-seed --out left.tsv

The list goes to stdout (or --out FILE); a count of lines and runs by method to stderr. Exit
status 2 and one line naming the problem for a bad argument.
"""
from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import pandas as pd

from nar_core.ablations.aggregation import device_kind, load_results, short_code
from nar_core.ablations.registry import ABLATIONS, Ablation
from nar_core.budget import BUDGETS, SEPARATING_BUDGET
from nar_core.cli_common import ArgumentParser, parse_seeds, seeds_text
from nar_core.config import DEFAULT_PRESET, PRESETS, RUNTIME_FIELDS, ExperimentConfig, config_hash
from nar_core.errors import ConfigError, NarError
from nar_core.spaces import get_space, space_names
from nar_core.sweep.cli import default_space
from nar_core.version import code_version, newest_code

PROG = "results/specs/make_jobs.py"
#: the space gpu_batch.sh names before a line's own arguments (a later --space on the line wins)
BATCH_SPACE = "nb201"
# gpu_batch.sh turns tabs into spaces and hands each line to xargs, which splits on blanks and
# reads quotes and backslashes: a value holding one would reach `nar run` as something else
_UNSAFE = re.compile(r"[\s'\"\\]")


@dataclass
class Job:
    """One line of the list: one config, every seed, and the (ablation, grid row) pairs it stands for."""

    name: str
    dataset: str
    method: str
    seeds: str
    budget: int
    extra: tuple[str, ...]
    config_hash: str
    rows: list[tuple[str, int]] = field(default_factory=list)
    at: str = ""  # the commit it must run at (some of its seeds are done there), or "" for any

    def line(self) -> str:
        return "\t".join([self.name, self.dataset, self.method, self.seeds, str(self.budget), " ".join(self.extra)])


def applies(ablation: Ablation, space: str, dataset: str) -> bool:
    """An ablation whose claims judge runs of ``space`` / ``dataset`` (a claim with no space or
    dataset judges any) and whose sweep runs there (a table key naming a space, rank_nb101, runs
    only on that one)."""
    named = default_space(ablation.key, ablation.sweep)
    if named != space and named in str(ablation.key).split("_"):
        return False
    return any(c.space in ("", space) and c.dataset in ("", dataset) for c in ablation.claims)


def set_value(value: Any) -> str:
    """A config value as `--set` writes it (read back as a YAML scalar, then coerced to the field's type)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return repr(value) if isinstance(value, float) else str(value)


def _run_parser() -> argparse.ArgumentParser:
    from nar_core.cli_run import add_parser

    parser = argparse.ArgumentParser(prog="nar")
    add_parser(parser.add_subparsers())
    return parser


def run_config(parser: argparse.ArgumentParser, dataset: str, method: str, seed: int, budget: int,
               extra: Sequence[str]) -> ExperimentConfig:
    """The config `nar run` builds from one job line, with gpu_batch.sh's own arguments around it
    (its `--space nb201`, which a `--space` on the line overrides; its `--set num_threads=1` and
    `--device` are runtime fields, outside the config hash)."""
    from nar_core.cli_run import build_config

    args = parser.parse_args(["run", "--space", BATCH_SPACE, "--dataset", dataset, "--method", method,
                              "--seeds", str(seed), "--budget", str(budget), "--set", "num_threads=1", *extra,
                              "--device", "cpu", "--out", "unused"])
    return build_config(args)


def _name(ablation: Ablation, row: dict[str, Any]) -> str:
    """``tiers.num_tiers3.top_k5``, ``building_block.top_k1.convnet``: the ablation, then the row's
    values (text values alone, numbers after their key), safe as a folder and file name."""
    parts = [ablation.name]
    for key, value in row.items():
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        parts.append(f"{key}{value:g}" if number else str(value))
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", ".".join(parts))


def make_jobs(*, budget: int = SEPARATING_BUDGET, space: str = "nb201", dataset: str = "cifar10",
              seeds: Sequence[int] = tuple(range(20)), preset: str | None = None) -> tuple[list[Job], list[str]]:
    """One :class:`Job` per distinct config over the grid rows of every ablation that :func:`applies`,
    and a note for each such ablation the space cannot run (the latency head on nb101, which has no
    latency labels: its claims cannot be judged there, so it is left out, not an error).

    Raises ConfigError for a budget, space, dataset or preset that does not exist, or when no
    ablation with claims runs on the space and dataset; NarError when a line would not build its
    row's config (a bug here, never a list that runs something else).
    """
    if budget not in BUDGETS:
        raise ConfigError(f"--budget: no budget of {budget} queries; choose one of {', '.join(map(str, BUDGETS))}")
    if preset is not None and preset not in PRESETS:
        raise ConfigError(f"--preset: unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    try:
        dataset = get_space(space).canonical_dataset(dataset)
    except NarError as exc:
        raise ConfigError(f"--space {space} --dataset {dataset}: {exc}") from None
    if not seeds:
        raise ConfigError("--seeds: no seed; write e.g. 0-19")
    parser = _run_parser()
    jobs: dict[str, Job] = {}
    chosen = [a for a in ABLATIONS.values() if applies(a, space, dataset)]
    if not chosen:
        raise ConfigError(f"no ablation with claims runs on {space} {dataset}; claims name "
                          + ", ".join(sorted({f"{c.space or 'any space'} {c.dataset or 'any dataset'}"
                                              for a in ABLATIONS.values() for c in a.claims})))
    skipped: list[str] = []
    for ablation in chosen:
        try:
            spec = ablation.sweep.resolved(budget=budget, dataset=dataset, space=space, preset=preset)
        except ConfigError as exc:
            skipped.append(f"{ablation.name} left out, its sweep does not run on {space} {dataset}: {exc}")
            continue
        for i, row in enumerate(spec.grid_rows()):
            want = spec.trial_config(row, seed=seeds[0])
            h = config_hash(want)
            if h in jobs:
                jobs[h].rows.append((ablation.name, i))
                continue
            # the --set overrides: every result-changing field where the sweep's config differs from
            # what `nar run --budget` builds by itself for this method and dataset
            pre = (() if space == BATCH_SPACE else ("--space", space)) + (
                () if spec.preset == DEFAULT_PRESET else ("--preset", spec.preset))
            base = run_config(parser, want.dataset, want.method, seeds[0], budget, pre).to_dict()
            extra = list(pre)
            for key, value in want.to_dict().items():
                if key not in RUNTIME_FIELDS and value != base[key]:
                    text = set_value(value)
                    if _UNSAFE.search(text):
                        raise NarError(f"{ablation.name} row {i}: {key}={text!r} cannot travel on a job line "
                                       "(blank, quote or backslash); run this row with its sweep")
                    extra += ["--set", f"{key}={text}"]
            got = run_config(parser, want.dataset, want.method, seeds[0], budget, extra)
            if config_hash(got) != h:
                diff = sorted(k for k, v in got.to_dict().items() if k not in RUNTIME_FIELDS and v != want.to_dict()[k])
                raise NarError(f"{ablation.name} row {i}: `nar run {' '.join(extra)}` builds another config "
                               f"(differs in {', '.join(diff)}); fix {PROG}")
            jobs[h] = Job(_name(ablation, row), want.dataset, want.method, seeds_text(seeds), budget, tuple(extra), h,
                          [(ablation.name, i)])
    names = Counter(j.name for j in jobs.values())
    assert all(n == 1 for n in names.values()), names  # a name is one ablation and row: unique by construction
    return list(jobs.values()), skipped


def done_runs(results: Sequence[str], device: str = "cpu", precision: str = "fp32"
              ) -> tuple[dict[str, dict[int, str]], list[str]]:
    """``(config hash -> {seed: code version}, notes)`` of the current rows (not superseded) of
    ``results`` run on ``device`` in ``precision`` (a row on another device or precision never pairs
    with these: it is not done). A row whose config no longer builds is not done (a note names its
    file and row). A config with current rows at several code versions counts only the newest's
    seeds (the older rows are superseded by it: docs/report.md)."""
    df = load_results(list(results))
    if df.empty:
        return {}, []
    device = device_kind(pd.Series([device])).iloc[0]  # cuda:1 is cuda, as the rows are keyed
    cur = df[~df["_superseded"].astype(bool) & (df["_device"] == device) & (df["_precision"] == precision)]
    # the hash of each row's config as today's code builds it: a row written before a config field
    # existed (precision) carries an older hash for the same config
    names = [f.name for f in dataclasses.fields(ExperimentConfig) if f.name in cur.columns]
    by_code: dict[str, dict[str, set[int]]] = {}
    notes = []
    for rec, code, where, row in zip(cur[names].to_dict("records"), cur["_code"].astype(str), cur["_file"], cur["_row"]):
        try:
            cfg = ExperimentConfig.from_dict({k: v for k, v in rec.items() if not pd.isna(v)})
        except NarError as exc:
            notes.append(f"{where} row {row}: not counted as done, its config no longer builds: {exc}")
            continue
        by_code.setdefault(config_hash(cfg), {}).setdefault(code, set()).add(cfg.seed)
    done: dict[str, dict[int, str]] = {}
    for h, codes in by_code.items():
        newest = next(iter(codes)) if len(codes) == 1 else newest_code(sorted(codes))
        if newest is None:
            notes.append(f"config {h}: rows at code versions that cannot be ordered ({', '.join(sorted(codes))}): "
                         "none counted as done; move the older rows out")
            continue
        done[h] = {seed: newest for seed in codes[newest]}
    return done, notes


def left_to_run(jobs: Sequence[Job], seeds: Sequence[int], done: dict[str, dict[int, str]]) -> tuple[list[Job], list[str]]:
    """``jobs`` less the seeds ``done`` holds (a line with none left is dropped), and a note for each
    line partly done: its ``at`` is the commit of the done rows, where the rest must run."""
    here, wanted = short_code(code_version()), set(seeds)
    left, notes = [], []
    for j in jobs:
        have = {s: c for s, c in done.get(j.config_hash, {}).items() if s in wanted}
        rest = [s for s in seeds if s not in have]
        at = short_code(next(iter(have.values()))) if have and rest else ""
        if at == here:  # done at this very commit: the rest runs here like any other line
            at = ""
        if at:
            notes.append(f"{j.name}: {len(have)} of its seeds done at {at}; the other {len(rest)} must run at that "
                         "commit (a newer one supersedes the done rows)")
        if rest:
            left.append(dataclasses.replace(j, seeds=seeds_text(rest), at=at))
    return left, notes


def per_seed(jobs: Sequence[Job]) -> list[Job]:
    """One line per seed of each job (gpu_batch.sh then spreads a config's seeds over PAR)."""
    return [dataclasses.replace(j, seeds=str(s)) for j in jobs for s in parse_seeds(j.seeds)]


def lists_by_commit(jobs: Sequence[Job], out: str) -> dict[Path, list[Job]]:
    """Where each job is written: ``out`` for a line to run at any commit, ``<stem>.<commit><suffix>``
    beside it for the lines partly done at that commit."""
    path = Path(out)
    files: dict[Path, list[Job]] = {path: []}
    for j in jobs:
        files.setdefault(path.with_name(f"{path.stem}.{j.at}{path.suffix}") if j.at else path, []).append(j)
    return files


def counts(jobs: Sequence[Job]) -> str:
    """Lines and runs by method (nar, narq2t, the others), as the summary on stderr."""
    runs = Counter()
    for j in jobs:
        runs[j.method if j.method in ("nar", "narq2t") else "others"] += len(parse_seeds(j.seeds))
    lines = Counter(j.method if j.method in ("nar", "narq2t") else "others" for j in jobs)
    parts = [f"{m} {lines[m]} lines, {runs[m]} runs" for m in ("nar", "narq2t", "others")]
    return f"{len(jobs)} lines, {sum(runs.values())} runs: " + "; ".join(parts)


def main(argv: Sequence[str] | None = None) -> int:
    p = ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0],
                       epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--budget", type=int, choices=tuple(BUDGETS), default=SEPARATING_BUDGET, metavar="QUERIES",
                   help=f"total queries of the budget table, one of {', '.join(map(str, BUDGETS))} "
                        f"(default {SEPARATING_BUDGET})")
    p.add_argument("--space", choices=space_names(), default="nb201", help="search space (default nb201)")
    p.add_argument("--dataset", default="cifar10", help="dataset of the space (default cifar10)")
    p.add_argument("--seeds", default="0-19", help="seeds of every line, e.g. 0-19 or 0,3,5 (default 0-19)")
    p.add_argument("--preset", choices=tuple(PRESETS), default=None,
                   help="settings every row starts from (default: each sweep's own, `default`)")
    p.add_argument("--done", nargs="+", default=None, metavar="RESULTS",
                   help="result tables or folders (e.g. results/): leave out the seeds they already hold")
    p.add_argument("--device", default="cpu", help="with --done: the device whose rows count as done (default cpu)")
    p.add_argument("--per-seed", action="store_true", help="one line per seed (for gpu_batch.sh's PAR)")
    p.add_argument("--out", default=None, metavar="FILE", help="write the list here instead of stdout")
    args = p.parse_args(argv)
    try:
        seeds = parse_seeds(args.seeds)
        jobs, skipped = make_jobs(budget=args.budget, space=args.space, dataset=args.dataset, seeds=seeds, preset=args.preset)
        if args.done:
            done, notes = done_runs(args.done, args.device)
            jobs, partly = left_to_run(jobs, seeds, done)
            skipped += notes + partly
            if partly and not args.out:
                raise ConfigError("some lines are partly done and must run at the commit of their done rows: "
                                  "give --out FILE (those lines go to FILE.<commit> beside it)")
    except NarError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    if args.per_seed:
        jobs = per_seed(jobs)
    for note in skipped:
        print(f"{PROG}: note: {note}", file=sys.stderr)
    if not args.out:
        sys.stdout.write("".join(j.line() + "\n" for j in jobs))
        print(f"{args.space} {args.dataset}, {args.budget} queries: {counts(jobs)}", file=sys.stderr)
        return 0
    from nar_core.io import atomic_write_text

    for path, mine in lists_by_commit(jobs, args.out).items():
        try:
            atomic_write_text(path, "".join(j.line() + "\n" for j in mine))
        except OSError as exc:
            print(f"{PROG}: error: cannot write {path}: {exc.strerror or exc}", file=sys.stderr)
            return 2
        at = f" (run at {mine[0].at})" if mine and mine[0].at else ""
        print(f"{args.space} {args.dataset}, {args.budget} queries: {counts(mine)}; written to {path}{at}",
              file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
