"""Regenerate ``nar_core/spaces/nb201/resources/nb201_order.npy`` from the official index order.

The NAS-Bench-201 index order is the order of the official API's ``meta_archs`` (not a plain
enumeration of the 5^6 op choices). This script reads it once from a CSV with ``index,arch_str``
columns in that order (``nb201/nb201_accuracy.csv`` of the shared data, made with the official
API) and stores, per index, the base-5 code of the 6 edge operations (int16; edge 0 is the most
significant digit, op codes 0 none .. 4 avg_pool_3x3, edges in official string order).

Usage: python benchmarks/make_nb201_order.py [path/to/nb201_accuracy.csv]
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from nar_core.benchmarks.base import read_csv_frame
from nar_core.errors import DataError, NarError
from nar_core.io import atomic_path
from nar_core.paths import resolve_data_dir
from nar_core.spaces.nb201.cells import NUM_CELLS, ops_to_code, parse_arch_str

OUT = Path(__file__).resolve().parents[1] / "nar_core" / "spaces" / "nb201" / "resources" / "nb201_order.npy"


def order_codes(csv: Path) -> np.ndarray:
    """Base-5 op code of every official index, read from ``csv`` (DataError naming it if wrong)."""
    frame = read_csv_frame(csv)
    if not {"index", "arch_str"} <= set(frame.columns):
        raise DataError(csv, "needs the columns index and arch_str")
    if not np.array_equal(frame["index"].to_numpy(), np.arange(NUM_CELLS)):
        raise DataError(csv, f"needs {NUM_CELLS} rows in official index order 0..{NUM_CELLS - 1}")
    try:  # parse_arch_str does not use the order table, so it can rebuild it
        ops = np.stack([parse_arch_str(text) for text in frame["arch_str"]])
    except NarError as exc:
        raise DataError(csv, str(exc)) from None
    codes = ops_to_code(ops)
    if len(np.unique(codes)) != NUM_CELLS:
        raise DataError(csv, "arch strings repeat: not the 15,625 distinct NAS-Bench-201 cells")
    return codes


def main(argv: list[str]) -> int:
    csv = Path(argv[0]) if argv else resolve_data_dir() / "nb201" / "nb201_accuracy.csv"
    try:
        codes = order_codes(csv)
    except NarError as exc:
        print(f"make_nb201_order: error: {exc}", file=sys.stderr)
        return 2
    with atomic_path(OUT, suffix=".npy") as tmp:
        np.save(tmp, codes.astype(np.int16))
    print(f"wrote {OUT} ({len(codes)} codes)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
