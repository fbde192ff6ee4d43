#!/usr/bin/env python
"""Throughput of the ranker's levers, each as a speed-up over the fp32 single run measured in the
same process (issue 18). Run it on the machine whose figure you want:

    .venv/bin/python benchmarks/throughput.py                       # CPU, one thread: steps and packs
    .venv/bin/python benchmarks/throughput.py --runs                # + whole NARQ2T runs at 150 queries
    .venv/bin/python benchmarks/throughput.py --device cuda --packs 8,32 --separate 15

What it measures (the NB201 150-query setting: batch 50, D 128, FFN 512, dropout 0.1, score head
1024, tier head 256, six encoder and six decoder layers):

1. one training step (forward, losses, backward, AdamW) of NARQ2T and NAR, in ms, for: the
   baseline (fp32, AdamW's for-loop kernel, what the CPU ran before issue 18), the foreach AdamW
   (what the CPU runs now: the same numbers), the fused AdamW (what CUDA runs; not on the CPU,
   where it breaks a packed run's bit-identity), bf16 autocast, and packs of R runs (ms per
   run-step: the pack's step / R, the device's default optimiser);
2. with ``--separate N``: N processes each training one run at once (how a sweep fills a machine
   without packing), as run-steps per second against one packed process of N runs;
3. with ``--runs``: whole NARQ2T runs at 150 queries (``run_experiment``: training, held-out
   health, search) in fp32 and bf16, in CPU-seconds of this process; ``--nar-runs`` adds NAR (about
   ten minutes per run on one CPU thread);
4. runs per hour of a packed group of 8 and 32 seeds, from (3) and (1): the training share of a run
   scaled by the pack's per-run step time, the rest (health, search) as measured.

On CUDA it also prints the peak memory of each pack and the GPU's utilisation while the pack
trains (``nvidia-smi``). Timings vary from run to run on a shared machine; the ratios, measured
side by side, are the figure to read.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch

from nar_core.ranker.losses import pairwise_ranking_loss, tier_labels, tier_loss
from nar_core.ranker.model import NARanker
from nar_core.ranker.precision import autocast

MODEL = dict(d_model=128, n_heads=4, d_ff=512, dropout=0.1, score_head_width=1024, tier_head_width=256)
BATCH = 50
MODES = {"narq2t": "query", "nar": "mean"}


#: AdamW's implementations: "loop" (PyTorch's CPU default, what ran before issue 18), "foreach"
#: (train_rankers' CPU choice: the same numbers) and "fused" (train_rankers' CUDA choice)
OPTIMISERS = {"loop": dict(foreach=False), "foreach": dict(foreach=True), "fused": dict(fused=True)}


def step_ms(mode: str, device: torch.device, steps: int, runs: int = 1, precision: str = "fp32",
            optimiser: str | None = None) -> tuple[float, float]:
    """(ms per step of the whole pack, peak GPU memory in MiB or 0) for ``runs`` packed rankers;
    ``optimiser`` one of :data:`OPTIMISERS`, None for what train_rankers runs on ``device``."""
    model = NARanker((31, 4, 4), tier_mode=MODES[mode], runs=runs, **MODEL).to(device)
    model.init_weights(list(range(runs)))
    model.set_noise([torch.Generator(device=device).manual_seed(r) for r in range(runs)])
    # as train_rankers: fused on CUDA only (on the CPU it breaks a packed run's bit-identity), foreach on the CPU
    optimiser = optimiser or ("fused" if device.type == "cuda" else "foreach")
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, **OPTIMISERS[optimiser])
    g = torch.Generator().manual_seed(0)
    x = torch.rand(runs, BATCH, 31, 4, 4, generator=g).to(device)
    y = torch.rand(runs, BATCH, generator=g).to(device)
    labels = torch.stack([tier_labels(y[r], 5) for r in range(runs)])

    def step():
        with autocast(precision, device):
            out = model(x if runs > 1 else x[0])
        score = out.score.float().reshape(runs, BATCH)
        logits = out.tier_logits.float().reshape(runs, BATCH, -1)
        loss = torch.stack([pairwise_ranking_loss(score[r], y[r]) + tier_loss(logits[r], labels[r])
                            for r in range(runs)]).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        model.update_tier_embeddings(out.feature.detach(), labels if runs > 1 else labels[0])

    step()  # warm-up: allocations, lazy initialisation, kernel choice
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats(device)
    t = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    ms = (time.perf_counter() - t) / steps * 1000
    mem = torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda" else 0.0
    return ms, mem


def gpu_utilisation() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        return out or "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


def separate_processes(n: int, mode: str, device: str, steps: int, threads: int) -> float:
    """(run-steps per second, wall seconds) of ``n`` processes each training one run, started together."""
    code = ("import sys, json, torch; sys.path.insert(0, %r); torch.set_num_threads(%d);"
            "from benchmarks.throughput import step_ms;"
            "print(json.dumps(step_ms(%r, torch.device(%r), %d)[0]))") % (
        os.getcwd(), threads, mode, device, steps)
    t = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) for _ in range(n)]
    ms = [json.loads(p.communicate()[0]) for p in procs]
    wall = time.perf_counter() - t
    return n / (sum(ms) / len(ms) / 1000), wall  # every process steps in parallel


def whole_run(method: str, precision: str, threads: int, device: str) -> dict:
    from nar_core.benchmarks import load_benchmark
    from nar_core.budget import budget_settings
    from nar_core.config import ExperimentConfig
    from nar_core.experiment import run_experiment

    cfg = ExperimentConfig.for_space("nb201", method=method, seed=0, precision=precision, num_threads=threads,
                                     device=device, **budget_settings(150))
    bench = load_benchmark("nb201")
    cpu0, t0 = time.process_time(), time.perf_counter()
    r = run_experiment(cfg, bench)
    return {"cpu_s": time.process_time() - cpu0, "wall_s": time.perf_counter() - t0, "train_s": r.train_seconds,
            "test": r.test_acc, "tau": r.kendall_tau, "epochs": cfg.epochs, "steps_per_epoch": cfg.train_size // cfg.batch_size}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    p.add_argument("--steps", type=int, default=4, help="timed steps per measurement (default 4)")
    p.add_argument("--packs", default="8,32", help="pack sizes to time for NARQ2T (default 8,32)")
    p.add_argument("--nar-packs", default="8", help="pack sizes to time for NAR (default 8: its T x N decoder "
                   "tokens take about 0.7 GB per packed run at batch 50 in training, a pack of 32 about 22 GB)")
    p.add_argument("--methods", default="narq2t,nar")
    p.add_argument("--separate", type=int, default=0, help="also time N separate one-run processes (default 0: no)")
    p.add_argument("--runs", action="store_true", help="also time whole NARQ2T runs at 150 queries, fp32 and bf16")
    p.add_argument("--nar-runs", action="store_true", help="with --runs: NAR too (long on a CPU)")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    packs = [int(v) for v in args.packs.split(",") if v]
    nar_packs = [int(v) for v in args.nar_packs.split(",") if v]
    methods = args.methods.split(",")
    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else f", {args.threads} thread(s)")
          + f", batch {BATCH}, {args.steps} timed steps each")
    per_run_step: dict[tuple[str, int], float] = {}
    for method in methods:
        base, _ = step_ms(method, device, args.steps, optimiser="loop")
        print(f"\n{method}: one training step, ms (speed-up over the fp32 single run with AdamW's for-loop)")
        print(f"  {'fp32, AdamW for-loop (before issue 18)':44s} {base:9.1f}   1.00x")
        each, _ = step_ms(method, device, args.steps, optimiser="foreach")
        print(f"  {'fp32, foreach AdamW (the CPU default)':44s} {each:9.1f}   {base / each:.2f}x")
        fused, _ = step_ms(method, device, args.steps, optimiser="fused")
        print(f"  {'fp32, fused AdamW (the CUDA default)':44s} {fused:9.1f}   {base / fused:.2f}x")
        per_run_step[(method, 1)] = fused if device.type == "cuda" else each
        bf, _ = step_ms(method, device, args.steps, precision="bf16")
        print(f"  {'bf16 autocast, the default AdamW':44s} {bf:9.1f}   {base / bf:.2f}x")
        for r in (packs if method == "narq2t" else nar_packs):
            ms, mem = step_ms(method, device, max(1, args.steps // 2), runs=r)
            per_run_step[(method, r)] = ms / r
            util = f", GPU {gpu_utilisation()} after, peak {mem:.0f} MiB" if device.type == "cuda" else ""
            print(f"  {f'fp32, pack of {r}: per run-step':44s} {ms / r:9.1f}   {base / (ms / r):.2f}x{util}")
        if args.separate:
            rate, wall = separate_processes(args.separate, method, args.device, args.steps, args.threads)
            ms, _ = step_ms(method, device, max(1, args.steps // 2), runs=args.separate)
            print(f"  {args.separate} separate processes: {rate:.1f} run-steps/s; one pack of {args.separate}: "
                  f"{args.separate / (ms / 1000):.1f} run-steps/s ({args.separate / (ms / 1000) / rate:.2f}x)")
    if args.runs:
        print("\nwhole runs at 150 queries (seed 0): CPU-seconds of this process, then wall")
        for method in [m for m in methods if m == "narq2t" or args.nar_runs]:
            fp = whole_run(method, "fp32", args.threads, args.device)
            bf = whole_run(method, "bf16", args.threads, args.device)
            print(f"  {method} fp32 {fp['cpu_s']:7.1f} CPU-s {fp['wall_s']:7.1f} s (train {fp['train_s']:.1f} s)  "
                  f"test {fp['test']:.2f} tau {fp['tau']:.3f}")
            print(f"  {method} bf16 {bf['cpu_s']:7.1f} CPU-s {bf['wall_s']:7.1f} s (train {bf['train_s']:.1f} s)  "
                  f"test {bf['test']:.2f} tau {bf['tau']:.3f}   {fp['cpu_s'] / bf['cpu_s']:.2f}x CPU-s")
            steps = fp["epochs"] * fp["steps_per_epoch"]
            rest = fp["wall_s"] - fp["train_s"]
            for r in (packs if method == "narq2t" else nar_packs):
                per_run = steps * per_run_step[(method, r)] / 1000 + rest
                print(f"  {method} pack of {r}: about {3600 / per_run:.0f} runs per hour against "
                      f"{3600 / fp['wall_s']:.0f} one by one ({fp['wall_s'] / per_run:.2f}x; training scaled "
                      f"by the pack's step time, health and search as measured)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
