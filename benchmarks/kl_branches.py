#!/usr/bin/env python
"""How often each branch of Algorithm 2 (NAR) / 5 (NARQ2T) fires in a default run, before and after issue 9.

For every space (NB201 CIFAR-10; the 2,500-cell NB101 subset) and setting, runs the pipeline for
each seed and counts, per quantity (FLOPs, parameters), the training batches whose selection kept
the top tier's distribution, fell back to its interval because the top tier was thin
(#T1 < theta k), or because it was not distinct from a low tier (KL < zeta). Settings:

* ``before``: the defaults before issue 9 (smoothed KL, q = 10, per-batch tier labels, statistics of
  all epochs, the next batch at every constraint draw);
* ``default``: today's defaults (the authors' code: softmax KL, q = 5 / 8, global labels, the best
  epoch's batches, one batch per search iteration, NB201 thresholds 0.35 / 0.3);
* ``authors``: ``--preset authors``;
* ``paper``: ``--preset paper``, the papers' text (zeta 2.5, Algorithm 2's top-tier interval).

The branch a batch takes depends only on its ground-truth tiers and costs, not on the ranker,
except through which epoch is best; the ranker is therefore shrunk (D 16, one layer each) to keep
the script to minutes on a CPU. On the NB101 subset the split is 1024 + 256 cells (4236 + 1024
does not fit in 2,500). Usage::

    python benchmarks/kl_branches.py --seeds 0-2 [--data DIR] [--out FILE.csv]
"""
from __future__ import annotations

import argparse
import sys

import pandas as pd

from nar_core.benchmarks import load_benchmark
from nar_core.cli_run import parse_seeds
from nar_core.config import ExperimentConfig
from nar_core.experiment import run_experiment

BEFORE = dict(kl_definition="smoothed", num_bins=10, tier_labels="batch", stats_epochs="all_epochs",
              stats_turns="constraint", constraint_bound="bin", search_queried="skip", pooling="mean",
              tier_embedding_reset="never", interval_scope="top_tier", op_sampling="statistics")
SETTINGS = {"before": ("paper", BEFORE), "default": ("default", {}), "authors": ("authors", {}),
            "paper": ("paper", {})}
SMALL = dict(d_model=16, n_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1, dropout=0.0, num_threads=1)
SPACE_RUNS = {"nb201": dict(dataset="cifar10"), "nb101": dict(train_size=1024, val_size=256)}
BRANCHES = ("distribution", "thin_top_tier", "not_distinct")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", default="0-2", help="seeds, e.g. 0-9 (default 0-2)")
    ap.add_argument("--spaces", nargs="+", default=["nb201", "nb101"], choices=list(SPACE_RUNS))
    ap.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    ap.add_argument("--data", default=None, help="benchmark data directory (default NAR_DATA or ../shared/data)")
    ap.add_argument("--out", default=None, help="also write the per-seed counts to this CSV")
    args = ap.parse_args(argv)
    rows = []
    for space in args.spaces:
        bench = load_benchmark(space, args.data)
        for name in args.settings:
            preset, overrides = SETTINGS[name]
            for seed in parse_seeds(args.seeds):
                cfg = ExperimentConfig.for_space(space, preset=preset, seed=seed, data_dir=args.data,
                                                 **SPACE_RUNS[space], **overrides, **SMALL)
                res = run_experiment(cfg, bench)
                for q in ("flops", "params"):
                    counts = {b: int(res.extra.get(f"alg2_{q}_{b}", 0)) for b in BRANCHES}
                    rows.append({"space": space, "setting": name, "seed": seed, "quantity": q,
                                 "kl": cfg.kl_definition, "bins": cfg.num_bins,
                                 "zeta": cfg.kl_threshold_flops if q == "flops" else cfg.kl_threshold_params,
                                 **counts})
                print(f"{space} {name} seed {seed}: " + ", ".join(
                    f"{r['quantity']} " + "/".join(str(r[b]) for b in BRANCHES) for r in rows[-2:]), flush=True)
    df = pd.DataFrame(rows)
    if args.out:
        df.to_csv(args.out, index=False)
    total = df.groupby(["space", "setting", "quantity", "kl", "bins", "zeta"], sort=False)[list(BRANCHES)].sum()
    total["selections"] = total.sum(axis=1)
    print("\nbatch selections per branch of Algorithm 2, summed over seeds "
          f"{args.seeds} (distribution / thin top tier / not distinct):")
    print(total.to_string())
    return 0


if __name__ == "__main__":
    sys.exit(main())
