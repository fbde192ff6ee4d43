"""Load vs. cached reload of benchmark files (the .npz cache of nar_core.benchmarks.cache).

1. The shared NAS-Bench-201 CSVs (``$NAR_DATA/nb201``): direct read, first cached load (read +
   write .npz), cached reload.
2. A synthetic file in the official ``NAS-Bench-201-v1_*.pth`` layout (built with the official
   API's classes, ``--pth-archs`` architectures, ``--pth-epochs`` epochs per trial), read through
   ``nas_201_api``; the real file (15,625 archs x 200 epochs, 2.1 GB) is far slower to read.
3. NAS-Bench-101: an official-layout tfrecord of the 2,500 subset cells (150,000 records), and
   the subset CSV (:func:`bench_nb101`).

Caches go to a temporary directory (``NAR_CACHE_DIR``), never into the data directory.
Usage: python benchmarks/cache_load.py [--data DIR] [--pth-archs 500] [--pth-epochs 20]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # official-format writers


def _timed(fn):
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _report(label: str, direct: float, first: float, reload: float) -> str:
    return (f"{label}: direct read {direct:8.3f} s | first cached load {first:8.3f} s | "
            f"cached reload {reload:8.4f} s | speed-up x{direct / reload:,.0f}")


def bench_csv(data: Path) -> str:
    from nar_core.benchmarks import load_benchmark

    load_benchmark("nb201", data, cache=False)  # warm-up: imports, order table
    _, direct = _timed(lambda: load_benchmark("nb201", data, cache=False))
    _, first = _timed(lambda: load_benchmark("nb201", data))
    bench, reload = _timed(lambda: load_benchmark("nb201", data))
    assert bench.meta["cache"]["status"] == "hit"
    return _report(f"nb201 CSVs ({len(bench)} cells, {len(bench.columns)} columns)", direct, first, reload)


def bench_pth(workdir: Path, archs: int, epochs: int) -> str:
    import numpy as np

    from nar_core.benchmarks import load_benchmark
    from nb201_official_files import write_official_pth

    path = workdir / "NAS-Bench-201-v1_1-096897.pth"
    indices = np.random.default_rng(0).choice(15625, size=archs, replace=False)
    _, make = _timed(lambda: write_official_pth(path, indices.tolist(), epochs=epochs))
    size_mb = path.stat().st_size / 2**20
    _, direct = _timed(lambda: load_benchmark("nb201", path, cache=False))
    _, first = _timed(lambda: load_benchmark("nb201", path))
    bench, reload = _timed(lambda: load_benchmark("nb201", path))
    assert bench.meta["cache"]["status"] == "hit" and len(bench) == archs
    return _report(f"official-format .pth ({archs} archs, {epochs} epochs, {size_mb:.0f} MB, written in {make:.1f} s)",
                   direct, first, reload)


def bench_nb101(data: Path, copies: int = 20) -> str:
    """NAS-Bench-101: an official-layout tfrecord built from the shared subset CSV.

    The 2,500 real cells x 3 repeats (7,500 records, written with ``write_nasbench_tfrecord``),
    then the same records ``copies`` times over (more repeats per cell: same per-record work
    as the real file, which has 1.27M records). Reports direct read, first cached load and
    cached reload, and the per-record read rate to extrapolate to the real file.
    """
    from fixtures_nb101 import subset_records

    from nar_core.benchmarks import load_benchmark
    from nar_core.spaces.nb101.tfrecord import read_tfrecords, write_nasbench_tfrecord, write_tfrecords

    csv = data / "nb101" / "nb101_subset_2500.csv"
    if not csv.is_file():
        return f"nb101: {csv} not found, skipped"
    import json

    import pandas as pd

    df = pd.read_csv(csv)
    rows = [{"adjacency": json.loads(a), "operations": o.split("|"), "accuracy": float(acc)}
            for a, o, acc in zip(df["adjacency"], df["operations"], df["accuracy"])]
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.tfrecord"
        write_nasbench_tfrecord(small, subset_records(rows))
        big = Path(tmp) / "nasbench_only108.tfrecord"
        write_tfrecords(big, read_tfrecords(small) * copies)
        n_rec = 7500 * copies
        size_mb = big.stat().st_size / 2**20
        _, direct = _timed(lambda: load_benchmark("nb101", big, cache=False))
        _, first = _timed(lambda: load_benchmark("nb101", big))
        bench, reload = _timed(lambda: load_benchmark("nb101", big))
        assert bench.meta["cache"]["status"] == "hit" and len(bench) == 2500
        out.append(_report(f"nb101 official-layout tfrecord ({n_rec:,} records, {size_mb:.0f} MB)", direct, first, reload))
        out.append(f"  read rate {n_rec / direct:,.0f} records/s -> about {1.27e6 / (n_rec / direct):.0f} s "
                   f"for the 1.27M-record nasbench_only108.tfrecord (once; then cached)")
    _, direct = _timed(lambda: load_benchmark("nb101", csv, cache=False))
    out.append(f"nb101 subset CSV (2,500 cells, hashes computed): {direct:.3f} s")
    return "\n".join(out)


def main() -> None:
    from nar_core.paths import resolve_data_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="data directory (default: $NAR_DATA or ../shared/data)")
    parser.add_argument("--pth-archs", type=int, default=500)
    parser.add_argument("--pth-epochs", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = resolve_data_dir(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["NAR_CACHE_DIR"] = str(Path(tmp) / "cache")
        if (data / "nb201" / "nb201_accuracy.csv").is_file():
            print(bench_csv(data))
        else:
            print(f"nb201 CSVs: not found under {data}, skipped")
        print(bench_pth(Path(tmp), args.pth_archs, args.pth_epochs))
        print(bench_nb101(data))


if __name__ == "__main__":
    main()
