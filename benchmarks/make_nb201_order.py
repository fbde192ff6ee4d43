"""Regenerate ``nar_core/resources/nb201_order.npy`` from the official index order.

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
import pandas as pd

from nar_core.io import atomic_path
from nar_core.paths import resolve_data_dir

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")


def main(argv: list[str]) -> None:
    csv = Path(argv[0]) if argv else resolve_data_dir() / "nb201" / "nb201_accuracy.csv"
    frame = pd.read_csv(csv, usecols=["index", "arch_str"])
    assert (frame["index"].to_numpy() == np.arange(15625)).all(), "rows must be in index order"
    codes = np.zeros(len(frame), dtype=np.int64)
    for i, text in enumerate(frame["arch_str"]):  # one-off script: a plain loop is fine
        names = [tok.split("~")[0] for node in text.split("+") for tok in node.strip("|").split("|")]
        for name in names:
            codes[i] = codes[i] * 5 + OPS.index(name)
    assert len(np.unique(codes)) == 15625
    out = Path(__file__).resolve().parents[1] / "nar_core" / "resources" / "nb201_order.npy"
    with atomic_path(out, suffix=".npy") as tmp:
        np.save(tmp, codes.astype(np.int16))
    print(f"wrote {out} ({len(codes)} codes)")


if __name__ == "__main__":
    main(sys.argv[1:])
