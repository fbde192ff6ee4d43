"""The ``nar`` command: a thin layer over the library.

Each sub-command lives in its own module exposing ``add_parser(subparsers)``; the parser sets
``func`` to the function that runs it. Every :class:`~nar_core.errors.NarError` becomes one
clear line on stderr and exit status 2; nothing half-written is left behind.
"""
from __future__ import annotations

import argparse
import importlib
import logging
import re
import sys

from .cli_common import ArgumentParser
from .errors import NarError

# sub-command name -> "module:function" that adds its parser to the subparsers
_COMMANDS = {
    "data": "nar_core.cli_data:add_parser",
    "run": "nar_core.cli_run:add_parser",
    "space": "nar_core.cli_space:add_parser",
    "report": "nar_core.ablations.cli:add_report_parser",
    "tables": "nar_core.ablations.cli:add_tables_parser",
}


def allowed_values_text(prefix: str = "--") -> str:
    """The allowed space, dataset and method values, one line each, for the --help of ``nar run``
    (``prefix="--"``: options) and of the sweeps (``prefix=""``: spec fields)."""
    from .config import METHODS
    from .spaces import get_space, space_names

    spaces = space_names()
    datasets = "; ".join(f"{name}: {', '.join(get_space(name).datasets)}" for name in spaces)
    lines = [("space", f"{', '.join(spaces)} (default {spaces[0]})"),
             ("dataset", f"{datasets} (default: the space's first)"),
             ("method", f"{', '.join(METHODS)} (default narq2t)")]
    return "".join(f"  {prefix + name:<10} {text}\n" for name, text in lines)


def plain_text(doc: str) -> str:
    """A docstring as --help text: reStructuredText roles and literals (``x``, :func:`x`) become plain x."""
    doc = re.sub(r":[a-z]+:`~?([^`]+)`", r"\1", doc)
    return doc.replace("``", "")


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(
        prog="nar",
        description="Neural Architecture Ranker (NAR / NARQ2T): ranking-based NAS on NAS-Bench-101 and -201.",
        epilog=(
            "examples:\n"
            "  nar data info --space nb201 --data ../shared/data\n"
            "  nar space check nb201\n"
            "  nar run --space nb201 --dataset cifar10 --method narq2t --seeds 0-9 --out runs/c10\n"
            "  nar report --results results/ --out report/\n"
            "sweeps: python sweeps/<name>.py --help; one table: nar tables --help\n"
            "data: --data DIR_OR_FILE, else $NAR_DATA, else ../shared/data, else the NAS-Bench-201 table shipped with the package"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for target in _COMMANDS.values():
        module, func = target.split(":")
        getattr(importlib.import_module(module), func)(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()  # lists the registered spaces: a malformed NAR_SPACES is found here
    except NarError as exc:
        print(f"nar: error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except NarError as exc:
        print(f"nar {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"nar {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
