#!/usr/bin/env python
"""Sampling constraints: NARQ2T Table VIII / NAR Table 6 (NAS-Bench-101, CIFAR-10, 5 runs).

Grid mode reproduces the rows: constraints drawn from the FLOPs distribution only, the
parameter distribution only, or both (the default), each with top-1, top-3 and top-5 candidates
per search iteration. Optuna mode searches the constraint kind together with the random
proportion p, which decides how many samples are drawn without constraints at all.
"""
import sys

from nar_core.sweep import Param, SweepSpec, grid_product, sweep_main

SPEC = SweepSpec(
    name="sampling_constraints",
    description="FLOPs / #params / both as sampling constraints x top-k (NARQ2T Table VIII, NAR Table 6)",
    space="nb101",
    dataset="cifar10",
    method="narq2t",
    fixed={"sampling_mode": "statistics"},
    grid=grid_product(constraints=["flops", "params", "flops+params"], top_k=[1, 3, 5]),
    search_space={"constraints": Param.choice("flops", "params", "flops+params"),
                  "random_proportion": Param.float(0.0, 1.0)},
    seeds=(0, 1, 2, 3, 4),
    metric="mean_test_acc",
    mode="max",
    num_samples=20,
    paper_table="narq2t_table8_sampling_constraints.csv, nar_table6_sampling_constraints.csv",
)

if __name__ == "__main__":
    sys.exit(sweep_main(SPEC, prog="sweeps/sampling_constraints.py", description=__doc__))
