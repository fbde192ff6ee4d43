"""``nar report`` (the whole reproduction report) and ``nar tables`` (one table or figure at a time).

    nar report --results results/ --out report/
    nar tables list
    nar tables paper narq2t-IV
    nar tables table narq2t-IV --results results/ [--out DIR] [--format markdown|csv|latex]
    nar tables figure ablation narq2t-VII --results results/ --out p.png
    nar tables figure queries --results results/ --out q.png      (anytime test regret)
    nar tables figure curve --results results/ --out c.png --space nb201 --dataset cifar10

Every :class:`~nar_core.errors.NarError` (missing file, unknown table, no matching rows) is one
line on stderr and exit status 2 (``nar_core.cli``).
"""
from __future__ import annotations

import argparse
import sys
import time

# the report's modules (pandas, matplotlib) are imported by the commands that run, not here: the
# ``nar`` parser is built on every call, ``nar run`` included
from ..paths import PAPER_DIR_ENV


def _results_args(p: argparse.ArgumentParser, loose: bool = True) -> None:
    p.add_argument("--results", nargs="+", required=True, metavar="PATH",
                   help="result tables (*.csv), or folders searched for them (e.g. results/ or runs/sweeps/)")
    if loose:
        p.add_argument("--loose", action="store_true",
                       help="do not require the knobs a table does not sweep to be at the defaults of their settings")


def _paper_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--paper-dir", default=None, help=f"paper CSV folder (default: ${PAPER_DIR_ENV} "
                                                     "or ../shared/reference/paper_results)")


def add_report_parser(sub) -> None:
    p = sub.add_parser("report", help="the reproduction report: every table, figure and verdict from result tables",
                       description="Write OUT/index.md (verdicts first), OUT/verdicts.csv, OUT/tables/*.md|csv and "
                                   "OUT/figures/*.png from the result tables under --results. Deterministic; "
                                   "runs no experiment. Progress on stderr (a bar on a terminal, log lines "
                                   "otherwise). An empty or foreign results folder exits with status 2.")
    _results_args(p, loose=False)
    p.add_argument("--out", required=True, help="report folder (replaced as a whole)")
    p.add_argument("--no-figures", action="store_true", help="markdown and CSV only")
    _paper_arg(p)
    p.set_defaults(func=cmd_report)


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    t0 = time.perf_counter()
    out = write_report(args.results, args.out, paper_dir=args.paper_dir, figures=not args.no_figures, progress=True)
    print(f"wrote {out}/index.md in {time.perf_counter() - t0:.1f} s")
    return 0


def add_tables_parser(sub) -> None:
    parser = sub.add_parser("tables", help="the papers' tables and figures from our results, one at a time")
    tsub = parser.add_subparsers(dest="tables_command", metavar="ACTION")
    tsub.required = True

    p = tsub.add_parser("list", help="the tables known, the paper CSV each matches, what they sweep")
    p.set_defaults(func=cmd_list)

    p = tsub.add_parser("paper", help="print one paper table as printed (no results needed)")
    p.add_argument("name")
    p.add_argument("--format", choices=("markdown", "csv", "latex"), default="markdown")
    _paper_arg(p)
    p.set_defaults(func=cmd_paper)

    p = tsub.add_parser("table", help="one table: our runs beside the paper's numbers")
    p.add_argument("name")
    p.add_argument("--out", default=None, help="folder for <name>.csv and <name>.md (written atomically)")
    p.add_argument("--format", choices=("markdown", "csv", "latex"), default="markdown", help="what to print")
    _results_args(p)
    _paper_arg(p)
    p.set_defaults(func=cmd_table)

    p = tsub.add_parser("figure", help="ablation bars, queries-vs-accuracy or best-so-far curves as PNG")
    fsub = p.add_subparsers(dest="figure", metavar="KIND")
    fsub.required = True
    a = fsub.add_parser("ablation", help="bars per row of an ablation table, with the paper's numbers")
    a.add_argument("name")
    a.add_argument("--out", required=True, help="PNG file")
    a.add_argument("--metric", default="test_acc")
    _results_args(a)
    a.set_defaults(func=cmd_ablation)
    q = fsub.add_parser("queries", help="anytime test regret (log scale) vs total queries made, per method")
    q.add_argument("--out", required=True, help="PNG file")
    _results_args(q, loose=False)
    q.set_defaults(func=cmd_queries)
    c = fsub.add_parser("curve", help="best-so-far validation accuracy vs search iteration")
    c.add_argument("--out", required=True, help="PNG file")
    c.add_argument("--space", default=None)
    c.add_argument("--dataset", default=None)
    c.add_argument("--methods", nargs="+", default=None)
    _results_args(c, loose=False)
    c.set_defaults(func=cmd_curve)


def cmd_list(args: argparse.Namespace) -> int:
    from . import registry as R

    rows = [("name", "table", "paper CSV", "swept", "ablations", "title")]
    for name in R.table_names():
        s = R.TABLES[name]
        abl = [a.name for a in R.ABLATIONS.values() if name in a.tables]
        rows.append((name, f"{s.paper} {s.label}", s.csv or "-", ",".join(s.swept) or "-", ",".join(abl) or "-",
                     s.title))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5])
    return 0


def cmd_paper(args: argparse.Namespace) -> int:
    from . import aggregation as A, registry as R
    from .render import render as render_table

    spec = R.get_table(args.name)
    print(render_table(spec, A.build_table(spec, None, paper_dir=args.paper_dir), args.format), end="")
    return 0


def cmd_table(args: argparse.Namespace) -> int:
    from . import aggregation as A, registry as R
    from .render import render as render_table, write_table

    spec = R.get_table(args.name)
    results = A.load_results(args.results)
    table = A.build_table(spec, results, paper_dir=args.paper_dir, loose=args.loose)
    note = f"our rows: {len(A.select_rows(results, spec, args.loose))} runs; budgets: {A.budgets(results, spec, args.loose)}"
    print(render_table(spec, table, args.format, note=note), end="")
    if args.out:
        for path in write_table(spec, table, args.out, note=note):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_ablation(args: argparse.Namespace) -> int:
    from . import aggregation as A
    from .figures import plot_ablation

    path = plot_ablation(args.name, A.load_results(args.results), args.out, metric=args.metric, loose=args.loose)
    print(f"wrote {path}")
    return 0


def cmd_queries(args: argparse.Namespace) -> int:
    from . import aggregation as A
    from .figures import plot_queries

    print(f"wrote {plot_queries(A.load_results(args.results), args.out)}")
    return 0


def cmd_curve(args: argparse.Namespace) -> int:
    from . import aggregation as A
    from .figures import plot_curves

    path = plot_curves(A.load_results(args.results), args.out, space=args.space, dataset=args.dataset,
                       methods=args.methods)
    print(f"wrote {path}")
    return 0
