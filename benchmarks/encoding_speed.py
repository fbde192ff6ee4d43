"""Time the architecture encodings (NAR App. A) on whole search spaces.

NAS-Bench-201: all 15,625 cells, three datasets (requirement: < 1 s; expected milliseconds).
NAS-Bench-101: see :func:`bench_nb101` (filled in by the NAS-Bench-101 module's owner).

Usage: python benchmarks/encoding_speed.py [--repeat 5]
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def _best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_nb201(repeat: int) -> list[str]:
    from nar_core.encoding.nb201 import encode, network_cost
    from nar_core.spaces.nb201 import NUM_CELLS, index_to_ops, index_to_str, str_to_index

    idx = np.arange(NUM_CELLS)
    ops = index_to_ops(idx)
    encode(ops[:8], "cifar10")  # warm-up: load the order table, build cost tables
    out = [f"nb201: {NUM_CELLS} cells"]
    for ds in ("cifar10", "cifar100", "imagenet16"):
        t = _best_of(lambda: encode(ops, ds), repeat)
        out.append(f"  encode (n, 31, 4, 4) {ds:<10} {1000 * t:8.1f} ms  ({1e6 * t / NUM_CELLS:.2f} us/cell)")
    t = _best_of(lambda: network_cost(ops, "cifar10"), repeat)
    out.append(f"  network_cost               {1000 * t:8.1f} ms")
    t = _best_of(lambda: index_to_ops(idx), repeat)
    out.append(f"  index_to_ops               {1000 * t:8.1f} ms")
    strings = index_to_str(idx)
    t = _best_of(lambda: str_to_index(strings), repeat)
    out.append(f"  str_to_index               {1000 * t:8.1f} ms")
    return out


def bench_nb101(repeat: int) -> list[str]:
    """NAS-Bench-101 part: owned by the NAS-Bench-101 engineer (nar_core/encoding/nb101.py)."""
    # --- NB101: replace the body below with the 19x7x7 encoding timing ---------------------------
    try:
        import nar_core.encoding.nb101  # noqa: F401
    except ModuleNotFoundError:
        return ["nb101: encoding module not available yet"]
    return ["nb101: (timing not written yet)"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for line in bench_nb201(args.repeat) + bench_nb101(args.repeat):
        print(line)


if __name__ == "__main__":
    main()
