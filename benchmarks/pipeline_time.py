"""Time one full NAS-Bench-201 run (training + search), broken into phases.

    .venv/bin/python benchmarks/pipeline_time.py [--method narq2t] [--dataset cifar10] [--threads 2]
                                                [--set epochs=20 ...] [--device cpu]

Compare with the papers' 162-169 s (NARQ2T / NAR, Table II, one TITAN RTX). Phases: benchmark
load, data encoding, training (tier statistics collection included, also shown on its own),
search (sampling + ranking + queries), evaluation (held-out Kendall tau; not part of the cost).
Timings on a shared machine are indicative only.
"""
from __future__ import annotations

import argparse
import time

import torch

from nar_core.benchmarks import load_benchmark
from nar_core.cli_run import _parse_value
from nar_core.config import ExperimentConfig
from nar_core.experiment import run_experiment


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--method", default="narq2t")
    ap.add_argument("--dataset", default="cifar10")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--data", default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    overrides = {k: _parse_value(v) for k, v in (s.split("=", 1) for s in a.set)}
    cfg = ExperimentConfig.for_space("nb201", method=a.method, dataset=a.dataset, seed=a.seed, device=a.device,
                                     data_dir=a.data, **overrides)
    t = time.perf_counter()
    bench = load_benchmark("nb201", a.data)
    load_s = time.perf_counter() - t
    r = run_experiment(cfg, bench)
    x = r.extra
    enc = x.get("extra_encode_seconds", x.get("encode_seconds", 0.0))
    print(f"device {r.device}, torch threads {torch.get_num_threads()}, method {a.method}, {a.dataset}, seed {a.seed}")
    print(f"  benchmark load        {load_s:8.2f} s")
    print(f"  data load/encode      {enc:8.2f} s")
    print(f"  training (incl. stats){r.train_seconds - enc:8.2f} s   ({cfg.epochs} epochs, best epoch {r.best_epoch})")
    print(f"    tier statistics     {x.get('stats_seconds', 0.0):8.2f} s")
    print(f"  search                {r.search_seconds:8.2f} s   ({cfg.search_iterations} iterations x {cfg.sample_size} samples)")
    print(f"  = training + search   {r.train_seconds + r.search_seconds:8.2f} s   (paper: 162.06 s NARQ2T, 168.99 s NAR on a TITAN RTX)")
    print(f"  evaluation (not cost) {x.get('eval_seconds', 0.0):8.2f} s   held-out Kendall tau {r.kendall_tau:.4f} on {r.heldout_size}")
    print(f"  found: val {r.val_acc:.2f} test {r.test_acc:.2f} rank {r.rank_test}, queries {r.queries_train}+{r.queries_search}, "
          f"peak memory {r.peak_memory_mb:.0f} MB")


if __name__ == "__main__":
    main()
