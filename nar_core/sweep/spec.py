"""Sweep specs: declarative data describing one ablation of the papers.

A :class:`SweepSpec` says *what* to run (space, dataset, method, fixed settings), *which*
settings vary (the papers' ``grid`` rows, or an Optuna ``search_space`` of ranges), over which
``seeds``, and *how to judge* a trial (``metric`` / ``mode``). It holds no code: a user copies
the dataclass literal from ``sweeps/<name>.py`` (or the YAML that :meth:`SweepSpec.to_dict`
writes) and edits it. :meth:`SweepSpec.validate` refuses a bad spec before anything starts,
raising :class:`~nar_core.errors.ConfigError` naming the field (``spec.grid[2].num_tiers: ...``).
"""
from __future__ import annotations

import dataclasses
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

from ..budget import budget_settings
from ..cli_common import QUICK_SETTINGS, parse_seeds
from ..config import DEFAULT_PRESET, ExperimentConfig
from ..errors import ConfigError, NarError

MODES = ("grid", "optuna")
PARAM_KINDS = ("float", "int", "choice")

# Metrics a trial reports (aggregates over its finished seeds); any of them may be the spec's metric.
TRIAL_METRICS = (
    "mean_val_acc", "mean_test_acc", "std_val_acc", "std_test_acc", "best_val_acc", "best_test_acc",
    "mean_test_acc_valpick", "std_test_acc_valpick", "best_test_acc_valpick",
    "mean_rank_val", "mean_rank_test", "mean_regret_val", "mean_regret_test", "mean_kendall_tau",
    "mean_tier_accuracy", "mean_latency_rmse", "mean_latency_within_5", "mean_latency_within_10",
    "mean_queries_total", "mean_train_seconds", "mean_search_seconds", "mean_total_seconds",
    "max_peak_memory_mb",
)

_CONFIG_FIELDS = {f.name for f in dataclasses.fields(ExperimentConfig)}
# Set by the harness itself, never by a spec: seed comes from ``seeds``, data_dir from ``--data``.
_RESERVED = {"seed", "data_dir"}


@dataclass(frozen=True)
class Param:
    """One swept range for the Optuna mode.

    ``kind``: ``"float"`` (``low``..``high``, optional ``log`` scale, optional ``step``),
    ``"int"`` (``low``..``high`` inclusive, ``step``) or ``"choice"`` (``values``).
    """

    kind: str
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    values: tuple[Any, ...] = ()

    @classmethod
    def float(cls, low: float, high: float, *, log: bool = False, step: float | None = None) -> "Param":
        return cls("float", low=low, high=high, log=log, step=step)

    @classmethod
    def int(cls, low: int, high: int, *, step: int | None = None) -> "Param":
        return cls("int", low=low, high=high, step=step)

    @classmethod
    def choice(cls, *values: Any) -> "Param":
        return cls("choice", values=tuple(values))

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "choice":
            return {"kind": "choice", "values": list(self.values)}
        d: dict[str, Any] = {"kind": self.kind, "low": self.low, "high": self.high}
        if self.step is not None:
            d["step"] = self.step
        if self.log:
            d["log"] = True
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> "Param":
        if not isinstance(data, Mapping):
            raise ConfigError(f"{where}: expected a mapping with 'kind', got {data!r}")
        allowed = {"kind", "low", "high", "step", "log", "values"}
        extra = sorted(set(data) - allowed)
        if extra:
            raise ConfigError(f"{where}: unknown key(s) {extra}; allowed: {sorted(allowed)}")
        values = data.get("values", ())
        if not isinstance(values, (list, tuple)):
            raise ConfigError(f"{where}.values: expected a list, got {values!r}")
        return cls(kind=data.get("kind", ""), low=data.get("low"), high=data.get("high"), step=data.get("step"),
                   log=bool(data.get("log", False)), values=tuple(values))

    def validate(self, where: str) -> None:
        if self.kind not in PARAM_KINDS:
            raise ConfigError(f"{where}.kind: must be one of {', '.join(PARAM_KINDS)} (got {self.kind!r})")
        if self.kind == "choice":
            if not self.values:
                raise ConfigError(f"{where}.values: empty choice")
            return
        for bound in ("low", "high"):
            v = getattr(self, bound)
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise ConfigError(f"{where}.{bound}: expected a number (got {v!r})")
        if not self.low < self.high:
            raise ConfigError(f"{where}: empty range, low={self.low!r} must be < high={self.high!r}")
        if self.log and self.low <= 0:
            raise ConfigError(f"{where}.low: a log range needs low > 0 (got {self.low!r})")
        if self.step is not None and not self.step > 0:
            raise ConfigError(f"{where}.step: must be > 0 (got {self.step!r})")
        if self.kind == "int" and not (float(self.low).is_integer() and float(self.high).is_integer()):
            raise ConfigError(f"{where}: int range needs integer bounds (got {self.low!r}..{self.high!r})")

    def corners(self) -> list[Any]:
        """The extreme values of the range (used to validate it against the config before a run)."""
        if self.kind == "choice":
            return list(self.values)
        if self.kind == "int":
            return [int(self.low), int(self.high)]
        return [float(self.low), float(self.high)]

    def to_optuna(self) -> Any:
        """The Optuna distribution the study samples this range from."""
        import optuna.distributions as d

        if self.kind == "choice":
            return d.CategoricalDistribution(list(self.values))
        if self.kind == "int":
            return d.IntDistribution(int(self.low), int(self.high), step=int(self.step or 1))
        return d.FloatDistribution(float(self.low), float(self.high), log=self.log, step=self.step)


@dataclass(frozen=True)
class SweepSpec:
    """One ablation: fixed settings, the varied settings, the seeds and the judging metric.

    Attributes:
        name: default experiment name (the folder under ``--storage``).
        description: one line, shown by ``--help`` and ``--dry-run``.
        space, dataset, method: the base :class:`~nar_core.config.ExperimentConfig`.
        fixed: config overrides shared by every trial.
        grid: the papers' rows (grid mode): each a dict of config overrides; a row may change
            ``method`` (e.g. the no-tier row) or ``dataset``, never ``space``.
        search_space: config key -> :class:`Param` (Optuna mode).
        derived: config key -> (other key, offset): ``key = value of other key + offset`` for
            every trial (keeps e.g. the tier index beta at ``num_tiers - 1`` as tiers vary).
        seeds: seeds each trial runs, in order (the papers: 5 runs on NB101, 10 on NB201).
        metric, mode: what a scheduler / Optuna optimises (a name in ``TRIAL_METRICS``).
        num_samples: Optuna trials when ``--num-samples`` is not given.
        quick: extra ``--quick`` overrides beyond :data:`~nar_core.cli_common.QUICK_SETTINGS`.
        paper_table: the CSV(s) under ``shared/reference/paper_results`` that the grid reproduces.
        preset: the settings every trial starts from (a name in :data:`nar_core.config.PRESETS`:
            ``default``, ``authors`` or ``paper``); ``--preset`` sets it.
    """

    name: str
    description: str = ""
    space: str = "nb201"
    dataset: str = "cifar10"
    method: str = "narq2t"
    fixed: Mapping[str, Any] = field(default_factory=dict)
    grid: Sequence[Mapping[str, Any]] = ()
    search_space: Mapping[str, Param] = field(default_factory=dict)
    derived: Mapping[str, tuple[str, float]] = field(default_factory=dict)
    seeds: Sequence[int] = (0, 1, 2, 3, 4)
    metric: str = "mean_val_acc"
    mode: str = "max"
    num_samples: int = 20
    quick: Mapping[str, Any] = field(default_factory=dict)
    paper_table: str = ""
    preset: str = DEFAULT_PRESET

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SweepSpec":
        """Build from plain data (YAML / JSON); unknown keys are refused naming them."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"spec: expected a mapping, got {type(data).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"spec: unknown key(s) {unknown}; allowed: {sorted(known)}")
        if "name" not in data:
            raise ConfigError("spec.name: missing")
        d = dict(data)
        d["search_space"] = {k: v if isinstance(v, Param) else Param.from_dict(v, f"spec.search_space.{k}")
                             for k, v in (d.get("search_space") or {}).items()}
        d["derived"] = {k: _derived_pair(v, f"spec.derived.{k}") for k, v in (d.get("derived") or {}).items()}
        d["grid"] = tuple(dict(r) if isinstance(r, Mapping) else r for r in (d.get("grid") or ()))
        seeds = d.get("seeds", (0, 1, 2, 3, 4))
        d["seeds"] = parse_seeds(seeds) if isinstance(seeds, str) else tuple(seeds) if isinstance(seeds, (list, tuple)) else seeds
        d["fixed"] = dict(d.get("fixed") or {})
        d["quick"] = dict(d.get("quick") or {})
        return cls(**d)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (YAML/JSON-able); :meth:`from_dict` of it gives an equal spec."""
        return {
            "name": self.name, "description": self.description, "space": self.space, "dataset": self.dataset,
            "method": self.method, "fixed": dict(self.fixed), "grid": [dict(r) for r in self.grid],
            "search_space": {k: p.to_dict() for k, p in self.search_space.items()},
            "derived": {k: [src, off] for k, (src, off) in self.derived.items()},
            "seeds": list(self.seeds), "metric": self.metric, "mode": self.mode,
            "num_samples": self.num_samples, "quick": dict(self.quick), "paper_table": self.paper_table,
            "preset": self.preset,
        }

    def replace(self, **changes: Any) -> "SweepSpec":
        return dataclasses.replace(self, **changes)

    # --- configs ---------------------------------------------------------------------------------
    def trial_config(self, trial_overrides: Mapping[str, Any], *, seed: int = 0,
                     extra: Mapping[str, Any] | None = None) -> ExperimentConfig:
        """The full experiment config of one trial and seed (``derived`` keys applied last).

        The one place a sweep builds a config: the settings of ``preset`` for ``space``
        (:meth:`ExperimentConfig.for_space`), then ``fixed``, the runtime ``extra``, the trial's own values.
        """
        values = {"dataset": self.dataset, "method": self.method, **self.fixed, **(extra or {}),
                  **trial_overrides, "seed": seed}
        for key, (src, offset) in self.derived.items():
            if key not in trial_overrides:
                src_val = values.get(src, getattr(ExperimentConfig, src))
                values[key] = type(src_val)(src_val + offset)
        return ExperimentConfig.for_space(self.space, self.preset, **values)

    def resolved(self, *, quick: bool = False, overrides: Mapping[str, Any] | None = None,
                 space: str | None = None, dataset: str | None = None, mode: str = "grid",
                 preset: str | None = None, budget: int | None = None) -> "SweepSpec":
        """The spec a run uses: ``--space`` / ``--dataset`` / ``--preset``, then ``--budget``, ``--quick``, ``--set``.

        ``budget`` (total queries) applies the settings of the one budget table
        (:data:`nar_core.budget.BUDGETS`) to every trial; a grid row that varies one of
        them (top-k in NARQ2T Table XI) keeps its own value.

        The spec as written is validated first (a spec with ``epochs: -3`` is refused even with
        ``--quick``, which would replace it), then the result. ``--set`` may not name a key the grid or
        the search space varies (it would silently override every row).
        """
        spec = self.replace(**{k: v for k, v in (("space", space), ("dataset", dataset), ("preset", preset))
                               if v is not None})
        spec.validate(mode)
        overrides = dict(overrides or {})
        _check_keys(overrides, "--set")
        varied = sorted(set(overrides) & (set(spec.search_space) if mode == "optuna"
                                          else {k for row in spec.grid for k in row}))
        if varied:
            raise ConfigError(f"--set {varied[0]}: the {mode} of this spec varies it; change the spec instead")
        if "space" in overrides or "dataset" in overrides:
            raise ConfigError("--set: use --space / --dataset for the space and dataset")
        budget_fixed: dict[str, Any] = {}
        if budget is not None:
            budget_fixed = budget_settings(budget)
        fixed = {**spec.fixed, **budget_fixed, **(QUICK_SETTINGS if quick else {}), **(spec.quick if quick else {}),
                 **overrides}
        out = spec.replace(fixed=fixed, quick={})
        out.validate(mode)
        return out

    def grid_rows(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self.grid]

    # --- validation ----------------------------------------------------------------------------------
    def validate(self, mode: str = "grid") -> None:
        """Refuse a bad spec before anything starts: :class:`ConfigError` naming the field."""
        if mode not in MODES:
            raise ConfigError(f"mode: must be one of {', '.join(MODES)} (got {mode!r})")
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", self.name):
            raise ConfigError(f"spec.name: must be letters, digits, '_', '-', '.' (got {self.name!r})")
        _check_keys(self.fixed, "spec.fixed")
        _check_keys(self.quick, "spec.quick")
        if "space" in self.fixed:
            raise ConfigError("spec.fixed.space: set the space with spec.space")
        if not isinstance(self.seeds, (list, tuple)) or not self.seeds:
            raise ConfigError(f"spec.seeds: need at least one seed (got {self.seeds!r})")
        for s in self.seeds:
            if not isinstance(s, int) or isinstance(s, bool) or s < 0:
                raise ConfigError(f"spec.seeds: seeds must be integers >= 0 (got {s!r})")
        if len(set(self.seeds)) != len(self.seeds):
            raise ConfigError(f"spec.seeds: duplicate seeds in {list(self.seeds)}")
        if self.metric not in TRIAL_METRICS:
            raise ConfigError(f"spec.metric: unknown metric {self.metric!r}; expected one of {', '.join(TRIAL_METRICS)}")
        from ..config import PRESETS

        if self.preset not in PRESETS:
            raise ConfigError(f"spec.preset: unknown preset {self.preset!r}; expected one of {', '.join(PRESETS)}")
        if self.mode not in ("max", "min"):
            raise ConfigError(f"spec.mode: must be 'max' or 'min' (got {self.mode!r})")
        if not isinstance(self.num_samples, int) or self.num_samples < 1:
            raise ConfigError(f"spec.num_samples: must be an integer >= 1 (got {self.num_samples!r})")
        for key, (src, _off) in self.derived.items():
            _check_keys({key: None, src: None}, f"spec.derived.{key}")
        # The base config alone must be valid (catches a bad space/dataset/method/fixed value).
        self._check_config({}, "spec.fixed")
        if mode == "grid":
            if not self.grid:
                raise ConfigError("spec.grid: empty; grid mode needs at least one row")
            for i, row in enumerate(self.grid):
                where = f"spec.grid[{i}]"
                if not isinstance(row, Mapping):
                    raise ConfigError(f"{where}: expected a mapping of config keys, got {row!r}")
                _check_keys(row, where)
                if "space" in row:
                    raise ConfigError(f"{where}.space: a sweep covers one space (set spec.space)")
                self._check_config(row, where)
            keys = [tuple(sorted(r.items(), key=lambda kv: kv[0])) for r in self.grid]
            dup = [self.grid[i] for i, k in enumerate(keys) if keys.index(k) != i]
            if dup:
                raise ConfigError(f"spec.grid: duplicate row {dict(dup[0])}")
        else:
            if not self.search_space:
                raise ConfigError("spec.search_space: empty; optuna mode needs at least one swept range")
            _check_keys(self.search_space, "spec.search_space")
            for key, p in self.search_space.items():
                where = f"spec.search_space.{key}"
                if not isinstance(p, Param):
                    raise ConfigError(f"{where}: expected a Param, got {p!r}")
                p.validate(where)
                for v in p.corners():
                    self._check_config({key: v}, where)

    def _check_config(self, overrides: Mapping[str, Any], where: str) -> None:
        try:
            self.trial_config(overrides, seed=self.seeds[0] if self.seeds else 0)
        except NarError as exc:  # for_space reports an unknown dataset as a plain NarError
            raise ConfigError(f"{where}: {exc}") from None


# --- helpers ------------------------------------------------------------------------------------------
def grid_product(**axes: Iterable[Any]) -> list[dict[str, Any]]:
    """Rows of the cartesian product of named axes, in the order given (the last axis varies fastest)."""
    names = list(axes)
    return [dict(zip(names, combo)) for combo in itertools.product(*(list(v) for v in axes.values()))]


def load_spec(path: str | Path) -> SweepSpec:
    """Read a spec from YAML (or JSON); ConfigError naming the file on a bad one."""
    import yaml

    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{p}: spec file not found") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML: {exc}") from None
    try:
        return SweepSpec.from_dict(data)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{p}: {exc}") from None


def _check_keys(mapping: Mapping[str, Any], where: str) -> None:
    if not isinstance(mapping, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {mapping!r}")
    import difflib

    sep = " " if where.startswith("--") else "."  # "--set epochz: ..." vs "spec.fixed.epochz: ..."
    for k in mapping:
        if k in _RESERVED:
            raise ConfigError(f"{where}{sep}{k}: set by the harness (use spec.seeds / --seeds and --data)")
        if k not in _CONFIG_FIELDS:
            close = difflib.get_close_matches(str(k), _CONFIG_FIELDS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{where}{sep}{k}: unknown parameter{hint}")


def _derived_pair(value: Any, where: str) -> tuple[str, float]:
    if (not isinstance(value, (list, tuple)) or len(value) != 2 or not isinstance(value[0], str)
            or not isinstance(value[1], (int, float))):
        raise ConfigError(f"{where}: expected [source_key, offset], got {value!r}")
    return (value[0], value[1])


def trial_key(mode: str, index: int) -> str:
    """The stable id of a trial: ``grid-0003`` (grid row 3) or ``optuna-0007`` (Optuna trial 7)."""
    return f"{mode}-{index:04d}"
