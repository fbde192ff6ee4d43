"""Build ``nar_core/spaces/nb201/resources/nb201_table.npz``: the NAS-Bench-201 table shipped with the package.

Reads the shared CSVs through the package's own validated reader (``read_nb201_csv``) and keeps
what the papers' protocol needs: the 200-epoch validation and test accuracies on the three
datasets, the 12-epoch validation accuracies and the GTX 1080 Ti batch-256 latency
(``latency_ms``), for all 15,625 cells in official index order. Each column is stored as int32
fixed point with the number of decimals of its source (6 for accuracies, 5 for latency), so the
decoded floats equal the CSV values exactly; the script refuses to write if any value would not
round-trip. Compressed, the file is about 0.4 MB. Provenance and licences:
``nar_core/spaces/nb201/resources/README.md``.

Usage: python benchmarks/make_embedded_nb201.py [DATA_DIR]   (default: $NAR_DATA, else ../shared/data)
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from nar_core.errors import DataError, NarError
from nar_core.io import atomic_path
from nar_core.paths import resolve_data_dir
from nar_core.spaces.nb201.reader import EMBEDDED_COLUMNS, EMBEDDED_DECIMALS, EMBEDDED_TABLE, decode_fixed, read_nb201_csv

OUT = Path(__file__).resolve().parents[1] / "nar_core" / "spaces" / "nb201" / "resources" / EMBEDDED_TABLE


def encode_table(data_dir: Path) -> dict[str, np.ndarray]:
    """The arrays of the embedded table, from the CSV directory ``data_dir/nb201`` (or ``data_dir``)."""
    folder = data_dir / "nb201" if (data_dir / "nb201").is_dir() else data_dir
    bench = read_nb201_csv(folder)
    missing = [c for c in EMBEDDED_COLUMNS if c not in bench.columns]
    if missing:
        raise DataError(folder, f"lacks column(s) {', '.join(missing)} (latency needs nb201_latency_ms.csv)")
    values = np.empty((len(EMBEDDED_COLUMNS), len(bench)), dtype=np.int32)
    decimals = np.array([EMBEDDED_DECIMALS[c] for c in EMBEDDED_COLUMNS], dtype=np.int8)
    for i, (name, places) in enumerate(zip(EMBEDDED_COLUMNS, decimals)):
        col = bench.columns[name]
        if np.isnan(col).any():
            raise DataError(folder, f"column {name!r} has missing values; the embedded table holds complete columns only")
        values[i] = np.rint(col * 10.0 ** int(places)).astype(np.int32)
        wrong = np.flatnonzero(decode_fixed(values[i], int(places)) != col)
        if wrong.size:
            r = int(wrong[0])
            raise DataError(folder, f"column {name!r}, row {r}: {col[r]!r} has more than {places} decimals")
    return {"names": np.array(EMBEDDED_COLUMNS), "values": values, "decimals": decimals}


def main(argv: list[str]) -> int:
    try:
        arrays = encode_table(resolve_data_dir(argv[0] if argv else None))
    except NarError as exc:
        print(f"make_embedded_nb201: error: {exc}", file=sys.stderr)
        return 2
    with atomic_path(OUT, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **arrays)
    print(f"wrote {OUT} ({OUT.stat().st_size / 1e6:.2f} MB, {len(arrays['names'])} columns x {arrays['values'].shape[1]} cells)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
