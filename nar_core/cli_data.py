"""``nar data``: inspect benchmark data (``nar data info``)."""
from __future__ import annotations

import argparse
import json
from typing import Any

import numpy as np

from .benchmarks import Benchmark, load_benchmark
from .spaces import get_space, space_names

_INFO_HELP = """\
Load a benchmark the way every other command does and print a summary: the number of cells,
the file it was read from (and the .npz cache used), its columns, and the best cell of every
accuracy column (official index or module hash, architecture, value).

Readable data: nb201: the official NAS-Bench-201-v1_*.pth, a NATS-tss-v1_0-*-simple directory,
the shared nb201_accuracy.csv (with its latency / HW-NAS-Bench CSVs), or a NAR cell-information
JSON. nb101: the official nasbench_only108.tfrecord / nasbench_full.tfrecord, a NAR
cell-information JSON, or the subset CSV. A missing, truncated or corrupt file gives one error
line naming it and exit status 2.

examples:
  nar data info --space nb201 --data /path/to/data
  nar data info --space nb101 --data /path/to/nasbench_only108.tfrecord
  nar data info --space nb201 --data NAS-Bench-201-v1_1-096897.pth --json
"""


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    data = subparsers.add_parser(
        "data", help="inspect benchmark data", description="Inspect the benchmark data the tool reads."
    )
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    sub.required = True
    info = sub.add_parser(
        "info",
        help="summary of a benchmark: cells, source, columns, best cell per metric",
        description=_INFO_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    info.add_argument("--space", default=space_names()[0], choices=space_names(),
                      help=f"search space: {', '.join(space_names())} (default: {space_names()[0]})")
    info.add_argument(
        "--data", default=None, metavar="PATH",
        help="data directory (shared layout <dir>/nb201, <dir>/nb101) or a benchmark file; "
        "default: $NAR_DATA, else ../shared/data, else (nb201) the table shipped with the package",
    )
    info.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    info.add_argument("--no-cache", action="store_true", help="read the source directly, neither using nor writing the .npz cache")
    info.set_defaults(func=run_info)


def _is_accuracy(name: str) -> bool:
    # accuracy columns: {dataset}_val / _test / _valid_test / _val_12ep, and nb101's cifar10_*@epochs
    base = name.split("@")[0]
    return base.endswith(("_val", "_test", "_val_12ep"))


def _arch_text(bench: Benchmark, row: int) -> str:
    cells = {k: v[row : row + 1] for k, v in bench.cell_arrays.items()}
    return get_space(bench.space).format(cells)


def summarize(bench: Benchmark) -> dict[str, Any]:
    """Machine-readable summary of a benchmark (what ``nar data info --json`` prints)."""
    best = []
    for name in bench.columns:
        col = bench.columns[name]
        if not _is_accuracy(name) or np.isnan(col).all():
            continue
        row, value = bench.best(name)
        key = bench.keys[row]
        best.append({
            "metric": name,
            "key": key.item() if hasattr(key, "item") else key,
            "arch": _arch_text(bench, row),
            "value": value,
        })
    return {
        "space": bench.space,
        "cells": len(bench),
        "source": bench.source,
        "format": bench.meta.get("format"),
        "cache": bench.meta.get("cache"),
        "columns": list(bench.columns),
        "best": best,
    }


def run_info(args: argparse.Namespace) -> int:
    bench = load_benchmark(args.space, args.data, cache=not args.no_cache)
    summary = summarize(bench)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
        return 0
    cache = summary["cache"] or {}
    lines = [
        f"space:   {summary['space']}",
        f"cells:   {summary['cells']:,}",
        f"source:  {summary['source']}" + (f"  (format {summary['format']})" if summary["format"] else ""),
    ]
    if cache:
        lines.append(f"cache:   {cache.get('status')} {cache.get('path') or '(not writable anywhere)'}")
    lines.append(f"columns ({len(summary['columns'])}): " + ", ".join(summary["columns"]))
    lines.append("best cell per metric:")
    width = max((len(b["metric"]) for b in summary["best"]), default=6)
    key_width = max((len(str(b["key"])) for b in summary["best"]), default=1)
    for b in summary["best"]:
        lines.append(f"  {b['metric']:<{width}}  {b['value']:9.4f}  at {str(b['key']):<{key_width}}  {b['arch']}")
    print("\n".join(lines))
    return 0
