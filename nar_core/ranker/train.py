"""Training the ranker (NAR Algorithm 1, NARQ2T Algorithm 3) with tier statistics collection.

Optimiser and schedule (NAR App. B, NARQ2T Sec. IV-A): AdamW with the papers' betas, eps and weight
decay; the Transformer learning-rate schedule ``lr = lr_scale * D^-0.5 * min(s^-0.5, s * w^-1.5)``
(step s from 1, w warm-up steps; the authors multiply it by ``lr_mul``, our ``lr_scale``).
Tier labels (``tier_labels``): ``"global"`` splits the whole training set into T equal tiers once
by ground truth (NARQ2T Algo. 2; the authors' ``SplitSubet``), ``"batch"`` splits every batch
(NAR Algo. 1 line 7). The loss is ``cls_loss_factor * CE + rank_loss_factor * L_rank
(+ latency_loss_factor * MSE)``. NAR's running-mean tier embeddings are zeroed at the start of
every epoch with ``tier_embedding_reset="epoch"`` (the authors build fresh ``Bucket``s in
``train_epoch``).

Model selection (the papers leave it open): after every epoch the ranker is scored on the
validation set (256 cells on NB201); the weights of the epoch with the best tier accuracy are kept
(``epoch_selection="tier_accuracy"``, the authors' train.py), or of the best Kendall tau + tier
accuracy (``"tau+tier_accuracy"``); a head whose loss is off never counts. The last, smaller batch
of an epoch is dropped (``tail_batch="drop"``, the authors' ``drop_last``) or trained. Tier statistics are collected over every training batch, by the tier labels, as
in Algorithm 1 line 17, tagged with their epoch (the search may keep the best epoch's only).

Determinism: shuffling draws from a generator seeded with ``seed + 1`` and dropout from one seeded
with ``seed`` (one pair per run of a pack, :func:`train_rankers`), inside
:func:`torch.random.fork_rng`, so a run neither reads nor disturbs the process-wide RNG state, two
runs with one seed agree exactly on CPU, and a packed run agrees with the run alone.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
import torch

from ..config import CHOICES, ExperimentConfig
from ..tiers import TierStatistics
from .losses import latency_loss, pairwise_ranking_loss, tier_labels, tier_loss
from .metrics import kendall_tau
from .model import NARanker
from .precision import autocast


@dataclass
class TrainSettings:
    """Optimisation settings (a subset of ExperimentConfig, so the trainer needs no config)."""

    epochs: int = 55
    batch_size: int = 128
    lr_scale: float = 1.0
    warmup_steps: int = 30
    betas: tuple[float, float] = (0.9, 0.99)
    eps: float = 1e-9
    weight_decay: float = 1e-2
    cls_loss_factor: float = 1.0
    rank_loss_factor: float = 5.0
    latency_loss_factor: float = 0.0
    select_best_epoch: bool = True
    tier_labels: str = ExperimentConfig.tier_labels                    # "global" (NARQ2T) or "batch" (NAR Algo. 1 line 7)
    tier_embedding_reset: str = ExperimentConfig.tier_embedding_reset  # "epoch" (authors) or "never"
    tail_batch: str = ExperimentConfig.tail_batch                      # "drop" (authors' drop_last) or "train"
    epoch_selection: str = ExperimentConfig.epoch_selection            # "tier_accuracy" (authors) or "tau+tier_accuracy"
    precision: str = ExperimentConfig.precision                        # "fp32", "bf16" (autocast) or "tf32"


@dataclass
class TrainData:
    """Tensors and side information of one split. ``costs`` are (flops, params) per cell and
    ``ops`` the per-cell operation counts, used by the tier statistics (training split only)."""

    x: torch.Tensor
    y: np.ndarray
    latency: np.ndarray | None = None
    flops: np.ndarray | None = None
    params: np.ndarray | None = None
    ops: np.ndarray | None = None
    sizes: np.ndarray | None = None  # node count per cell, for spaces whose cells differ in size


@dataclass
class TrainResult:
    model: NARanker
    stats: TierStatistics | None
    history: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int = -1
    latency_norm: tuple[float, float] = (0.0, 1.0)  # (mean, std) of the latency labels in ms
    seconds: float = 0.0
    stats_seconds: float = 0.0


def transformer_lr(step: int, d_model: int, warmup: int, scale: float = 1.0) -> float:
    """Vaswani et al.'s schedule: scale * d^-0.5 * min(s^-0.5, s * w^-1.5) for step s >= 1."""
    s = max(step, 1)
    warm = s * warmup ** -1.5 if warmup > 0 else float("inf")
    return scale * d_model ** -0.5 * min(s ** -0.5, warm)


@torch.no_grad()
def predict(model: NARanker, x: torch.Tensor, batch_size: int = 1024, with_tiers: bool = True,
            precision: str = "fp32"):
    """Scores (n,), tier logits (n, T) or None, latency (n,) or None, as numpy, in eval mode.
    A packed model takes ``x`` as ``(R, n, ...)`` and returns ``(R, n)`` and ``(R, n, T)``."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    packed = x.dim() == len(model.feature_shape) + 2
    scores, logits, lat = [], [], []
    for s in range(0, x.shape[int(packed)], batch_size):
        with autocast(precision, device):
            out = model((x[:, s:s + batch_size] if packed else x[s:s + batch_size]).to(device), with_tiers=with_tiers)
        scores.append(out.score.float().cpu())
        if out.tier_logits is not None:
            logits.append(out.tier_logits.float().cpu())
        if out.latency is not None:
            lat.append(out.latency.float().cpu())
    model.train(was_training)
    cat = lambda parts: torch.cat(parts, dim=int(packed)).numpy() if parts else None  # noqa: E731
    return cat(scores), cat(logits), cat(lat)


def _split_metrics(scores: np.ndarray, logits: np.ndarray | None, y: np.ndarray, num_tiers: int) -> dict[str, float]:
    """Kendall tau of the score and tier accuracy (tiers by ground truth over the whole split)."""
    out = {"tau": kendall_tau(scores, y)}
    if logits is not None:
        labels = tier_labels(torch.as_tensor(y), num_tiers).numpy()
        out["tier_acc"] = float((logits.argmax(1) == labels).mean())
    return out


def train_ranker(model: NARanker, train: TrainData, val: TrainData | None, settings: TrainSettings, *, seed: int,
                 **kwargs) -> TrainResult:
    """Train a one-run ``model`` in place on ``train`` (:func:`train_rankers` with one run)."""
    return train_rankers(model, [train], None if val is None else [val], settings, seeds=[seed], **kwargs)[0]


def train_rankers(
    model: NARanker,
    trains: list[TrainData],
    vals: list[TrainData] | None,
    settings: TrainSettings,
    *,
    seeds: list[int],
    device: torch.device | str = "cpu",
    num_ops: int = 5,
    num_bins: int = ExperimentConfig.num_bins,
    collect_stats: bool = True,
    log: logging.Logger | None = None,
    progress=None,
) -> list[TrainResult]:
    """Train the ``model.runs`` rankers of a packed ``model`` together, run r on ``trains[r]`` (its
    shuffling from ``seeds[r] + 1``, its dropout from ``seeds[r]``), each keeping its own best epoch;
    returns one result per run with that run alone as a one-run model. The runs' losses are summed
    (each run's gradient is its own loss's), so a run's numbers do not depend on the others in its
    pack: on the CPU in fp32 they are bit for bit those of the run alone (``tests/test_packing.py``).
    All runs must share the training and validation sizes (the sweep's seeds of one config do)."""
    log = log or logging.getLogger(__name__)
    device = torch.device(device)
    t_start = time.perf_counter()
    R, T = getattr(model, "runs", 1), model.num_tiers
    if len(trains) != R or len(seeds) != R or (vals is not None and len(vals) != R):
        raise ValueError(f"train_rankers: {R} runs in the model, {len(trains)} training sets, {len(seeds)} seeds")
    n = trains[0].x.shape[0]
    if any(t.x.shape != trains[0].x.shape for t in trains) or (
            vals is not None and any(v.x.shape != vals[0].x.shape for v in vals)):
        raise ValueError("train_rankers: the runs of a pack need equal training and validation sizes")
    for name in ("tier_labels", "tail_batch", "epoch_selection"):
        if getattr(settings, name) not in CHOICES[name]:
            raise ValueError(f"{name} must be one of {CHOICES[name]}, got {getattr(settings, name)!r}")
    stats = [TierStatistics(T, num_bins, num_ops) if collect_stats else None for _ in range(R)]
    stats_seconds = [0.0] * R
    use_lat = settings.latency_loss_factor > 0 and model.latency_head is not None and trains[0].latency is not None
    lat_norm = [(float(np.mean(t.latency)), float(np.std(t.latency) or 1.0)) if use_lat else (0.0, 1.0)
                for t in trains]
    x_all = torch.stack([t.x for t in trains]).to(device)                                     # (R, n, ...)
    y_all = torch.stack([torch.as_tensor(t.y, dtype=torch.float32) for t in trains]).to(device)  # (R, n)
    lat_all = torch.stack([torch.as_tensor((t.latency - m) / s, dtype=torch.float32)
                           for t, (m, s) in zip(trains, lat_norm)]).to(device) if use_lat else None
    x_val = torch.stack([v.x for v in vals]) if vals is not None else None
    run_axis = torch.arange(R, device=device).unsqueeze(1)
    with_tiers = model.tier_mode is not None and settings.cls_loss_factor > 0

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seeds[0])  # anything outside the model's own streams (none today) stays seeded
        shuffles = [torch.Generator().manual_seed(s + 1) for s in seeds]
        if hasattr(model, "set_noise"):
            model.set_noise([torch.Generator(device=device).manual_seed(s) for s in seeds])
        model.to(device).train()
        # fused on CUDA (one kernel per tensor instead of many). Not on the CPU: there the fused
        # kernel rounds a tensor's vectorised part and its tail differently, so a run's slice of a
        # packed weight would be updated unlike the same run alone (docs/throughput.md). The CPU
        # takes the foreach implementation: the for-loop's element-wise kernels, the same numbers,
        # with a third less of the optimiser's time per step (issue 18)
        kernel = {"fused": True} if device.type == "cuda" else {"foreach": True}
        opt = torch.optim.AdamW(model.parameters(), lr=1.0, betas=settings.betas, eps=settings.eps,
                                weight_decay=settings.weight_decay, **kernel)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda i: transformer_lr(i + 1, _d_model(model), settings.warmup_steps, settings.lr_scale))
        history: list[list[dict[str, float]]] = [[] for _ in range(R)]
        best_key, best_epoch = [-np.inf] * R, [-1] * R
        best_state: list[dict[str, torch.Tensor] | None] = [None] * R
        # a tail batch is trained only with tail_batch="train" and when it can be split into T tiers
        # (a training set smaller than one batch is one batch either way)
        min_batch = min(settings.batch_size, n) if settings.tail_batch == "drop" else 2 * T
        global_labels = (torch.stack([tier_labels(y_all[r], T) for r in range(R)])
                         if settings.tier_labels == "global" else None)
        try:
            for epoch in range(settings.epochs):
                if settings.tier_embedding_reset == "epoch":
                    model.reset_tier_embeddings()
                perm = torch.stack([torch.randperm(n, generator=g) for g in shuffles]).to(device)  # (R, n)
                total, steps = [0.0] * R, 0
                for s in range(0, n, settings.batch_size):
                    idx = perm[:, s:s + settings.batch_size]
                    if idx.shape[1] < min_batch:
                        continue
                    y = y_all[run_axis, idx]
                    labels = global_labels[run_axis, idx] if global_labels is not None else \
                        torch.stack([tier_labels(y[r], T) for r in range(R)])
                    xb = x_all[run_axis, idx]
                    with autocast(settings.precision, device):
                        out = model(xb if R > 1 else xb[0], with_tiers=with_tiers)
                    if R == 1:  # a one-run model takes and returns tensors without the run axis
                        out = out.map(lambda v: v.unsqueeze(0))
                    # losses in float32 whatever the forward pass ran in, one per run, summed
                    losses = []
                    for r in range(R):
                        loss = settings.rank_loss_factor * pairwise_ranking_loss(out.score[r].float(), y[r])
                        if out.tier_logits is not None:
                            loss = loss + settings.cls_loss_factor * tier_loss(out.tier_logits[r].float(), labels[r])
                        if use_lat:
                            loss = loss + settings.latency_loss_factor * latency_loss(out.latency[r].float(),
                                                                                      lat_all[r, idx[r]])
                        losses.append(loss)
                    opt.zero_grad(set_to_none=True)
                    (losses[0] if R == 1 else torch.stack(losses).sum()).backward()
                    opt.step()
                    sched.step()
                    model.update_tier_embeddings(out.feature, labels)  # Eq. 13 by ground truth (NAR)
                    steps += 1
                    # one transfer per step for the whole pack, not one per run (each waits on a GPU)
                    rows, labels_np = idx.cpu().numpy(), labels.cpu().numpy()
                    step_losses = torch.stack([v.detach() for v in losses]).tolist()
                    for r in range(R):
                        total[r] += step_losses[r]
                        if stats[r] is not None:
                            t0 = time.perf_counter()
                            tr = trains[r]
                            stats[r].update(tr.flops[rows[r]], tr.params[rows[r]], tr.ops[rows[r]], labels_np[r], epoch,
                                            sizes=tr.sizes[rows[r]] if tr.sizes is not None else None)
                            stats_seconds[r] += time.perf_counter() - t0
                recs = [{"epoch": epoch, "loss": total[r] / max(steps, 1), "lr": sched.get_last_lr()[0]}
                        for r in range(R)]
                if vals is not None:
                    scores, logits, _ = predict(model, x_val if R > 1 else x_val[0], precision=settings.precision)
                    if R == 1:
                        scores, logits = scores[None], None if logits is None else logits[None]
                    state = _run_state(model)
                    for r in range(R):
                        recs[r].update(_split_metrics(scores[r], None if logits is None else logits[r],
                                                      vals[r].y, T))
                        key = _selection_key(recs[r], settings)
                        if settings.select_best_epoch and key > best_key[r]:
                            best_key[r], best_epoch[r] = key, epoch
                            with torch.no_grad():
                                best_state[r] = {k: v[r].clone() for k, v in state.items()}
                for r in range(R):
                    history[r].append(recs[r])
                log.debug("epoch %d %s", epoch, recs if R > 1 else recs[0])
                if progress is not None:
                    progress(epoch, recs[0])  # a pack shows its first run
        finally:
            if hasattr(model, "set_noise"):
                model.set_noise(None)
        with torch.no_grad():
            state = _run_state(model)
            for r in range(R):
                if best_state[r] is not None:
                    for k, v in best_state[r].items():
                        state[k][r].copy_(v)
                else:
                    best_epoch[r] = settings.epochs - 1
    model.eval()
    seconds = time.perf_counter() - t_start
    one = (lambda r: model) if R == 1 else model.run
    return [TrainResult(one(r).eval(), stats[r], history[r], best_epoch[r], lat_norm[r], seconds / R,
                        stats_seconds[r]) for r in range(R)]


def _run_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Every weight and buffer of ``model`` with a leading run axis (a one-run model without one
    gets it as a view), by state-dict name."""
    if isinstance(model, NARanker):
        return dict(model.state_dict(keep_vars=True))
    return {k: v.unsqueeze(0) for k, v in model.state_dict(keep_vars=True).items()}


def _selection_key(rec: dict[str, float], settings: TrainSettings) -> float:
    """The validation figure an epoch is kept by: tier accuracy (authors), or tau + tier accuracy;
    a head whose loss is off never counts, so a ranking-only run is selected on tau alone."""
    has_cls = settings.cls_loss_factor > 0 and "tier_acc" in rec
    has_rank = settings.rank_loss_factor > 0
    if settings.epoch_selection == "tier_accuracy" and has_cls:
        return rec["tier_acc"]
    return (rec["tau"] if has_rank else 0.0) + (rec["tier_acc"] if has_cls else 0.0)


def _d_model(model: NARanker) -> int:
    return int(model.d_model)
