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

from .errors import ConfigError, NarError

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
    # --- model: L = L_d = 6 as in the papers; the width is not stated. NB201: D 64, FFN 256, no
    # dropout, 3.5-4x cheaper per step on a CPU than the authors' public 128/512 with dropout 0.1
    # (benchmarks/ranker_step.py) and at or above the papers' NB201 numbers (README). NB101 keeps
    # the authors' 256/1024 (for_space), also without dropout. ---------------------------------------
    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 256
    encoder_layers: int = 6
    decoder_layers: int = 6
    dropout: float = 0.0
    num_tiers: int = 5
    # --- training (App. B / Sec. IV-A) ------------------------------------------------------------
    epochs: int = 55
    batch_size: int = 128
    lr_scale: float = 1.0                # multiplies the Transformer schedule d^-0.5 * min(s^-0.5, s*w^-1.5)
    warmup_steps: int = 30
    adam_beta1: float = 0.9
    adam_beta2: float = 0.99
    adam_eps: float = 1e-9
    weight_decay: float = 1e-2
    cls_loss_factor: float = 1.0
    rank_loss_factor: float = 5.0        # NARQ2T lambda2 (Sec. IV-D; Table VI); NAR lambda (Eq. 12)
    latency_loss_factor: float = 0.0     # NARQ2T lambda1 (Table IX); 0 turns the latency head off
    latency_column: str = "latency_ms"   # GTX 1080 Ti, batch 256 (NARQ2T Sec. IV-C)
    # --- tier statistics and sampling (Algorithms 2 / 5, App. B) --------------------------------
    num_bins: int = 10                   # q of Eq. 14 (not stated in the papers)
    kl_threshold_flops: float = 2.5      # zeta
    kl_threshold_params: float = 2.5     # zeta
    batch_factor: float = 0.1            # theta
    tier_index: int = 4                  # beta
    sampling_mode: str = "interval"      # NB201 tables use the interval only; NB101 "statistics"
    constraints: str = "flops+params"
    random_proportion: float = 0.5       # p
    constraint_reuse: int = 25           # R
    # --- search (Sec. 3.3 / Algorithm 4) -------------------------------------------------------------
    search_iterations: int = 50          # T
    sample_size: int = 128               # k, equal to the training batch size (App. B)
    top_k: int = 5                       # m candidates queried per iteration
    # Which queried accuracy picks the returned cell. The papers query the candidates' *test*
    # accuracy (NAR App. E, NARQ2T Sec. IV-D "query their test accuracies"), so "test"
    # reproduces their tables; "val" never looks at test labels (the stricter protocol).
    query_metric: str = "test"
    # --- runtime ----------------------------------------------------------------------------------------
    device: str = "cpu"                  # "cpu", "cuda", "cuda:1", or "auto"
    num_threads: int = 0                 # torch intra-op threads; 0 leaves torch's default

    # ------------------------------------------------------------------------------------------------
    @classmethod
    def for_space(cls, space: str, **overrides: Any) -> "ExperimentConfig":
        """The papers' settings for ``space`` (the space's own :meth:`~nar_core.spaces.SearchSpace.defaults`
        for its first or the given dataset and method), then ``overrides`` (validated)."""
        sp = _space(space)
        dataset = overrides.get("dataset", sp.datasets[0])
        try:
            dataset = sp.canonical_dataset(dataset)
        except NarError as exc:
            raise ConfigError(f"dataset: {exc}") from None
        base: dict[str, Any] = {"space": sp.name}
        base.update(sp.defaults(dataset, overrides.get("method", cls.method)))
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
        need(self.method in METHODS, "method", f"must be one of {', '.join(METHODS)}")
        need(self.sampling_mode in SAMPLING_MODES, "sampling_mode", f"must be one of {', '.join(SAMPLING_MODES)}")
        need(self.query_metric in QUERY_METRICS, "query_metric", f"must be one of {', '.join(QUERY_METRICS)}")
        need(self.constraints in CONSTRAINTS, "constraints", f"must be one of {', '.join(CONSTRAINTS)}")
        need(self.seed >= 0, "seed", "must be >= 0")
        for name in ("train_size", "val_size", "d_model", "n_heads", "d_ff", "epochs", "batch_size",
                     "num_tiers", "num_bins", "search_iterations", "sample_size", "top_k", "constraint_reuse"):
            need(getattr(self, name) >= 1, name, "must be >= 1")
        for name in ("encoder_layers", "decoder_layers", "warmup_steps", "num_threads"):
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
        need(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"), "device",
             "must be 'cpu', 'cuda', 'cuda:N' or 'auto'")


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
