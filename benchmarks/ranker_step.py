#!/usr/bin/env python
"""Cost of one ranker training step (forward + backward + AdamW) at several widths, on CPU or GPU.

    .venv/bin/python benchmarks/ranker_step.py [--threads 2] [--device cpu] [--steps 5]

Prints ms per step of a batch of 128 NAS-Bench-201 feature tensors (31x4x4), L = L_d = 6, for
the authors' public width (D 128, FFN 512, dropout 0.1) and this project's NB201 default (D 64,
FFN 256, no dropout), NARQ2T (learnable queries) and NAR (running-mean tiers), and the ratio to
the authors' width measured in the same run. A full NB201 training is 440 steps (55 epochs x 8).
"""
from __future__ import annotations

import argparse
import time

import torch

from nar_core.ranker.losses import pairwise_ranking_loss, tier_labels, tier_loss
from nar_core.ranker.model import NARanker

WIDTHS = {"authors 128/512, dropout 0.1": (128, 512, 0.1), "ours 64/256, no dropout": (64, 256, 0.0)}


def step_ms(d: int, ff: int, dropout: float, mode: str, device: torch.device, steps: int, batch: int = 128) -> float:
    gen = torch.Generator().manual_seed(0)
    model = NARanker((31, 4, 4), d_model=d, n_heads=4, d_ff=ff, dropout=dropout, tier_mode=mode).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x = torch.rand(batch, 31, 4, 4, generator=gen).to(device)
    y = torch.rand(batch, generator=gen).to(device)
    labels = tier_labels(y, model.num_tiers)
    for i in range(steps + 1):  # the first step warms up (allocations, lazy imports)
        if i == 1:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t = time.perf_counter()
        out = model(x)
        loss = tier_loss(out.tier_logits, labels) + pairwise_ranking_loss(out.score, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.update_tier_embeddings(out.feature, labels)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - t) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--steps", type=int, default=5)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    print(f"device {device}, torch threads {torch.get_num_threads()}, batch 128, 6+6 layers")
    for mode, label in (("query", "NARQ2T"), ("mean", "NAR")):
        base = None
        for name, (d, ff, p) in WIDTHS.items():
            ms = step_ms(d, ff, p, mode, device, a.steps)
            base = base or ms
            print(f"  {label:<7} {name:<30} {ms:8.0f} ms/step  x{base / ms:4.1f} faster than the authors' width"
                  f"  (440 steps = {ms * 440 / 1000:6.0f} s)")


if __name__ == "__main__":
    main()
