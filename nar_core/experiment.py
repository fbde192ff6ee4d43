"""One experiment from one config: data split, ranker training, tier statistics, search, metrics.

:func:`run_experiment` is what ``nar run`` and the sweep harness call. Methods
(``config.method``):

``narq2t`` / ``nar``
    the ranker with learnable tier queries / running-mean tier embeddings, tier statistics
    and the tier-guided search (Algorithms 1-5);
``no_tier``
    encoder + ranking head only; candidates drawn uniformly from the whole space (no tier
    statistics exist without tiers: the "-" row of NARQ2T Table IV) and ranked by score alone;
``convnet``
    the ReNAS-style 3-layer ConvNet ranker, candidates drawn uniformly from the whole space;
``random_search`` / ``evolution``
    uniform random search and regularized evolution (population 50, tournament 10, one
    op/edge mutation) with the same total query budget ``train_size + val_size + T * m``.

Protocol (NB201, Table 2 / II): ``train_size + val_size`` distinct cells drawn uniformly from the
benchmark, labelled with ``{dataset}_val``; the search returns the searched cell with the best
queried ``{dataset}_{query_metric}`` and the result reports its ``_val`` and ``_test``. Every
distinct cell queried counts once (:class:`~nar_core.search.QueryLog`). Random streams: one
:class:`numpy.random.SeedSequence` from ``config.seed`` spawns the split, model, sampler, search and
evaluation streams.

Held-out Kendall tau: the ranker's score on the cells not used for training or validation (NaN
for a classification-only run, ``rank_loss_factor=0``: its score head is untrained); when
more than ``HELDOUT_MAX`` (5000) remain (NB201: 14,369) a seeded sample of 5000 is used, which keeps
evaluation to a few seconds on CPU. On the NB101 2,500-cell subset the search is restricted to the
subset's cells (the sampler draws benchmark rows instead of generating cells).
"""
from __future__ import annotations

import json
import logging
import math
import os
import resource
import sys
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from .benchmarks.base import Benchmark
from .budget import total_queries
from .config import ENCODING_ATTRIBUTES, SETTINGS_VERSION, ExperimentConfig, config_hash
from .errors import ConfigError, NarError
from .ranker.convnet import ConvNetRanker
from .ranker.health import assess
from .ranker.model import NARanker
from .ranker.precision import matmul_precision
from .ranker.train import TrainData, TrainSettings, predict, train_rankers
from .sampler import CandidateSampler
from .search import QueryLog, SearchOutcome, random_search, ranker_search, regularized_evolution, search_order
from .spaces import get_space
from .version import code_version

HELDOUT_MAX = 5000
RANKER_METHODS = ("narq2t", "nar", "no_tier", "convnet")
#: the methods whose runs can train packed (the Transformer rankers; the ConvNet's BatchNorm has no run axis)
PACKABLE_METHODS = ("narq2t", "nar", "no_tier")
_TIER_MODE = {"narq2t": "query", "nar": "mean", "no_tier": None}


#: ExperimentResult fields holding lists (JSON text in a CSV row)
LIST_FIELDS = ("best_so_far_val", "latency_predicted", "latency_measured", "tier_shares")


@dataclass
class ExperimentResult:
    """The record of one run. ``to_dict()`` gives plain Python scalars (the curve as JSON text)."""

    space: str
    dataset: str
    method: str
    seed: int
    found_key: Any
    found_arch: str
    val_acc: float
    test_acc: float
    rank_val: int
    rank_test: int
    percentile_test: float
    regret_val: float
    regret_test: float
    best_so_far_val: list[float]
    queries_train: int
    queries_search: int
    queries_total: int
    # did the ranker learn (nar_core.ranker.health), on the held-out cells: Kendall tau (chance 0),
    # tier accuracy beside chance (1/T), the share of cells predicted per tier, and the flags
    kendall_tau: float = math.nan
    tier_accuracy: float = math.nan
    tier_chance: float = math.nan
    tier_shares: list[float] = field(default_factory=list)
    health: str = ""
    # search iterations whose predicted top tier held fewer than m cells: skipped (queried nothing)
    # or filled from the other tiers (config tier_short)
    search_skipped: int = 0
    search_filled: int = 0
    latency_rmse: float = math.nan
    latency_within_5: float = math.nan
    latency_within_10: float = math.nan
    # the five best queried cells' latency, as the latency head predicted it and as measured (ms,
    # same order): the pairs behind latency_rmse and the predicted-vs-measured figure
    latency_predicted: list[float] = field(default_factory=list)
    latency_measured: list[float] = field(default_factory=list)
    train_seconds: float = 0.0
    search_seconds: float = 0.0
    total_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    # extras (not in the list, useful for analysis)
    config_hash: str = ""
    query_metric: str = "test"
    best_epoch: int = -1
    sampler_fallbacks: int = 0
    heldout_size: int = 0
    device: str = "cpu"
    # the searched cell with the best queried *validation* accuracy, whatever query_metric says:
    # with query_metric="test" (the papers) these give the stricter protocol from the same run
    val_acc_valpick: float = math.nan
    test_acc_valpick: float = math.nan
    # the phase that queried the returned cell: "train" when it is one of the labelled cells (the
    # search may return them, search_queried="allow"), "search" when the search found it
    found_phase: str = ""
    # the data the run read: its source and :meth:`Benchmark.fingerprint` (part of the resume key)
    data_source: str = ""
    data_fingerprint: str = ""
    # what produced the row: nar_core.config.SETTINGS_VERSION (rows without it are version 1,
    # superseded) and the package version with its git commit (nar_core.version.code_version)
    settings_version: int = SETTINGS_VERSION
    code_version: str = ""
    # how many runs trained together as one packed model with this one (1: alone); the row is the
    # same either way, the training time is the pack's divided by this
    pack: int = 1
    extra: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Flat dict of plain scalars; the lists (``best_so_far_val``, the latency pairs) become JSON list strings."""
        d = asdict(self)
        for k in LIST_FIELDS:
            d[k] = json.dumps([round(float(v), 6) for v in getattr(self, k)])
        extra = d.pop("extra")
        for k, v in extra.items():
            d[f"extra_{k}"] = v
        return {k: (v.item() if hasattr(v, "item") else v) for k, v in d.items()}


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device: {name!r} requested but CUDA is not available")
    device = torch.device(name)
    if device.type == "cuda":
        deterministic_cuda()
    return device


def deterministic_cuda() -> None:
    """Same config and seed, same result run after run on one GPU, as on the CPU.

    cuBLAS picks its reduction order per workspace unless ``CUBLAS_WORKSPACE_CONFIG`` fixes it (read
    when the first cuBLAS handle is made, so set here, before any model reaches the GPU), and a few
    CUDA kernels (scatter/index_add backward) accumulate with atomics: deterministic algorithms
    make torch choose the ordered ones. A user's own setting of the variable is kept.
    """
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def run_experiment(
    config: ExperimentConfig,
    benchmark: Benchmark | None = None,
    *,
    progress: bool = False,
    log: logging.Logger | None = None,
) -> ExperimentResult:
    """Run one experiment (see module doc) and return its :class:`ExperimentResult`."""
    return next(run_experiments([config], benchmark, progress=progress, log=log))


def run_experiments(
    configs: Sequence[ExperimentConfig],
    benchmark: Benchmark | None = None,
    *,
    pack: int = 1,
    progress: bool = False,
    log: logging.Logger | None = None,
) -> Iterator[ExperimentResult]:
    """Run ``configs`` in order and yield each result as soon as its run is done.

    With ``pack`` > 1, consecutive Transformer-ranker configs that differ only in their seed (the
    seeds of one ``nar run`` or sweep trial) train ``pack`` at a time as one packed model
    (:func:`~nar_core.ranker.train.train_rankers`); each run keeps its own split, weights, dropout,
    sampler and search, and its row is the row of the run alone (bit for bit on the CPU in fp32,
    ``tests/test_packing.py``). A pack's runs are yielded one by one after their common training,
    each as its search ends. torch's thread count is restored afterwards: a Ray worker runs trial
    after trial in one process."""
    if pack < 1:
        raise ConfigError(f"pack: must be >= 1, got {pack}")
    threads = torch.get_num_threads()
    try:
        for group in pack_groups(configs, pack):
            yield from _run_group(group, benchmark, progress=progress, log=log)
    finally:
        torch.set_num_threads(threads)


def pack_groups(configs: Sequence[ExperimentConfig], pack: int) -> list[list[ExperimentConfig]]:
    """``configs`` cut into groups that can train together: consecutive Transformer-ranker configs
    equal but for the seed, at most ``pack`` to a group; every other config alone."""
    groups: list[list[ExperimentConfig]] = []
    for c in configs:
        last = groups[-1] if groups else None
        if (last is not None and len(last) < pack and c.method in PACKABLE_METHODS
                and _pack_key(c) == _pack_key(last[0])):
            last.append(c)
        else:
            groups.append([c])
    return groups


def _pack_key(config: ExperimentConfig) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in config.to_dict().items() if k != "seed"))


@dataclass
class _Run:
    """What one experiment knows before its ranker trains (its setup, :func:`_setup`)."""

    config: ExperimentConfig
    bench: Benchmark
    space: Any
    ds: str
    device: torch.device
    val_col: str
    test_col: str
    sel_col: str
    report_val_col: str
    queries: QueryLog
    streams: tuple  # split, model, sampler, search, eval SeedSequences
    t_start: float
    log: logging.Logger
    setup_seconds: float = 0.0


def _setup(config: ExperimentConfig, benchmark: Benchmark | None, log: logging.Logger | None) -> _Run:
    t_start = time.perf_counter()
    log = log or logging.getLogger("nar_core.experiment")
    config.validate()
    if config.num_threads > 0:
        torch.set_num_threads(config.num_threads)
    device = resolve_device(config.device)
    if benchmark is None:
        from .benchmarks import load_benchmark

        benchmark = load_benchmark(config.space, config.data_dir)
    bench = benchmark
    space = get_space(config.space)
    ds = space.canonical_dataset(config.dataset)
    val_col, test_col, sel_col = f"{ds}_val", f"{ds}_test", f"{ds}_{config.query_metric}"
    for col in (val_col, test_col):
        bench.column(col)  # clear error now if the benchmark lacks it
    report_val_col = val_col
    if not np.isfinite(bench.column(val_col)).any():
        # the NB101 2,500-cell subset has a single accuracy (treated as test): train and search on it
        log.warning("%s: column %s is empty; using %s for labels and selection", bench.source, val_col, test_col)
        val_col = test_col
        sel_col = test_col
    n_labelled = config.train_size + config.val_size
    if config.method in RANKER_METHODS and n_labelled >= len(bench):
        raise ConfigError(
            f"train_size + val_size: {n_labelled} cells requested but the benchmark ({bench.source}) holds "
            f"only {len(bench)}; lower them, e.g. --set train_size={max(len(bench) // 5, 2)} "
            f"--set val_size={max(len(bench) // 15, 1)}")
    streams = tuple(np.random.SeedSequence(config.seed).spawn(5))
    return _Run(config, bench, space, ds, device, val_col, test_col, sel_col, report_val_col, QueryLog(bench),
                streams, t_start, log, time.perf_counter() - t_start)


def _run_group(configs: list[ExperimentConfig], benchmark: Benchmark | None, *, progress: bool,
               log: logging.Logger | None) -> Iterator[ExperimentResult]:
    """One config alone, or a pack of ranker configs trained together (:func:`pack_groups`)."""
    run0 = _setup(configs[0], benchmark, log)
    runs = [run0] + [_setup(c, run0.bench, log) for c in configs[1:]]
    config = run0.config
    if config.method not in RANKER_METHODS:
        t_search = time.perf_counter()
        _, _, _, search_ss, _ = run0.streams
        budget = total_queries(config.to_dict())  # the budget table's count: labelled cells + T x top-k
        labelled = config.train_size + config.val_size
        curve_points = [labelled + (i + 1) * config.top_k for i in range(config.search_iterations)]
        if config.method == "random_search":
            outcome = random_search(run0.bench, run0.queries, np.random.default_rng(search_ss), budget,
                                    val_column=run0.val_col, select_column=run0.sel_col, curve_points=curve_points)
        else:
            from .baselines import make_mutation

            outcome = regularized_evolution(run0.bench, run0.queries, np.random.default_rng(search_ss), budget,
                                            make_mutation(run0.space, run0.bench), val_column=run0.val_col,
                                            select_column=run0.sel_col, curve_points=curve_points)
        yield _finish(run0, outcome, {}, 0.0, time.perf_counter() - t_search)
        return
    with matmul_precision(config.precision, run0.device):
        preps = [_prepare_ranker(r) for r in runs]
        trained = _train_rankers(runs, preps, progress)
        for run, prep, tr in zip(runs, preps, trained):
            t_own = time.perf_counter()
            outcome, extra, search_seconds = _search_ranker(run, prep, tr, progress)
            # a packed run's own time: its setup, its share of the training, its evaluation and search
            own = run.setup_seconds + prep.train_seconds + time.perf_counter() - t_own if len(runs) > 1 else None
            yield _finish(run, outcome, extra, prep.train_seconds, search_seconds, own)


def _finish(run: _Run, outcome: SearchOutcome, result_extra: dict[str, Any], train_seconds: float,
            search_seconds: float, total_seconds: float | None = None) -> ExperimentResult:
    """The result row of a finished search."""
    config, log = run.config, run.log
    if config.method in RANKER_METHODS and outcome.best_row < 0 and outcome.skipped == config.search_iterations:
        # every iteration was skipped (tier_short="skip" and a top tier always short of m cells):
        # the search found nothing, so the run returns the best labelled cell (no new query) and
        # says so in its row (found_phase "train", search_skipped = iterations) and in the log
        outcome.best_row = _best_labelled(run.queries, run.val_col)
        log.warning("%s %s seed %d: every one of the %d search iterations was skipped (the predicted top tier "
                    "never held %d cells); returning the best labelled cell. Set tier_short=fill to fill such "
                    "iterations from the other tiers.", config.method, run.ds, config.seed,
                    config.search_iterations, config.top_k)

    res = _summarise(config, run.bench, run.space, run.ds, outcome, run.queries, run.report_val_col, run.test_col)
    res.train_seconds = train_seconds
    res.search_seconds = search_seconds
    res.total_seconds = time.perf_counter() - run.t_start if total_seconds is None else total_seconds
    res.peak_memory_mb = _peak_memory_mb(run.device)
    res.device = str(run.device)
    res.data_source, res.data_fingerprint = run.bench.source, run.bench.fingerprint()
    res.code_version = code_version()
    for k in ("kendall_tau", "tier_accuracy", "tier_chance", "tier_shares", "health", "search_skipped",
              "search_filled", "latency_rmse", "latency_within_5", "latency_within_10",
              "latency_predicted", "latency_measured", "best_epoch", "heldout_size", "pack"):
        if k in result_extra:
            setattr(res, k, result_extra.pop(k))
    res.extra = result_extra
    log.info("%s %s %s seed %d: val %.2f test %.2f (rank %d) queries %d+%d in %.1f s", config.space, run.ds,
             config.method, config.seed, res.val_acc, res.test_acc, res.rank_test, res.queries_train,
             res.queries_search, res.total_seconds)
    return res


# ------------------------------------------------------------------------------------------------
def attribute_mask(kinds: Sequence[str], attributes: str) -> np.ndarray | None:
    """Channels of the feature tensor kept by ``encoding_attributes`` (NARQ2T Fig. 10), or None
    for all. ``kinds``: what each channel holds (:meth:`SearchSpace.channel_kinds`)."""
    wanted = set(attributes.split("+"))
    unknown = sorted(set(kinds) - set(ENCODING_ATTRIBUTES))
    if unknown:
        raise NarError(f"channel_kinds: {', '.join(map(repr, unknown))} is not one of {', '.join(ENCODING_ATTRIBUTES)}")
    if wanted >= set(kinds):
        return None
    return np.isin(np.asarray(kinds), sorted(wanted))


def build_ranker(config: ExperimentConfig, feature_shape: tuple[int, int, int], seed: int | Sequence[int],
                 latency_head: bool = False) -> torch.nn.Module:
    """The ranker of ``config.method`` with the config's model settings, its weights drawn from
    ``seed`` (torch's global random state is left as it was). A list of seeds gives a packed
    Transformer ranker of that many runs, run r's weights drawn from ``seed[r]``."""
    seeds = [int(seed)] if isinstance(seed, (int, np.integer)) else [int(s) for s in seed]
    torch_state = torch.random.get_rng_state()
    if config.method == "convnet":
        if len(seeds) != 1:
            raise ConfigError("pack: the ConvNet ranker trains one run at a time")
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seeds[0])
            model = ConvNetRanker(feature_shape, num_tiers=config.num_tiers)
    else:
        model = NARanker(feature_shape, d_model=config.d_model, n_heads=config.n_heads, d_ff=config.d_ff,
                         encoder_layers=config.encoder_layers, decoder_layers=config.decoder_layers,
                         dropout=config.dropout, num_tiers=config.num_tiers,
                         tier_mode=_TIER_MODE[config.method], latency_head=latency_head,
                         pooling=config.pooling, norm_placement=config.norm_placement,
                         activation=config.activation, score_head_width=config.score_head_width,
                         tier_head_width=config.tier_head_width, score_head_bias=config.score_head_bias,
                         tier_logit_scale=config.tier_logit_scale, tier_projection=config.tier_projection,
                         weight_init=config.weight_init, runs=len(seeds))
        model.init_weights(seeds)
    assert torch.equal(torch_state, torch.random.get_rng_state())
    return model


@dataclass
class _Prepared:
    """One ranker run's data before training: its split, encoded tensors and streams."""

    rows: np.ndarray
    train: TrainData
    val: TrainData
    encode_rows: Callable[[np.ndarray], torch.Tensor]
    model_seed: int
    use_lat: bool
    lat_col: np.ndarray | None
    encode_seconds: float
    train_seconds: float = 0.0
    pack: int = 1  # how many runs trained together with this one (itself included)


def _prepare_ranker(run: _Run) -> _Prepared:
    config, bench, space, ds = run.config, run.bench, run.space, run.ds
    split_ss, model_ss, _, _, _ = run.streams
    t0 = time.perf_counter()
    split_rng = np.random.default_rng(split_ss)
    rows = split_rng.choice(len(bench), size=config.train_size + config.val_size, replace=False)
    train_rows, val_rows = rows[: config.train_size], rows[config.train_size:]
    labels = run.queries.query(rows, run.val_col, "train")  # the papers train on validation accuracy
    cells_of = lambda r: {k: v[r] for k, v in bench.cell_arrays.items()}  # noqa: E731
    kinds = space.channel_kinds()
    if len(kinds) != space.feature_shape[0]:
        raise NarError(f"space {space.name}: channel_kinds() names {len(kinds)} channels, feature_shape has "
                       f"{space.feature_shape[0]}")
    mask = attribute_mask(kinds, config.encoding_attributes)

    # the Transformer rankers read the authors' raw values through a LayerNorm per token; the
    # ConvNet mixes all channels in its first convolution, where raw costs (millions) would drown
    # the op codes, so it always reads the unit-scaled tensor (docs/fidelity.md)
    unit = config.input_scaling == "unit" or config.method == "convnet"
    scale = None if unit else space.input_scale()
    if scale is not None:
        scale = np.asarray(scale, dtype=np.float32)
        if scale.shape != (space.feature_shape[0],) or not (np.isfinite(scale).all() and (scale > 0).all()):
            raise NarError(f"space {space.name}: input_scale() must give {space.feature_shape[0]} positive divisors")

    def encode_rows(r: np.ndarray) -> torch.Tensor:
        x = space.encode(cells_of(r), ds, normalize=unit)
        if scale is not None:
            x = x / scale[None, :, None, None]
        if mask is not None:
            x = x * mask[None, :, None, None].astype(x.dtype)  # attributes left out are zero
        return torch.from_numpy(np.ascontiguousarray(x))

    train_cells = cells_of(train_rows)
    flops, params = space.network_cost(train_cells, ds)
    use_lat = config.latency_loss_factor > 0
    lat_col = bench.column(config.latency_column) if use_lat else None
    train = TrainData(encode_rows(train_rows), labels[: config.train_size],
                      latency=np.asarray(lat_col[train_rows], np.float64) if use_lat else None,
                      flops=np.asarray(flops, np.float64), params=np.asarray(params, np.float64),
                      ops=np.asarray(space.op_counts(train_cells), dtype=np.int64),
                      sizes=space.cell_sizes(train_cells))
    val = TrainData(encode_rows(val_rows), labels[config.train_size:])
    return _Prepared(rows, train, val, encode_rows, int(model_ss.generate_state(1)[0]), use_lat, lat_col,
                     time.perf_counter() - t0)


def _train_rankers(runs: list[_Run], preps: list[_Prepared], progress: bool) -> list:
    """Train the rankers of ``runs`` (one, or a pack) and return their TrainResults; each
    ``_Prepared.train_seconds`` gets its share of the training time (encoding included)."""
    t0 = time.perf_counter()
    run0, config = runs[0], runs[0].config
    model = build_ranker(config, run0.space.feature_shape, [p.model_seed for p in preps], latency_head=preps[0].use_lat)
    has_tiers = config.method in ("narq2t", "nar")
    settings = TrainSettings(
        epochs=config.epochs, batch_size=config.batch_size, lr_scale=config.lr_scale,
        warmup_steps=config.warmup_steps, betas=(config.adam_beta1, config.adam_beta2), eps=config.adam_eps,
        weight_decay=config.weight_decay, cls_loss_factor=config.cls_loss_factor if has_tiers else 0.0,
        rank_loss_factor=config.rank_loss_factor, latency_loss_factor=config.latency_loss_factor,
        tier_labels=config.tier_labels, tier_embedding_reset=config.tier_embedding_reset,
        tail_batch=config.tail_batch, epoch_selection=config.epoch_selection, precision=config.precision)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        seeds = ",".join(str(r.config.seed) for r in runs)
        bar = tqdm(total=config.epochs, desc=f"train {config.method} seed{'s' if len(runs) > 1 else ''} {seeds}",
                   unit="epoch", leave=False)
    cb = (lambda e, rec: (bar.update(1), bar.set_postfix(loss=f"{rec['loss']:.3f}", tau=f"{rec.get('tau', 0):.3f}"))) \
        if bar is not None else None
    trained = train_rankers(model, [p.train for p in preps], [p.val for p in preps], settings,
                            seeds=[p.model_seed + 1 for p in preps], device=run0.device,
                            num_ops=len(run0.space.op_names()), num_bins=config.num_bins, log=run0.log, progress=cb)
    if bar is not None:
        bar.close()
    share = (time.perf_counter() - t0) / len(runs)
    for p in preps:
        p.train_seconds, p.pack = p.encode_seconds + share, len(preps)
    return trained


def _search_ranker(run: _Run, prep: _Prepared, tr, progress: bool):
    """Held-out health, then the tier-guided search, of one trained ranker: (outcome, extra, seconds)."""
    config, bench, space, ds, log = run.config, run.bench, run.space, run.ds, run.log
    queries, val_col, sel_col = run.queries, run.val_col, run.sel_col
    _, _, sampler_ss, _, eval_ss = run.streams
    rows, encode_rows, model, use_lat, lat_col = prep.rows, prep.encode_rows, tr.model, prep.use_lat, prep.lat_col
    has_tiers = config.method in ("narq2t", "nar")

    # --- did it learn: held-out health, right after training (not part of the search cost) -------
    t_eval = time.perf_counter()
    used = np.zeros(len(bench), dtype=bool)
    used[rows] = True
    held = np.flatnonzero(~used)
    if held.size > HELDOUT_MAX:
        held = np.sort(np.random.default_rng(eval_ss).choice(held, size=HELDOUT_MAX, replace=False))
    health = None
    if held.size >= 2:
        scores, logits, _ = predict(model, encode_rows(held), with_tiers=has_tiers and config.cls_loss_factor > 0)
        # classification only (rank_loss_factor 0): the score head was never trained, so no tau (NaN)
        health = assess(scores if config.rank_loss_factor > 0 else None, logits, bench.column(val_col)[held],
                        config.num_tiers)
    eval_seconds = time.perf_counter() - t_eval

    if tr.stats is not None and config.stats_epochs == "best_epoch":
        tr.stats.keep_epoch(tr.best_epoch)  # authors: the statistics saved with the best checkpoint
    if config.tier_embedding_reset == "epoch":
        model.reset_tier_embeddings()  # authors: fresh Buckets (zeros) at the start of the search

    t_search = time.perf_counter()
    # without a tier classifier there are no tier statistics to guide the sampler: whole space
    mode = "random" if config.method in ("convnet", "no_tier") else config.sampling_mode
    sampler = CandidateSampler(
        space, ds, bench, tr.stats, np.random.default_rng(sampler_ss), sampling_mode=mode,
        constraints=config.constraints, random_proportion=config.random_proportion,
        constraint_reuse=config.constraint_reuse, batch_factor=config.batch_factor,
        kl_thresholds=(config.kl_threshold_flops, config.kl_threshold_params), tier_index=config.tier_index,
        kl_definition=config.kl_definition, constraint_bound=config.constraint_bound,
        interval_scope=config.interval_scope, op_sampling=config.op_sampling, stats_turns=config.stats_turns,
        constraint_reuse_counts=config.constraint_reuse_counts, cell_size_sampling=config.cell_size_sampling,
        iterations=config.search_iterations)
    order = search_order(has_tiers, config.cls_loss_factor, config.rank_loss_factor)
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.search_iterations, desc=f"search {config.method} seed {config.seed}", unit="it",
                   leave=False)
    cb = (lambda i, best: (bar.update(1), bar.set_postfix(best_val=f"{best:.2f}"))) if bar is not None else None
    # the search ranks in float32 whatever the training ran in (bfloat16 scores tie)
    outcome = ranker_search(model, encode_rows, sampler, queries, iterations=config.search_iterations,
                            sample_size=config.sample_size, top_k=config.top_k, val_column=val_col,
                            select_column=sel_col, order=order, queried=config.search_queried,
                            tier_short=config.tier_short, duplicates=config.sample_duplicates,
                            latency_norm=tr.latency_norm if use_lat else None, progress=cb)
    if bar is not None:
        bar.close()
    search_seconds = time.perf_counter() - t_search

    # --- evaluation (not part of the search cost) -------------------------------------------
    extra: dict[str, Any] = {"best_epoch": tr.best_epoch, "encode_seconds": prep.encode_seconds,
                             "stats_seconds": tr.stats_seconds, "search_skipped": outcome.skipped,
                             "search_filled": outcome.filled, "heldout_size": int(held.size),
                             "eval_seconds": eval_seconds}
    if health is not None:
        extra.update(kendall_tau=health.kendall_tau, tier_accuracy=health.tier_accuracy,
                     tier_chance=health.tier_chance, tier_shares=health.tier_shares, health=health.status)
        if health.flags:
            log.warning("%s %s %s seed %d: the ranker did not learn (%s): held-out tier accuracy %.3f (chance "
                        "%.3f), tiers predicted %s, Kendall tau %.3f over %d cells", config.space, ds, config.method,
                        config.seed, health.status, health.tier_accuracy, health.tier_chance,
                        [round(v, 3) for v in health.tier_shares], health.kendall_tau, held.size)
    if outcome.skipped or outcome.filled:
        log.info("%s seed %d: %d of %d search iterations had fewer than %d cells in the predicted top tier "
                 "(%s)", config.method, config.seed, outcome.tier_short, config.search_iterations, config.top_k,
                 f"skipped {outcome.skipped}" if outcome.skipped else f"filled {outcome.filled}")
    extra["constraint_draws"] = sampler.constraint_draws
    # how often each branch of Algorithm 2 fired (one count per batch and quantity selected)
    for q, counts in sampler.branch_counts.items():
        for branch, c in counts.items():
            extra[f"alg2_{q}_{branch.replace(' ', '_')}"] = c
    if use_lat and outcome.predicted_latency:
        order = np.argsort(-np.asarray(outcome.queried_select), kind="stable")[:5]
        top = [outcome.queried_rows[i] for i in order]
        pred = np.array([outcome.predicted_latency[r] for r in top])
        gt = np.asarray(lat_col[top], np.float64)
        rel = np.abs(pred - gt) / np.maximum(gt, 1e-12)
        extra["latency_rmse"] = float(np.sqrt(np.mean((pred - gt) ** 2)))
        extra["latency_within_5"] = float(100 * np.mean(rel <= 0.05))
        extra["latency_within_10"] = float(100 * np.mean(rel <= 0.10))
        extra["latency_predicted"], extra["latency_measured"] = pred.tolist(), gt.tolist()
    extra["pack"] = prep.pack
    return outcome, extra, search_seconds


def _best_labelled(queries: QueryLog, val_col: str) -> int:
    """The labelled (training/validation) cell with the best label."""
    rows = queries.rows_of("train")
    return int(rows[np.nanargmax(queries.bench.column(val_col)[rows])])


def _summarise(config, bench, space, ds, outcome: SearchOutcome, queries: QueryLog, val_col, test_col):
    row = outcome.best_row
    val_all = bench.column(val_col)
    test_all = bench.column(test_col)
    if row < 0:
        raise NarError("the search queried no cell (all candidates were already queried); "
                       "raise sample_size or search_iterations")
    v, t = float(val_all[row]), float(test_all[row])
    searched = np.asarray(outcome.queried_rows, dtype=np.int64)
    vals = val_all[searched] if searched.size else np.array([])
    valpick = int(searched[np.nanargmax(vals)]) if np.isfinite(vals).any() else row
    key = bench.keys[row]
    key = key.item() if hasattr(key, "item") else key
    cells = {k: a[row:row + 1] for k, a in bench.cell_arrays.items()}
    return ExperimentResult(
        space=config.space, dataset=ds, method=config.method, seed=config.seed,
        found_key=key, found_arch=space.format(cells, 0), val_acc=v, test_acc=t,
        rank_val=int(np.sum(val_all > v)) + 1 if np.isfinite(v) else 0, rank_test=int(np.sum(test_all > t)) + 1,
        percentile_test=float(100.0 * np.sum(test_all > t) / len(bench)),
        regret_val=float(np.nanmax(val_all) - v) if np.isfinite(val_all).any() else math.nan, regret_test=float(np.nanmax(test_all) - t),
        best_so_far_val=list(outcome.best_so_far_val),
        queries_train=queries.counts["train"], queries_search=queries.counts["search"],
        queries_total=queries.total, config_hash=config_hash(config), query_metric=config.query_metric,
        sampler_fallbacks=outcome.fallbacks,
        val_acc_valpick=float(val_all[valpick]), test_acc_valpick=float(test_all[valpick]),
        found_phase=queries.phase_of(row),
    )


def _peak_memory_mb(device: torch.device) -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mb = rss / (1024 * 1024) if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux
    if device.type == "cuda":
        mb += torch.cuda.max_memory_allocated(device) / 2**20
    return float(mb)
