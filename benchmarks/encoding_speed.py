"""Time the architecture encodings (NAR App. A) on whole search spaces.

NAS-Bench-201: all 15,625 cells, three datasets (requirement: < 1 s; expected milliseconds).
NAS-Bench-101: 100,000 sampled cells, 19x7x7 (requirement: >= 50,000 cells/s).

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
    from nar_core.spaces.nb201.cells import NUM_CELLS, index_to_ops, index_to_str, str_to_index
    from nar_core.spaces.nb201.encoding import encode, network_cost

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


def bench_nb101(repeat: int, n: int = 100_000) -> list[str]:
    """NAS-Bench-101: 19x7x7 encoding (per-vertex FLOPs/params included) of ``n`` new cells.

    Requirement: >= 50,000 cells/s. Cells come from both samplers (official random spec and the
    NAR App. B edge sampler), half each; also times whole-network cost and the official hash.
    """
    from nar_core.spaces.nb101 import NB101Space
    from nar_core.spaces.nb101.encoding import encode_cells, network_cost, vertex_costs

    space = NB101Space()
    rng = np.random.default_rng(0)
    a = space.sample_uniform(rng, n // 2)
    b = space.sample_with_op_probs(rng, n - n // 2)
    cells = {k: np.concatenate([a[k], b[k]]) for k in ("adjacency", "ops")}
    encode_cells({k: v[:2048] for k, v in cells.items()})  # warm-up
    out = [f"nb101: {n} sampled cells"]
    t = _best_of(lambda: encode_cells(cells), repeat)
    out.append(f"  encode (n, 19, 7, 7) cifar10  {1000 * t:8.1f} ms  ({n / t:,.0f} cells/s)")
    t = _best_of(lambda: vertex_costs(cells), repeat)
    out.append(f"  vertex_costs (n, 9, 7) x2     {1000 * t:8.1f} ms  ({n / t:,.0f} cells/s)")
    t = _best_of(lambda: network_cost(cells), repeat)
    out.append(f"  network_cost                  {1000 * t:8.1f} ms")
    t = _best_of(lambda: space.sample_with_op_probs(rng, 256 * 50), repeat)
    out.append(f"  App. B sampler, 12,800 cells  {1000 * t:8.1f} ms")
    few = {k: v[:2000] for k, v in cells.items()}
    t = _best_of(lambda: space.keys(few), max(1, repeat // 2))
    out.append(f"  official module hash          {1e6 * t / 2000:8.1f} us/cell")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5, help="best of this many runs")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for line in bench_nb201(args.repeat) + bench_nb101(args.repeat):
        print(line)


if __name__ == "__main__":
    main()
