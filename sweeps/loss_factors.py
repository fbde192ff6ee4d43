#!/usr/bin/env python
"""Loss factors: the ranking-loss factor (NARQ2T Table VI), the latency-loss factor (NARQ2T Table IX)
and the losses on/off (NARQ2T Table V / NAR Table 4). Pick the table with ``--table``.

L = cls_loss_factor * L_cls + rank_loss_factor * L_rank + latency_loss_factor * L_lat
(NARQ2T Eq. 14, with lambda2 the rank-loss factor as in Sec. IV-D).

- rank_nb101 / rank_cifar10 / rank_cifar100 / rank_imagenet16: Table VI, lambda2 around the
  chosen (bold) value of each benchmark: 19-23 (NB101, 5 runs), 3-7 (CIFAR-10), 21-25 (CIFAR-100),
  16-20 (ImageNet-16-120; NB201: 10 runs).
- latency: Table IX, lambda1 = 1..10 with the NAR ranker and its latency head. The caption says
  NAS-Bench-101 but latency labels exist only for NAS-Bench-201 (paper_results README, item 7):
  run on NAS-Bench-201 CIFAR-10, 5 runs.
- losses: Table V / 4 on NAS-Bench-101: classification loss only (lambda2 = 0), ranking loss
  only (classification factor 0), both; each with top-1, top-3 and top-5 candidates.
"""
import sys

from nar_core.sweep import Param, SweepSpec, grid_product, sweep_main


def _rank_spec(key: str, space: str, dataset: str, factors: range, runs: int, lo: float, hi: float) -> SweepSpec:
    return SweepSpec(
        name=f"loss_factors_{key}",
        description=f"rank-loss factor lambda2 on {space} {dataset} (NARQ2T Table VI)",
        space=space, dataset=dataset, method="narq2t",
        grid=[{"rank_loss_factor": float(f)} for f in factors],
        search_space={"rank_loss_factor": Param.float(lo, hi)},
        seeds=tuple(range(runs)),
        metric="mean_test_acc" if space == "nb101" else "mean_val_acc",
        mode="max", num_samples=20,
        paper_table="narq2t_table6_rank_loss_factor.csv",
    )


SPECS = {
    "rank_nb101": _rank_spec("rank_nb101", "nb101", "cifar10", range(19, 24), 5, 1.0, 40.0),
    "rank_cifar10": _rank_spec("rank_cifar10", "nb201", "cifar10", range(3, 8), 10, 0.5, 30.0),
    "rank_cifar100": _rank_spec("rank_cifar100", "nb201", "cifar100", range(21, 26), 10, 0.5, 40.0),
    "rank_imagenet16": _rank_spec("rank_imagenet16", "nb201", "imagenet16", range(16, 21), 10, 0.5, 40.0),
    "latency": SweepSpec(
        name="loss_factors_latency",
        description="latency-loss factor lambda1 = 1..10 with NAR (NARQ2T Table IX)",
        space="nb201", dataset="cifar10", method="nar",
        grid=[{"latency_loss_factor": float(f)} for f in range(1, 11)],
        search_space={"latency_loss_factor": Param.float(0.1, 20.0, log=True)},
        seeds=(0, 1, 2, 3, 4),
        metric="mean_val_acc", mode="max", num_samples=20,
        paper_table="narq2t_table9_latency_loss_factor.csv",
    ),
    "losses": SweepSpec(
        name="loss_factors_losses",
        description="classification / ranking loss on-off x top-k (NARQ2T Table V, NAR Table 4)",
        space="nb101", dataset="cifar10", method="narq2t",
        grid=grid_product(top_k=[1, 3, 5], rank_loss_factor=[0.0])                               # Cls. Loss
        + grid_product(top_k=[1, 3, 5], cls_loss_factor=[0.0])                                  # Ranking Loss
        + grid_product(top_k=[1, 3, 5]),                                                        # Cls.+Ranking
        search_space={"cls_loss_factor": Param.float(0.0, 2.0), "rank_loss_factor": Param.float(0.0, 40.0)},
        seeds=(0, 1, 2, 3, 4),
        metric="mean_test_acc", mode="max", num_samples=20,
        paper_table="narq2t_table5_losses.csv, nar_table4_losses.csv",
    ),
}

if __name__ == "__main__":
    sys.exit(sweep_main(SPECS, prog="sweeps/loss_factors.py", description=__doc__))
