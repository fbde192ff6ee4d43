"""``python -m analysis``: the papers' tables and figures from our results, side by side.

    python -m analysis list
    python -m analysis paper narq2t-IV
    python -m analysis table narq2t-IV --results runs/ sweeps/tiers/results.csv --out report/
    python -m analysis all --results runs/ --out report/
    python -m analysis figure curve --results runs/ --out report/curve.png --space nb201 --dataset cifar10
    python -m analysis figure ablation narq2t-VII --results runs/ --out report/p.png

Every :class:`~nar_core.errors.NarError` (missing file, unknown table, no matching rows) is one
line on stderr and exit status 2.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from nar_core.errors import NarError

from . import tables as T


def _add_common(p: argparse.ArgumentParser, results: bool = True) -> None:
    if results:
        p.add_argument("--results", nargs="+", required=True, metavar="PATH",
                       help="results.csv files, or folders searched for results.csv")
        p.add_argument("--loose", action="store_true",
                       help="do not require the knobs a table does not sweep to be at the papers' defaults")
    p.add_argument("--paper-dir", default=None, help=f"paper CSV folder (default: ${T.PAPER_DIR_ENV} "
                                                      "or ../shared/reference/paper_results)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("list", help="the tables this tool knows and the paper CSV each matches")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("paper", help="print one paper table as printed (no results needed)")
    p.add_argument("name")
    p.add_argument("--format", choices=("markdown", "csv", "latex"), default="markdown")
    _add_common(p, results=False)
    p.set_defaults(func=cmd_paper)

    p = sub.add_parser("table", help="one table: our runs beside the paper's numbers")
    p.add_argument("name")
    p.add_argument("--out", default=None, help="folder for <name>.csv and <name>.md (written atomically)")
    p.add_argument("--format", choices=("markdown", "csv", "latex"), default="markdown", help="what to print")
    _add_common(p)
    p.set_defaults(func=cmd_table)

    p = sub.add_parser("all", help="every table our results have rows for")
    p.add_argument("--out", required=True, help="folder for the tables and index.md")
    _add_common(p)
    p.set_defaults(func=cmd_all)

    p = sub.add_parser("figure", help="curve: best-so-far vs iteration; ablation: metric vs swept parameter")
    fsub = p.add_subparsers(dest="figure", metavar="KIND")
    fsub.required = True
    c = fsub.add_parser("curve", help="best-so-far validation accuracy vs search iteration")
    c.add_argument("--out", required=True, help="PNG file")
    c.add_argument("--space", default=None)
    c.add_argument("--dataset", default=None)
    c.add_argument("--methods", nargs="+", default=None)
    c.add_argument("--optimum", type=float, default=None, help="dashed line (default: from results or paper)")
    _add_common(c)
    c.set_defaults(func=cmd_curve)
    a = fsub.add_parser("ablation", help="metric vs the swept parameter of an ablation table")
    a.add_argument("name")
    a.add_argument("--out", required=True, help="PNG file")
    a.add_argument("--metric", default=None, help="default: test_acc")
    _add_common(a)
    a.set_defaults(func=cmd_ablation)
    return parser


def cmd_list(args: argparse.Namespace) -> int:
    rows = [("name", "paper table", "paper CSV", "swept", "aliases", "title")]
    for name in T.table_names():
        s = T.TABLES[name]
        rows.append((name, f"{s.paper} {s.label}", s.csv, ",".join(s.swept) or "-", ",".join(s.aliases) or "-",
                     s.title))
    widths = [max(len(r[i]) for r in rows) for i in range(5)]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:5], widths)) + "  " + r[5])
    return 0


def cmd_paper(args: argparse.Namespace) -> int:
    spec = T.get_table(args.name)
    table = T.build_table(spec, None, paper_dir=args.paper_dir)
    print(T.render(spec, table, args.format), end="")
    return 0


def _note(results, spec: T.TableSpec, loose: bool) -> str:
    n_files = results["_source"].nunique() if "_source" in results.columns else 0
    return f"our rows: {len(T.select_rows(results, spec, loose))} runs from {n_files} file(s); " \
           f"budgets: {T.budgets(results, spec, loose)}"


def cmd_table(args: argparse.Namespace) -> int:
    spec = T.get_table(args.name)
    results = T.load_results(args.results)
    table = T.build_table(spec, results, paper_dir=args.paper_dir, loose=args.loose)
    note = _note(results, spec, args.loose)
    print(T.render(spec, table, args.format, note=note), end="")
    if args.out:
        for path in T.write_table(spec, table, args.out, note=note):
            print(f"wrote {path}", file=sys.stderr)
    return 0


def cmd_all(args: argparse.Namespace) -> int:
    results = T.load_results(args.results)
    made, empty = [], []
    for name in T.table_names():
        spec = T.TABLES[name]
        try:
            table = T.build_table(spec, results, paper_dir=args.paper_dir, loose=args.loose)
        except T.NoMatchingRowsError:
            empty.append(name)
            continue
        T.write_table(spec, table, args.out, note=_note(results, spec, args.loose))
        made.append((name, int((table["ours_n"] > 0).sum())))
    lines = ["# Tables regenerated from our runs", ""]
    lines += [f"- [{n}]({n}.md): {T.header(T.TABLES[n])} ({k} of our rows)" for n, k in made]
    lines += ["", "No rows of ours for: " + (", ".join(empty) or "none"), ""]
    T.write_text(Path(args.out) / "index.md", "\n".join(lines))
    for n, k in made:
        print(f"{n}: {k} rows of ours -> {Path(args.out) / (n + '.md')}")
    print(f"no rows of ours: {', '.join(empty) or 'none'}")
    if not made:
        raise T.NoMatchingRowsError(f"none of the {len(T.TABLES)} tables match these results "
                                    f"(found: {T._describe(results, ('space', 'dataset', 'method'))})")
    return 0


def cmd_curve(args: argparse.Namespace) -> int:
    from .figures import plot_curves

    results = T.load_results(args.results)
    path = plot_curves(results, args.out, space=args.space, dataset=args.dataset, methods=args.methods,
                       optimum=args.optimum, paper_dir=args.paper_dir)
    print(f"wrote {path}")
    return 0


def cmd_ablation(args: argparse.Namespace) -> int:
    from .figures import plot_ablation

    results = T.load_results(args.results)
    path = plot_ablation(args.name, results, args.out, metric=args.metric, paper_dir=args.paper_dir,
                         loose=args.loose)
    print(f"wrote {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NarError as exc:
        print(f"analysis {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
