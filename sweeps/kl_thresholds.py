#!/usr/bin/env python
"""KL-divergence thresholds zeta for FLOPs and parameters (Algorithm 2 / 5; NAS-Bench-201, CIFAR-10).

The papers fix zeta = 2.5 for both constraints (NAR App. B, NARQ2T Sec. IV-A) and publish no
ablation of it, so there is no table to reproduce: grid mode sweeps a shared zeta in
{0.5, 1, 1.5, 2, 2.5, 3, 4, 5}; Optuna mode searches the two thresholds independently on a log
scale in [0.1, 10]. Sampling uses the tier statistics (``sampling_mode="statistics"``), the
mode in which the thresholds act; 10 runs as on NAS-Bench-201.
"""
import sys

from nar_core.sweep import Param, SweepSpec, sweep_main

SPEC = SweepSpec(
    name="kl_thresholds",
    description="KL thresholds zeta for FLOPs / #params (paper default 2.5, no published table)",
    space="nb201",
    dataset="cifar10",
    method="narq2t",
    fixed={"sampling_mode": "statistics"},
    grid=[{"kl_threshold_flops": z, "kl_threshold_params": z} for z in (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)],
    search_space={"kl_threshold_flops": Param.float(0.1, 10.0, log=True),
                  "kl_threshold_params": Param.float(0.1, 10.0, log=True)},
    seeds=tuple(range(10)),
    metric="mean_val_acc",
    mode="max",
    num_samples=30,
)

if __name__ == "__main__":
    sys.exit(sweep_main(SPEC, prog="sweeps/kl_thresholds.py", description=__doc__))
