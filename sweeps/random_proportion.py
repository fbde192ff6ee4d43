#!/usr/bin/env python
"""Proportion p of random samples: NARQ2T Table VII / NAR Table 5 (NAS-Bench-101, CIFAR-10, 5 runs).

Grid mode reproduces the rows p = 0.0, 0.3, 0.5, 0.7, 1.0 (sampling with the tier statistics of
Algorithm 2 for the remaining 1 - p); Optuna mode searches p in [0, 1].
"""
import sys

from nar_core.sweep import Param, SweepSpec, sweep_main

SPEC = SweepSpec(
    name="random_proportion",
    description="random proportion p (NARQ2T Table VII, NAR Table 5)",
    space="nb101",
    dataset="cifar10",
    method="narq2t",
    grid=[{"random_proportion": p} for p in (0.0, 0.3, 0.5, 0.7, 1.0)],
    search_space={"random_proportion": Param.float(0.0, 1.0)},
    seeds=(0, 1, 2, 3, 4),
    metric="mean_test_acc",
    mode="max",
    num_samples=20,
    paper_table="narq2t_table7_random_proportion.csv, nar_table5_random_proportion.csv",
)

if __name__ == "__main__":
    sys.exit(sweep_main(SPEC, prog="sweeps/random_proportion.py", description=__doc__))
