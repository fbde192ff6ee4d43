#!/usr/bin/env python
"""Number of quality tiers: NARQ2T Table IV / NAR Table 3 (NAS-Bench-101, CIFAR-10, 5 runs).

Grid mode reproduces the table's rows: 3, 5 and 7 tiers, each with top-1 and top-5 candidates
per search iteration, plus NARQ2T Table IV's "-" row (no tiers: method ``no_tier``). The tier
index beta of Algorithm 2 is 4 with 5 tiers (the two lowest tiers); it stays ``num_tiers - 1``
as the number of tiers varies. Optuna mode searches num_tiers in 3..9 and top_k in 1..10.
"""
import sys

from nar_core.sweep import Param, SweepSpec, grid_product, sweep_main

SPEC = SweepSpec(
    name="tiers",
    description="number of tiers x top-k (NARQ2T Table IV, NAR Table 3)",
    space="nb101",
    dataset="cifar10",
    method="narq2t",
    fixed={},
    grid=[{"method": "no_tier", "top_k": 1}, {"method": "no_tier", "top_k": 5}]
    + grid_product(num_tiers=[3, 5, 7], top_k=[1, 5]),
    derived={"tier_index": ("num_tiers", -1)},
    search_space={"num_tiers": Param.int(3, 9), "top_k": Param.int(1, 10)},
    seeds=(0, 1, 2, 3, 4),
    metric="mean_test_acc",   # the table reports NB101 CIFAR-10 test accuracy
    mode="max",
    num_samples=20,
    paper_table="narq2t_table4_num_tiers.csv, nar_table3_num_tiers.csv",
)

if __name__ == "__main__":
    sys.exit(sweep_main(SPEC, prog="sweeps/tiers.py", description=__doc__))
