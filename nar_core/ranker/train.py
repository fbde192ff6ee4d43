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

Determinism: weight initialisation, shuffling and dropout all draw from torch's generator seeded
with ``seed`` inside :func:`torch.random.fork_rng`, so a run neither reads nor disturbs the
process-wide RNG state and two runs with one seed agree exactly on CPU.
"""
from __future__ import annotations

import copy
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
    """Scores (n,), tier logits (n, T) or None, latency (n,) or None, as numpy, in eval mode."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    scores, logits, lat = [], [], []
    for s in range(0, x.shape[0], batch_size):
        with autocast(precision, device):
            out = model(x[s:s + batch_size].to(device), with_tiers=with_tiers)
        scores.append(out.score.float().cpu())
        if out.tier_logits is not None:
            logits.append(out.tier_logits.float().cpu())
        if out.latency is not None:
            lat.append(out.latency.float().cpu())
    model.train(was_training)
    cat = lambda parts: torch.cat(parts).numpy() if parts else None  # noqa: E731
    return cat(scores), cat(logits), cat(lat)


def evaluate(model: NARanker, data: TrainData, num_tiers: int, precision: str = "fp32") -> dict[str, float]:
    """Kendall tau of the score and tier accuracy (tiers by ground truth over the whole split)."""
    scores, logits, _ = predict(model, data.x, precision=precision)
    out = {"tau": kendall_tau(scores, data.y)}
    if logits is not None:
        labels = tier_labels(torch.as_tensor(data.y), num_tiers).numpy()
        out["tier_acc"] = float((logits.argmax(1) == labels).mean())
    return out


def train_ranker(
    model: NARanker,
    train: TrainData,
    val: TrainData | None,
    settings: TrainSettings,
    *,
    seed: int,
    device: torch.device | str = "cpu",
    num_ops: int = 5,
    num_bins: int = ExperimentConfig.num_bins,
    collect_stats: bool = True,
    log: logging.Logger | None = None,
    progress=None,
) -> TrainResult:
    """Train ``model`` in place on ``train``; returns the model (best epoch) and tier statistics."""
    log = log or logging.getLogger(__name__)
    device = torch.device(device)
    t_start = time.perf_counter()
    stats_seconds = 0.0
    T = model.num_tiers
    stats = TierStatistics(T, num_bins, num_ops) if collect_stats else None
    use_lat = settings.latency_loss_factor > 0 and model.latency_head is not None and train.latency is not None
    lat_mean, lat_std = 0.0, 1.0
    if use_lat:
        lat_mean, lat_std = float(np.mean(train.latency)), float(np.std(train.latency) or 1.0)
    n = train.x.shape[0]
    x_all = train.x.to(device)
    y_all = torch.as_tensor(train.y, dtype=torch.float32, device=device)
    lat_all = torch.as_tensor((train.latency - lat_mean) / lat_std, dtype=torch.float32, device=device) if use_lat else None

    with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed + 1)  # shuffling stream
        model.to(device).train()
        opt = torch.optim.AdamW(model.parameters(), lr=1.0, betas=settings.betas, eps=settings.eps,
                                weight_decay=settings.weight_decay)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda i: transformer_lr(i + 1, _d_model(model), settings.warmup_steps, settings.lr_scale))
        history: list[dict[str, float]] = []
        best_key, best_state, best_epoch = -np.inf, None, -1
        for name in ("tier_labels", "tail_batch", "epoch_selection"):
            if getattr(settings, name) not in CHOICES[name]:
                raise ValueError(f"{name} must be one of {CHOICES[name]}, got {getattr(settings, name)!r}")
        # a tail batch is trained only with tail_batch="train" and when it can be split into T tiers
        # (a training set smaller than one batch is one batch either way)
        min_batch = min(settings.batch_size, n) if settings.tail_batch == "drop" else 2 * T
        global_labels = tier_labels(y_all, T) if settings.tier_labels == "global" else None
        for epoch in range(settings.epochs):
            if settings.tier_embedding_reset == "epoch":
                model.reset_tier_embeddings()
            perm = torch.randperm(n, generator=gen).to(device)
            total, steps = 0.0, 0
            for s in range(0, n, settings.batch_size):
                idx = perm[s:s + settings.batch_size]
                if idx.numel() < min_batch:
                    continue
                y = y_all[idx]
                labels = global_labels[idx] if global_labels is not None else tier_labels(y, T)
                with autocast(settings.precision, device):
                    out = model(x_all[idx], with_tiers=model.tier_mode is not None and settings.cls_loss_factor > 0)
                # losses in float32 whatever the forward pass ran in
                loss = settings.rank_loss_factor * pairwise_ranking_loss(out.score.float(), y)
                if out.tier_logits is not None:
                    loss = loss + settings.cls_loss_factor * tier_loss(out.tier_logits.float(), labels)
                if use_lat:
                    loss = loss + settings.latency_loss_factor * latency_loss(out.latency.float(), lat_all[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                model.update_tier_embeddings(out.feature, labels)  # Eq. 13 by ground truth (NAR only)
                total += float(loss.detach())
                steps += 1
                if stats is not None:
                    t0 = time.perf_counter()
                    rows = idx.cpu().numpy()
                    stats.update(train.flops[rows], train.params[rows], train.ops[rows], labels.cpu().numpy(), epoch,
                                 sizes=train.sizes[rows] if train.sizes is not None else None)
                    stats_seconds += time.perf_counter() - t0
            rec = {"epoch": epoch, "loss": total / max(steps, 1), "lr": sched.get_last_lr()[0]}
            if val is not None:
                rec.update(evaluate(model, val, T, settings.precision))
                key = _selection_key(rec, settings)
                if settings.select_best_epoch and key > best_key:
                    best_key, best_epoch = key, epoch
                    best_state = copy.deepcopy(model.state_dict())
            history.append(rec)
            log.debug("epoch %d %s", epoch, rec)
            if progress is not None:
                progress(epoch, rec)
        if best_state is not None:
            model.load_state_dict(best_state)
        else:
            best_epoch = settings.epochs - 1
    model.eval()
    return TrainResult(model, stats, history, best_epoch, (lat_mean, lat_std),
                       time.perf_counter() - t_start, stats_seconds)


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
