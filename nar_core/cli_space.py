"""``nar space``: list the registered search spaces and check a plug-in (``nar space check NAME``)."""
from __future__ import annotations

import argparse
import json

_CHECK_HELP = """\
Check that a search space plug-in keeps the contract the pipeline relies on, on a sample of its
benchmark's cells: encode gives the feature shape; a cell encodes alike alone and in a batch;
parse(format(cell)) gives the cell back; the benchmark's keys are unique; network_cost matches
any {dataset}_flops / {dataset}_params columns; accuracies are percentages in [0, 100], not
fractions; sampled and mutated cells are cells of the space. Prints each check, passed or failed,
with what it saw; exit status 0 when every check passed, 1 when one failed, 2 for bad input.

examples:
  nar space list
  nar space check nb201
  nar space check my_space --data data/
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("space", help="list search spaces; check a plug-in",
                              description="The registered search spaces (built-in and plug-ins).")
    sub = p.add_subparsers(dest="space_command", metavar="SUBCOMMAND")
    sub.required = True
    lst = sub.add_parser("list", help="registered spaces with their datasets and feature shapes")
    lst.set_defaults(func=run_list)
    chk = sub.add_parser("check", help="check a search space plug-in against its benchmark",
                         description=_CHECK_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    chk.add_argument("name", help="space name (nar space list)")
    chk.add_argument("--data", default=None, metavar="PATH",
                     help="its data directory or file (default: $NAR_DATA, else ../shared/data, else the space's "
                          "embedded table)")
    chk.add_argument("--sample", type=int, default=64, help="cells checked (default 64)")
    chk.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    chk.set_defaults(func=run_check)


def run_list(args: argparse.Namespace) -> int:
    from .spaces import get_space, space_names

    for name in space_names():
        sp = get_space(name)
        print(f"{name:10s} {sp.display_name():20s} datasets {', '.join(sp.datasets)}; feature {sp.feature_shape}; "
              f"{sp.num_cells:,} cells")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from .benchmarks import load_benchmark
    from .spaces import get_space
    from .spaces.check import check_space

    space = get_space(args.name)  # NarError (exit 2) naming the known spaces
    bench = load_benchmark(space.name, args.data)
    checks = check_space(space, bench, sample=max(args.sample, 2))
    if args.json:
        print(json.dumps({"space": space.name, "source": bench.source, "cells": len(bench),
                          "checks": [c.__dict__ for c in checks]}, indent=2))
    else:
        print(f"space {space.name}: {len(bench):,} cells from {bench.source}")
        for c in checks:
            print(f"  {'passed' if c.passed else 'FAILED'}  {c.name:20s} {c.detail}")
        failed = [c.name for c in checks if not c.passed]
        print(f"{len(checks) - len(failed)} passed, {len(failed)} failed" + (f": {', '.join(failed)}" if failed else ""))
    return 0 if all(c.passed for c in checks) else 1
