"""Experiment configuration: plain data, validated, with the papers' settings as defaults.

``ExperimentConfig`` is the contract between the pipeline (:func:`nar_core.experiment.run_experiment`),
the CLI (``nar run``) and the sweep harness (every trial is one config). Build one with
:meth:`ExperimentConfig.for_space` (papers' defaults for that space, then overrides) or
:meth:`ExperimentConfig.from_dict` (rejects unknown keys, checks ranges).

Loss factors have explicit names because the NARQ2T paper swaps lambda1/lambda2 between Eq. 14
and Algorithm 3 (see ``shared/reference/paper_results/README.md``, item 10). Here:
``L = cls_loss_factor * L_cls + rank_loss_factor * L_rank + latency_loss_factor * L_lat``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import Any, Mapping

from .errors import ConfigError, NarError, closest, did_you_mean

METHODS = (
    "narq2t",          # learnable tier queries (NARQ2T)
    "nar",             # running-mean tier embeddings (NAR)
    "no_tier",         # encoder + ranking head only (the "-" row of NARQ2T Table IV)
    "convnet",         # ReNAS-style small ConvNet ranker (Table 7 / X)
    "random_search",   # uniform random search, same query budget
    "evolution",       # regularized evolution, same query budget
)
SAMPLING_MODES = ("statistics", "interval", "random")
QUERY_METRICS = ("test", "val")
CONSTRAINTS = ("flops+params", "flops", "params")
# the switches of issues 9 and 17 (docs/fidelity.md): every value names its source; the first
# value of each is not necessarily the default (see the field comments of ExperimentConfig)
CHOICES = {
    "pooling": ("flatten", "mean"),
    "tier_labels": ("global", "batch"),
    "tier_embedding_reset": ("epoch", "never"),
    "kl_definition": ("softmax", "smoothed"),
    "constraint_bound": ("upper", "bin"),
    "interval_scope": ("top_tier", "batch"),
    "op_sampling": ("statistics", "uniform"),
    "stats_epochs": ("best_epoch", "all_epochs"),
    "stats_turns": ("iteration", "constraint"),
    "search_queried": ("allow", "skip"),
    # issue 17: the authors' model and search
    "norm_placement": ("post", "pre"),
    "activation": ("relu", "gelu"),
    "score_head_bias": ("on", "off"),
    "tier_logit_scale": ("sqrt_d", "none"),
    "tier_projection": ("linear", "none"),
    "weight_init": ("xavier", "torch"),
    "input_scaling": ("authors", "unit"),
    "tail_batch": ("drop", "train"),
    "epoch_selection": ("tier_accuracy", "tau+tier_accuracy"),
    "tier_short": ("skip", "fill"),
    "constraint_reuse_counts": ("accepted", "tries"),
    "sample_duplicates": ("keep", "drop"),
    "cell_size_sampling": ("batch_range", "max"),
}
PRECISIONS = ("fp32", "bf16", "tf32")  # issue 18: nar_core/ranker/precision.py
ENCODING_ATTRIBUTES = ("ops", "flops", "params")

#: Named presets: the fields a preset sets on top of the dataclass defaults. The rule (issue 17,
#: docs/fidelity.md): the papers' numbers were produced by the authors' public code
#: (AlbertiPot/nar), so the default ("default") is what that code runs, the papers' text where the
#: code is silent (NARQ2T's learnable queries, its lambda2 per dataset, the latency head).
#: "authors" is the authors' code exactly, for every method (NAR's lambda for NARQ2T too).
#: "paper" is the literal reading of the papers' text where it differs from the code (the printed
#: learning-rate schedule, pre-LN Eq. 5-7, a bias-free score head, per-batch tiers for NAR,
#: Algorithm 2's top-tier interval, operations from the statistics, zeta 2.5, filling a short tier).
#: Only what holds for every space is here: each space's own preset values come from its
#: plug-in, :meth:`nar_core.spaces.SearchSpace.defaults`.
PRESETS: dict[str, dict[str, Any]] = {
    "default": {},
    "authors": {},
    "paper": dict(
        lr_scale=1.0, norm_placement="pre", score_head_bias="off", interval_scope="top_tier",
        op_sampling="statistics", kl_threshold_flops=2.5, kl_threshold_params=2.5, tier_short="fill",
    ),
}
#: the preset ``nar run`` and the sweeps use when none is named
DEFAULT_PRESET = "default"
#: version of the settings and code semantics behind a result row (``ExperimentResult.settings_version``):
#: 1 = before issue 17 (rows without the column), 2 = the authors' model and search by default.
#: A row of an older version is superseded: the report lists it and never judges with it.
SETTINGS_VERSION = 2


@dataclass(frozen=True)
class ExperimentConfig:
    # --- what ---------------------------------------------------------------------------------
    space: str = "nb201"
    dataset: str = "cifar10"
    method: str = "narq2t"
    seed: int = 0
    data_dir: str | None = None          # None: NAR_DATA, ../shared/data, else the space's embedded table
    # --- data protocol (NB201: 1000 + 256 on *_val; NB101: 4236 + 1024) -------------------------
    train_size: int = 1000
    val_size: int = 256
    # --- model: L = L_d = 6 as in the papers; widths and dropout are not stated, so the authors'
    # code (config201.yml: D 128, FFN 512, dropout 0.1; config.yml NB101: 256/1024, for_space).
    # D 64 with no dropout is 3.5-4x cheaper per CPU step (benchmarks/ranker_step.py). -------------
    d_model: int = 128                   # papers silent; authors' config201.yml d_model
    n_heads: int = 4
    d_ff: int = 512                      # papers silent; authors' config201.yml d_ffn_inner
    encoder_layers: int = 6
    decoder_layers: int = 6
    dropout: float = 0.1                 # papers silent; authors' configs
    num_tiers: int = 5
    # --- the model where the papers are silent or differ from the authors' code (issue 17) -----
    norm_placement: str = "post"         # authors: input LN + post-LN layers; "pre": Eq. 5-7 as printed
    activation: str = "relu"             # authors' FFN (papers: "the original Transformer"); "gelu"
    score_head_width: int = 1024         # hidden width of the score (and latency) head: authors' d_val_acc_prj_inner (0 = D)
    tier_head_width: int = 256           # hidden width of the tier head: authors' d_tier_prj_inner (0 = D)
    score_head_bias: str = "on"          # authors' val_acc_prj has biases; "off": Eq. 8 "neglect the bias"
    tier_logit_scale: str = "sqrt_d"     # authors' scale_prj: tier logits x D^-0.5; "none"
    tier_projection: str = "linear"      # authors' trg_prj on the tier tokens; "none"
    weight_init: str = "xavier"          # authors: Xavier-uniform for every matrix; "torch" (PyTorch's defaults)
    # the feature tensor as the ranker reads it: "authors" = their values (NB201 raw per-edge
    # costs and op codes; NB101 op codes, FLOPs / 1e7, params / 1e5: SearchSpace.input_scale),
    # "unit" = fixed divisors into [0, 1] (before issue 17)
    input_scaling: str = "authors"
    # how the N x D feature x_alpha reaches the score/latency heads (Eq. 8 leaves it open):
    # "flatten" (authors' models.py: N*D inputs) or "mean" (token mean, before issue 9)
    pooling: str = "flatten"             # papers silent; authors' code flattens
    # cell attributes in the feature tensor (NARQ2T Fig. 10 ablation): "+"-joined subset of
    # ops, flops, params; the channels left out are zero
    encoding_attributes: str = "ops+flops+params"  # the papers' encoding (App. A)
    # --- training (App. B / Sec. IV-A) ------------------------------------------------------------
    epochs: int = 55
    batch_size: int = 128
    # the last, smaller batch of an epoch: "drop" (authors' DataLoader drop_last=True: NB201 trains
    # 7 batches of 128 of its 1,000 cells) or "train" (before issue 17, when it holds >= 2T cells)
    tail_batch: str = "drop"
    lr_scale: float = 0.07               # authors' lr_mul (0.07 NB201, 0.1 NB101: for_space); "paper": 1, the schedule as printed
    warmup_steps: int = 30
    adam_beta1: float = 0.9
    adam_beta2: float = 0.99
    adam_eps: float = 1e-9
    weight_decay: float = 1e-2
    # L = cls * L_cls + rank * L_rank (+ latency * L_lat). cls 0 = "ranking only" row, rank 0 =
    # "classification only" row (NAR Table 4 / NARQ2T Table V): the search then orders by what
    # was trained (see search.py), never by an untrained head.
    cls_loss_factor: float = 1.0
    rank_loss_factor: float = 5.0        # NARQ2T lambda2 (Table VI bold); NAR lambda 9/1 from the authors' configs (for_space)
    latency_loss_factor: float = 0.0     # NARQ2T lambda1 (Table IX); 0 turns the latency head off
    latency_column: str = "latency_ms"   # GTX 1080 Ti, batch 256 (NARQ2T Sec. IV-C)
    # tier labels: "global" = the training set split into T tiers once by ground truth (NARQ2T
    # Algo. 2, authors' SplitSubet); "batch" = each batch split equally (NAR Algo. 1 line 7)
    tier_labels: str = "global"          # NARQ2T text and authors' code (for_space: "batch" for method nar)
    # NAR running-mean tier embeddings (Eq. 13): "epoch" = zeroed at the start of every epoch and
    # of the search (authors' train_epoch / init_tier_list); "never" = one mean over all epochs
    tier_embedding_reset: str = "epoch"  # papers silent; authors' code
    # which epoch's weights are kept: "tier_accuracy" = the best validation tier accuracy (authors'
    # train.py); "tau+tier_accuracy" = Kendall tau + tier accuracy (before issue 17). Either way a
    # head whose loss is off does not count (classification off: tau alone)
    epoch_selection: str = "tier_accuracy"
    # --- tier statistics and sampling (Algorithms 2 / 5, App. B) --------------------------------
    num_bins: int = 5                    # q: papers silent; authors' config201.yml bins (NB101 8, for_space)
    # KL of Algorithm 2: "softmax" = KL(softmax(counts_T1) || softmax(counts_Ti)) / q, the
    # authors' compute_kl_div (log_softmax of raw counts, kl_div batchmean); "smoothed" = KL of the
    # histograms normalised after 1e-3 per-bin smoothing (before issue 9)
    kl_definition: str = "softmax"       # papers say only "KL"; the thresholds were set on the authors' definition
    kl_threshold_flops: float = 2.5      # zeta (NAR App. B; authors' config.yml; config201.yml 0.35 via for_space)
    kl_threshold_params: float = 2.5     # zeta (NAR App. B; authors' config.yml; config201.yml 0.3 via for_space)
    batch_factor: float = 0.1            # theta (NAR App. B)
    tier_index: int = 4                  # beta (NAR App. B)
    sampling_mode: str = "interval"      # NB201 "sample randomly on the interval" (NAR Sec. 4.2); NB101 "statistics"
    # a drawn constraint tau bounds a cell from above, f <= tau (the constrained problem of NAR
    # Eq. 1; authors' arch_sampler "f <= flops and p <= params"); "bin" = inside the drawn bin or
    # interval, both sides (before issue 9)
    constraint_bound: str = "upper"      # paper Eq. 1 and authors' code agree
    # where tau is drawn when only the interval is kept: "top_tier" = a bin edge of the top
    # tier's interval r_T1 (NAR Algo. 2 line 4); "batch" = any of the q bin edges of the batch
    # (authors' _sample_target_value fallback and force_uniform)
    interval_scope: str = "batch"        # authors' code; "top_tier": NAR Algo. 2 text ("paper")
    # operations of constrained cells: "statistics" = the top tier's op counts (NAR Sec. 3.2 "to
    # guide the sampling"); "uniform" (authors' samplers: uniform types, force_uniform on NB201)
    op_sampling: str = "uniform"         # authors' samplers; "statistics": NAR Sec. 3.2 text ("paper")
    constraints: str = "flops+params"
    random_proportion: float = 0.5       # p (NAR App. B)
    constraint_reuse: int = 25           # R (NAR App. B)
    # what R counts: "accepted" = a new constraint after R accepted cells (authors' arch_sampler:
    # len(sampled) % reuse_step == 0); "tries" = after R candidates built (before issue 17)
    constraint_reuse_counts: str = "accepted"
    # the same cell drawn twice in one iteration: "keep" (authors: the sampled list is ranked as
    # drawn, duplicates included) or "drop" (before issue 17: each cell once)
    sample_duplicates: str = "keep"
    # spaces whose cells differ in size (NB101): "batch_range" = each constructed cell's node count
    # uniform over the statistics batch's range (authors' arch_sampler.py), "max" = always the
    # largest cell (7 vertices, before issue 17)
    cell_size_sampling: str = "batch_range"
    # which training batches feed the search: "best_epoch" = the batches of the epoch whose
    # weights are kept (authors' checkpoint 'distri'); "all_epochs" (before issue 9)
    stats_epochs: str = "best_epoch"     # papers silent; authors' train.py
    # how the batches take turns: "iteration" = shuffled, one batch per search iteration, each
    # reused ceil(T / batches) iterations (authors' distri_reuse_step); "constraint" = the next
    # batch at every constraint draw (before issue 9)
    stats_turns: str = "iteration"       # NAR Sec. 5.3 "used by turns across all sampling iterations"
    # --- search (Sec. 3.3 / Algorithm 4) -------------------------------------------------------------
    search_iterations: int = 50          # T
    sample_size: int = 128               # k, equal to the training batch size (App. B)
    top_k: int = 5                       # m candidates queried per iteration
    # cells already queried (training labels, earlier iterations): "allow" = candidates come from
    # the whole space and a repeat query costs nothing new, so a training cell can be returned
    # (authors' sample.py); "skip" = never candidates, every query is new (before issue 9)
    search_queried: str = "allow"        # papers silent; authors' code
    # an iteration whose predicted top tier holds fewer than m candidates: "skip" = query nothing
    # (authors' sample_201.py; their NB101 search fails), "fill" = fill up with the best-scored
    # cells of the other tiers (before issue 17). Every result row counts them.
    tier_short: str = "skip"
    # Which queried accuracy picks the returned cell. The papers query the candidates' *test*
    # accuracy (NAR App. E, NARQ2T Sec. IV-D "query their test accuracies"), so "test"
    # reproduces their tables; "val" never looks at test labels (the stricter protocol).
    query_metric: str = "test"
    # --- runtime ----------------------------------------------------------------------------------------
    device: str = "cpu"                  # "cpu", "cuda", "cuda:1", or "auto"
    # fp32, bf16 (autocast forward passes, CPU or GPU) or tf32 (CUDA matrix products); changes the
    # result, so it is part of the config hash and of every row (nar_core/ranker/precision.py)
    precision: str = "fp32"
    num_threads: int = 0                 # torch intra-op threads; 0 leaves torch's default

    # ------------------------------------------------------------------------------------------------
    @classmethod
    def for_space(cls, space: str, preset: str = DEFAULT_PRESET, **overrides: Any) -> "ExperimentConfig":
        """The settings of ``preset`` (``PRESETS``) for ``space``, then ``overrides`` (validated).

        ``"default"`` follows the authors' code (the papers' text where the code is silent);
        ``"authors"`` is the authors' public code exactly; ``"paper"`` the papers' text as printed. The space's own values (its
        :meth:`~nar_core.spaces.SearchSpace.defaults` for the first or given dataset, the method and
        the preset) come first. The sweep harness and ``nar run --preset`` both come through here.
        """
        sp = _space(space)
        if preset not in PRESETS:
            raise ConfigError(f"preset: unknown preset {preset!r}{did_you_mean(preset, PRESETS)}; "
                              f"expected one of {', '.join(PRESETS)}")
        dataset = overrides.get("dataset", sp.datasets[0])
        try:
            dataset = sp.canonical_dataset(dataset)
        except NarError as exc:
            raise ConfigError(f"dataset: {exc}") from None
        method = overrides.get("method", cls.method)
        base: dict[str, Any] = {"space": sp.name}
        base.update(sp.defaults(dataset, method, preset))
        if method == "nar" and preset == "paper":
            base["tier_labels"] = "batch"  # NAR Algo. 1 line 7
        base.update(PRESETS[preset])
        base.update(overrides)
        base["dataset"] = dataset  # canonical: one spelling per dataset in configs and their hashes
        return cls.from_dict(base)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ExperimentConfig":
        """Build and validate; unknown keys are refused with the closest valid names."""
        known = {f.name: f for f in fields(cls)}
        unknown = [k for k in data if k not in known]
        if unknown:
            import difflib

            hints = []
            for k in unknown:
                close = difflib.get_close_matches(k, known, n=1)
                hints.append(f"{k!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
            raise ConfigError(f"unknown config key(s): {', '.join(hints)}")
        values: dict[str, Any] = {}
        for k, v in data.items():
            values[k] = _coerce(k, known[k].type, v)
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def replace(self, **changes: Any) -> "ExperimentConfig":
        return type(self).from_dict({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> None:
        """Raise :class:`ConfigError` naming the first field that is out of range."""
        def need(cond: bool, name: str, what: str) -> None:
            if not cond:
                raise ConfigError(f"{name}: {what} (got {getattr(self, name)!r})")

        sp = _space(self.space)
        try:
            sp.canonical_dataset(self.dataset)
        except NarError as exc:
            raise ConfigError(f"dataset: {exc}") from None
        def one_of(name: str, allowed: tuple[str, ...]) -> None:  # a typo gets the closest value
            value = getattr(self, name)
            if value not in allowed:
                raise ConfigError(f"{name}: must be one of {', '.join(allowed)} (got {value!r}){_hint(value, allowed)}")

        one_of("method", METHODS)
        one_of("sampling_mode", SAMPLING_MODES)
        one_of("query_metric", QUERY_METRICS)
        one_of("constraints", CONSTRAINTS)
        one_of("precision", PRECISIONS)
        for name, allowed in CHOICES.items():
            one_of(name, allowed)
        attrs = self.encoding_attributes.split("+")
        need(len(attrs) == len(set(attrs)) and set(attrs) <= set(ENCODING_ATTRIBUTES), "encoding_attributes",
             "must be a '+'-joined subset of ops, flops, params (e.g. 'ops+flops')")
        need(self.cls_loss_factor > 0 or self.rank_loss_factor > 0, "rank_loss_factor",
             "cls_loss_factor and rank_loss_factor cannot both be 0 (nothing would be trained)")
        # no_tier and convnet have no tier classifier: their only loss is the ranking loss
        need(self.rank_loss_factor > 0 or self.method not in ("no_tier", "convnet"), "rank_loss_factor",
             f"must be > 0 for method {self.method} (it has no tier classifier, so nothing would be trained)")
        need(self.seed >= 0, "seed", "must be >= 0")
        for name in ("train_size", "val_size", "d_model", "n_heads", "d_ff", "epochs", "batch_size",
                     "num_tiers", "num_bins", "search_iterations", "sample_size", "top_k", "constraint_reuse"):
            need(getattr(self, name) >= 1, name, "must be >= 1")
        for name in ("encoder_layers", "decoder_layers", "warmup_steps", "num_threads", "score_head_width",
                     "tier_head_width"):
            need(getattr(self, name) >= 0, name, "must be >= 0")
        need(self.d_model % self.n_heads == 0, "n_heads", f"must divide d_model={self.d_model}")
        need(self.num_tiers >= 2, "num_tiers", "must be >= 2")
        need(self.batch_size >= self.num_tiers, "batch_size", f"must be >= num_tiers={self.num_tiers}")
        need(0.0 <= self.dropout < 1.0, "dropout", "must be in [0, 1)")
        need(0.0 <= self.random_proportion <= 1.0, "random_proportion", "must be in [0, 1]")
        need(0.0 <= self.batch_factor <= 1.0, "batch_factor", "must be in [0, 1]")
        need(2 <= self.tier_index <= self.num_tiers, "tier_index", f"must be in [2, num_tiers={self.num_tiers}]")
        need(self.top_k <= self.sample_size, "top_k", f"must be <= sample_size={self.sample_size}")
        need(self.lr_scale > 0, "lr_scale", "must be > 0")
        for name in ("cls_loss_factor", "rank_loss_factor", "latency_loss_factor", "weight_decay",
                     "kl_threshold_flops", "kl_threshold_params"):
            need(getattr(self, name) >= 0, name, "must be >= 0")
        need(0.0 <= self.adam_beta1 < 1.0 and 0.0 <= self.adam_beta2 < 1.0, "adam_beta2", "betas must be in [0, 1)")
        need(self.adam_eps > 0, "adam_eps", "must be > 0")
        need(self.latency_loss_factor == 0 or sp.has_latency, "latency_loss_factor",
             f"the {sp.name} benchmark has no latency labels")
        if self.precision == "tf32" and self.device == "cpu":
            raise ConfigError("precision: tf32 exists only on CUDA GPUs, and device is cpu; use fp32 or bf16, "
                              "or --device cuda")
        if not (self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda")):
            raise ConfigError(f"device: must be 'cpu', 'cuda', 'cuda:N' or 'auto' (got {self.device!r})"
                              + _hint(self.device, ("cpu", "cuda", "auto")))


# config fields that do not change a result (resuming a run ignores them; the data's content is
# keyed by ExperimentResult.data_fingerprint instead of its path)
RUNTIME_FIELDS = ("seed", "device", "num_threads", "data_dir")


def config_hash(config: ExperimentConfig) -> str:
    """Hash of the config fields that change a result (seed, device, threads, data path excluded)."""
    import hashlib
    import json

    d = {k: v for k, v in config.to_dict().items() if k not in RUNTIME_FIELDS}
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


def _hint(value: Any, allowed: Any) -> str:
    """``; did you mean 'x'?`` for the closest allowed value, or nothing."""
    best = closest(value, allowed)
    return f"; did you mean {best!r}?" if best is not None else ""


def _space(name: str):
    """The registered search space ``name``; ConfigError naming the field otherwise."""
    from .spaces import get_space  # local: the registry loads plug-ins, which import the pipeline

    try:
        return get_space(name)
    except NarError as exc:
        raise ConfigError(f"space: {exc}") from None


def _coerce(name: str, type_hint: Any, value: Any) -> Any:
    """Accept ints for floats and numeric strings from YAML/CLI; refuse anything else clearly."""
    hint = str(type_hint)
    try:
        if value is None:
            if "None" in hint:
                return None
            raise TypeError
        if hint.startswith("int"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
        if hint.startswith("float"):
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if hint.startswith("str"):
            if not isinstance(value, str):
                raise TypeError
            return value
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: expected {hint.split(' ')[0]}, got {value!r}") from None
    return value
