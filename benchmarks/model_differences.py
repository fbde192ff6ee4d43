#!/usr/bin/env python
"""Which of the model differences of issue 17 decide whether the ranker learns its tiers.

Starting from the default (the authors' model, ``docs/fidelity.md``), each setting below is put
back alone to its value before issue 17, and all twelve together ("all, before issue 17": the
twelve settings only; the bias-free attention projections, the first tier-head layer without bias
and LayerNorm's eps stay the authors', so this is close to, not exactly, the earlier model); every
variant is trained on NAS-Bench-201 CIFAR-10 for each seed and its held-out health printed: tier
accuracy against chance (1/T), the smallest share of held-out cells predicted for a tier (0: a tier
is never predicted), Kendall tau, and how many seeds were flagged (nar_core/ranker/health.py).

The default ``--scale small`` is the shrunken ranker of the learning test
(``tests/test_learns_tiers.py``: D 32, 2 + 2 layers, 300 + 60 labelled cells, 40 epochs), about a
minute per NAR run on one core; ``--scale q150`` is the full-width ranker at 150 total queries
(``--budget 150``). Usage::

    python benchmarks/model_differences.py --methods narq2t nar --seeds 0-2 [--scale small|q150] [--out FILE.csv]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from nar_core.benchmarks import load_benchmark
from nar_core.budget import budget_settings
from nar_core.cli_run import parse_seeds
from nar_core.config import ExperimentConfig
from nar_core.experiment import run_experiment

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_learns_tiers import SMALL  # noqa: E402  (one definition of the learning test's scale)

#: each difference of issue 17 and its value before the issue
BEFORE = {
    "lr_scale": 1.0, "norm_placement": "pre", "activation": "gelu", "score_head_width": 0, "tier_head_width": 0,
    "score_head_bias": "off", "tier_logit_scale": "none", "tier_projection": "none", "weight_init": "torch",
    "input_scaling": "unit", "epoch_selection": "tau+tier_accuracy", "tail_batch": "train",
}


def variants() -> dict[str, dict]:
    out = {"default (authors' model)": {}}
    for k, v in BEFORE.items():
        key = "head widths = D" if k in ("score_head_width", "tier_head_width") else f"{k}={v}"
        out.setdefault(key, {})[k] = v
    out["all, before issue 17"] = dict(BEFORE)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--methods", nargs="+", default=["narq2t", "nar"], choices=["narq2t", "nar"])
    ap.add_argument("--seeds", default="0-2", help="seeds, e.g. 0-2 (default 0-2)")
    ap.add_argument("--scale", choices=("small", "q150"), default="small")
    ap.add_argument("--only", nargs="*", default=None, help="variant names to run (default: all)")
    ap.add_argument("--data", default=None, help="benchmark data directory (default NAR_DATA or ../shared/data)")
    ap.add_argument("--out", default=None, help="also write one row per method, variant and seed to this CSV")
    args = ap.parse_args(argv)
    bench = load_benchmark("nb201", args.data)
    scale = dict(SMALL) if args.scale == "small" else {**budget_settings(150), "num_threads": 1}
    rows = []
    for method in args.methods:
        for name, change in variants().items():
            if args.only and name not in args.only:
                continue
            for seed in parse_seeds(args.seeds):
                t = time.perf_counter()
                cfg = ExperimentConfig.for_space("nb201", method=method, seed=seed, **{**scale, **change})
                r = run_experiment(cfg, bench)
                rows.append(dict(method=method, variant=name, seed=seed, tier_accuracy=r.tier_accuracy,
                                 tier_chance=r.tier_chance, min_tier_share=min(r.tier_shares),
                                 kendall_tau=r.kendall_tau, flagged=r.health != "ok", health=r.health,
                                 test_acc=r.test_acc, seconds=time.perf_counter() - t))
                print(f"{method:7s} {name:32s} seed {seed}: tier acc {r.tier_accuracy:.3f} (chance "
                      f"{r.tier_chance:.2f}), smallest tier share {min(r.tier_shares):.3f}, tau {r.kendall_tau:.3f}, "
                      f"{r.health}", flush=True)
    df = pd.DataFrame(rows)
    if args.out:
        df.to_csv(args.out, index=False)
    summary = df.groupby(["method", "variant"], sort=False).agg(
        seeds=("seed", "size"), tier_acc=("tier_accuracy", "mean"), tier_acc_std=("tier_accuracy", "std"),
        min_share=("min_tier_share", "mean"), tau=("kendall_tau", "mean"), flagged=("flagged", "sum"))
    print(f"\nscale {args.scale}; mean over seeds; chance tier accuracy {1 / 5:.2f}")
    print(summary.round(3).to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
