#!/usr/bin/env python
"""Sweep harness overhead: N short experiments through Ray Tune vs the same N in a plain loop.

    python benchmarks/sweep_overhead.py [--trials 4] [--epochs 40] [--data DIR]

Each experiment is the small NARQ2T ranker of ``QUICK_SETTINGS`` trained on the papers' 1000 + 256
cells of NAS-Bench-201 CIFAR-10 for ``--epochs`` epochs (40: ~13 s on one core; Ray adds about 1 s per trial, so much shorter trials measure that constant rather than the harness), one seed per trial, one torch thread per trial. Prints
the plain-loop time, the harness time at 1 and 2 concurrent trials (Ray already started), the
ratios, and Ray's start-up time separately. Goal: <= 1.20 at one concurrent trial, < 1 at two.
"""
from __future__ import annotations

import argparse
import tempfile
import time

import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--data", default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)

    import ray

    from nar_core.benchmarks import load_benchmark
    from nar_core.experiment import run_experiment
    from nar_core.paths import resolve_data_dir
    from nar_core.sweep import QUICK_SETTINGS, SweepOptions, SweepSpec, run_sweep

    bench = load_benchmark("nb201", resolve_data_dir(args.data))
    spec = SweepSpec(name="overhead", space="nb201", dataset="cifar10", method="narq2t",
                     fixed={**QUICK_SETTINGS, "train_size": 1000, "val_size": 256, "epochs": args.epochs}, grid=[{"top_k": k} for k in range(1, args.trials + 1)], seeds=(0,))
    extra = {"num_threads": 1, "device": "cpu"}

    t0 = time.perf_counter()
    for row in spec.grid:
        run_experiment(spec.trial_config(row, seed=0, extra=extra), bench)
    plain = time.perf_counter() - t0

    t0 = time.perf_counter()
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    startup = time.perf_counter() - t0
    times = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for conc in (1, 2):
                t0 = time.perf_counter()
                out = run_sweep(spec, SweepOptions(storage=tmp, name=f"c{conc}", quick=False, max_concurrent=conc, verbose=0),
                                benchmark=bench)
                times[conc] = time.perf_counter() - t0
                assert out.complete and (out.table.status == "ok").all()
    finally:
        ray.shutdown()
    print(f"trials={args.trials} (1 seed each, QUICK_SETTINGS model, train 1000 + 256, epochs={args.epochs}), 1 thread per trial, 2-core CPU")
    print(f"plain loop            {plain:7.1f} s  ({plain / args.trials:.1f} s per experiment)")
    print(f"harness, 1 concurrent {times[1]:7.1f} s  ratio {times[1] / plain:.2f}  (goal <= 1.20)")
    print(f"harness, 2 concurrent {times[2]:7.1f} s  ratio {times[2] / plain:.2f}  (goal < 1.00)")
    print(f"Ray start-up (ray.init, not in the ratios) {startup:.1f} s")


if __name__ == "__main__":
    main()
