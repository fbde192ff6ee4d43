"""Run a sweep spec with Ray Tune: locally or on a cluster, resumable, never losing a result.

:func:`run_sweep` validates the spec (nothing starts on a bad one), connects to Ray (``--local``
starts it here; otherwise it joins a running cluster, ``address="auto"`` under ``ray submit``),
loads the benchmark once into the object store, and runs one Tune trial per configuration:
grid mode = the papers' rows, optuna mode = :class:`ray.tune.search.optuna.OptunaSearch` with a
seeded ``TPESampler``. Every seed's record is saved by the driver as it arrives; the tidy table
``<storage>/<name>/results.{csv,parquet}`` is written at the end (also after an interruption,
with ``pending`` rows), and ``resume=True`` continues a killed sweep from Ray Tune's state.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..errors import ConfigError, NarError
from ..io import atomic_write_text
from .results import RECORDS_DIR, SeedRecordCallback, build_table, prior_records, tune_trials, write_table
from .spec import SweepSpec

log = logging.getLogger(__name__)

STATE_FILE = "sweep.json"
# Fields of the saved sweep state that define *which* experiments run: a resume must not change them.
_IDENTITY = ("spec", "mode", "seeds", "quick", "num_samples", "optuna_seed", "early_stop")


@dataclass
class SweepOptions:
    """How to run a spec (the common command line of ``sweeps/*.py``)."""

    mode: str = "grid"                  # "grid": the papers' rows; "optuna": TPE search over the ranges
    local: bool = False                 # start Ray on this machine instead of joining a cluster
    address: str | None = None          # Ray address; None -> "auto" (what `ray submit` provides)
    num_cpus: int | None = None         # --local only: CPUs Ray may use (default: all)
    num_samples: int | None = None      # optuna: trials; grid: run only the first N rows
    seeds: tuple[int, ...] | None = None
    max_concurrent: int | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    storage: str = "runs/sweeps"
    name: str | None = None
    resume: bool = False
    dry_run: bool = False
    quick: bool = False
    data: str | None = None
    max_failures: int = 2
    optuna_seed: int = 0
    early_stop: bool = False            # ASHA over seeds: stop poor configurations after a few seeds
    verbose: int = 1


@dataclass
class SweepOutcome:
    """What a finished (or interrupted) sweep left behind."""

    experiment_dir: Path
    table: pd.DataFrame
    results_csv: Path | None = None
    results_parquet: Path | None = None
    complete: bool = False
    plan: list[dict[str, Any]] = field(default_factory=list)
    optuna_completed: int | None = None  # COMPLETE trials in the (restored) Optuna study
    ray_init_seconds: float = 0.0


# --- planning ------------------------------------------------------------------------------------------
def prepare(spec: SweepSpec, options: SweepOptions) -> tuple[SweepSpec, dict[str, Any]]:
    """Validate spec + options; return the spec with the chosen seeds and the sweep state to save."""
    if options.seeds is not None:
        spec = spec.replace(seeds=tuple(options.seeds))
    spec.validate(options.mode, quick=options.quick)
    if options.num_samples is not None and options.num_samples < 1:
        raise ConfigError(f"num_samples: must be >= 1 (got {options.num_samples})")
    if options.max_concurrent is not None and options.max_concurrent < 1:
        raise ConfigError(f"max_concurrent: must be >= 1 (got {options.max_concurrent})")
    if not options.cpus_per_trial > 0:
        raise ConfigError(f"cpus_per_trial: must be > 0 (got {options.cpus_per_trial})")
    if options.gpus_per_trial < 0 or (options.gpus_per_trial > 1 and not float(options.gpus_per_trial).is_integer()):
        raise ConfigError(f"gpus_per_trial: must be a fraction in [0, 1] or a whole number (got {options.gpus_per_trial})")
    if options.max_failures < 0:
        raise ConfigError(f"max_failures: must be >= 0 (got {options.max_failures})")
    if options.early_stop and options.mode != "optuna":
        raise ConfigError("early_stop: only in optuna mode (the grid reproduces a table: every row runs every seed)")
    num_samples = options.num_samples or (spec.num_samples if options.mode == "optuna" else len(spec.grid))
    state = {
        "spec": spec.to_dict(), "mode": options.mode, "seeds": list(spec.seeds), "quick": options.quick,
        "num_samples": num_samples, "optuna_seed": options.optuna_seed, "early_stop": options.early_stop,
    }
    return spec, state


def plan_trials(spec: SweepSpec, state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The trials a sweep would run (grid rows; for optuna the ranges, sampled adaptively)."""
    if state["mode"] == "grid":
        return [{"params": r, "seeds": list(spec.seeds)} for r in spec.grid_rows()[: state["num_samples"]]]
    ranges = {k: p.to_dict() for k, p in spec.search_space.items()}
    return [{"params": f"<sampled by Optuna TPE from {ranges}>", "seeds": list(spec.seeds)}
            for _ in range(state["num_samples"])]


def experiment_name(spec: SweepSpec, options: SweepOptions) -> str:
    return options.name or (spec.name if options.mode == "grid" else f"{spec.name}_optuna")


# --- Ray -------------------------------------------------------------------------------------------------
def connect_ray(options: SweepOptions) -> tuple[bool, float]:
    """Start or join Ray. Returns (started_here, seconds). NarError if no cluster is reachable."""
    import ray

    if ray.is_initialized():
        return False, 0.0
    t0 = time.perf_counter()
    # Trials import nar_core from the working tree; ship nothing else.
    if options.local:
        ray.init(num_cpus=options.num_cpus, include_dashboard=False, log_to_driver=options.verbose > 1,
                 configure_logging=options.verbose > 0)
        return True, time.perf_counter() - t0
    address = options.address or os.environ.get("RAY_ADDRESS") or "auto"
    hint = ("Start one (`ray start --head`, `ray up cluster/cluster.yaml`), pass --address HOST:PORT, "
            "or run on this machine with --local.")
    if ":" in address and not address.startswith(("ray://", "auto")):
        # ray.init retries an unreachable GCS for a long time: probe the port first.
        import socket

        host, _, port = address.rpartition(":")
        try:
            socket.create_connection((host, int(port)), timeout=5).close()
        except (OSError, ValueError) as exc:
            raise NarError(f"no Ray cluster reachable at address {address!r} ({exc}). {hint}") from None
    try:
        ray.init(address=address, log_to_driver=options.verbose > 1)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise NarError(f"no Ray cluster reachable at address {address!r} ({exc}). {hint}") from None
    return True, time.perf_counter() - t0


def _load_benchmark(space: str, data: str | None) -> Any:
    from ..benchmarks import load_benchmark

    return load_benchmark(space, data)  # None: NAR_DATA, ../shared/data, else the embedded table


# --- the sweep ---------------------------------------------------------------------------------------------
def run_sweep(spec: SweepSpec, options: SweepOptions, *, benchmark: Any = None) -> SweepOutcome:
    """Run (or resume, or plan) a sweep; returns the outcome with the results table.

    ``benchmark``: an already loaded :class:`~nar_core.benchmarks.base.Benchmark` (else it is
    loaded from ``options.data`` / ``NAR_DATA``). Raises :class:`ConfigError` on a bad spec or a
    resume that would change the sweep, before Ray starts.
    """
    spec, state = prepare(spec, options)
    exp_dir = Path(options.storage).expanduser().resolve() / experiment_name(spec, options)
    plan = plan_trials(spec, state)
    if options.dry_run:
        return SweepOutcome(exp_dir, pd.DataFrame(), plan=plan)

    state_path = exp_dir / STATE_FILE
    if state_path.exists():
        saved = json.loads(state_path.read_text())
        if not options.resume:
            raise ConfigError(
                f"{exp_dir}: a sweep named {exp_dir.name!r} already exists there; pass --resume to continue "
                f"it or choose another --name"
            )
        changed = [k for k in _IDENTITY if json.dumps(saved.get(k), sort_keys=True) != json.dumps(state.get(k), sort_keys=True)]
        if changed:
            raise ConfigError(f"{state_path}: --resume with different settings: {', '.join(changed)} differ "
                              f"from the interrupted sweep; resume with the same spec and options")
    import ray

    started, init_s = connect_ray(options)  # before writing anything: no cluster, no sweep folder
    try:
        exp_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(state_path, json.dumps(state, indent=1, sort_keys=True))
        gpus = options.gpus_per_trial
        if gpus > 0 and not ray.cluster_resources().get("GPU", 0):
            log.warning("gpus_per_trial=%s but the Ray cluster has no GPU: running the sweep on CPUs", gpus)
            gpus = 0.0
        extra = {"device": "cuda" if gpus > 0 else "cpu", "num_threads": max(1, int(options.cpus_per_trial)),
                 "data_dir": options.data}
        if benchmark is None:
            benchmark = _load_benchmark(spec.space, options.data)
        sweep_payload = {"spec": state["spec"], "seeds": state["seeds"], "quick": options.quick, "extra": extra,
                         "prior": prior_records(exp_dir) if options.resume else {}}
        # Snapshot Tune's experiment state at least every second: a SIGKILL loses less.
        os.environ.setdefault("TUNE_GLOBAL_CHECKPOINT_S", "1")
        from .trainable import make_trainable

        trainable = make_trainable(benchmark, sweep_payload, cpus_per_trial=options.cpus_per_trial, gpus_per_trial=gpus)
        tuner = _make_or_restore_tuner(spec, options, state, exp_dir, trainable)
        tuner.fit()
        optuna_completed = _check_searcher(tuner, options.mode, exp_dir, len(spec.seeds))
    finally:
        if started:
            ray.shutdown()

    known = tune_trials(exp_dir)
    table = build_table(exp_dir, spec, seeds=list(spec.seeds), quick=options.quick, extra=extra,
                        trial_params=known, only_trials=bool(known))
    csv_path = pq_path = None
    if not table.empty:
        csv_path, pq_path = write_table(table, exp_dir)
    expected = (state["num_samples"]) * len(spec.seeds)
    complete = (not table.empty and len(table) >= expected and not (table["status"] == "pending").any())
    return SweepOutcome(exp_dir, table, csv_path, pq_path, complete=complete, plan=plan,
                        optuna_completed=optuna_completed, ray_init_seconds=init_s)


def _make_or_restore_tuner(spec: SweepSpec, options: SweepOptions, state: Mapping[str, Any], exp_dir: Path,
                           trainable: Any) -> Any:
    from ray import tune

    if options.resume and tune.Tuner.can_restore(str(exp_dir)):
        log.info("resuming sweep from %s", exp_dir)
        # Finished trials are kept, unfinished ones continue from their last finished seed,
        # trials that failed for good stay failed (their error is in the table).
        return tune.Tuner.restore(str(exp_dir), trainable=trainable, resume_unfinished=True, resume_errored=False)
    if options.resume:
        log.info("nothing to resume in %s: starting the sweep", exp_dir)

    search_alg = scheduler = None
    if options.mode == "grid":
        rows = spec.grid_rows()[: state["num_samples"]]
        param_space: dict[str, Any] = {"params": tune.grid_search(rows)}
        num_samples = 1
    else:
        import optuna
        from ray.tune.search.optuna import OptunaSearch

        param_space = {"params": {k: p.to_tune() for k, p in spec.search_space.items()}}
        search_alg = OptunaSearch(sampler=optuna.samplers.TPESampler(seed=options.optuna_seed),
                                  metric=spec.metric, mode=spec.mode)
        num_samples = state["num_samples"]
        if options.early_stop:
            from ray.tune.schedulers import ASHAScheduler

            scheduler = ASHAScheduler(time_attr="seeds_done", metric=spec.metric, mode=spec.mode,
                                      max_t=len(spec.seeds), grace_period=min(2, len(spec.seeds)), reduction_factor=2)
    tune_config = tune.TuneConfig(
        search_alg=search_alg, scheduler=scheduler, num_samples=num_samples,
        max_concurrent_trials=options.max_concurrent,
        reuse_actors=True,  # safe: the trainable keeps all state on the instance and resets it
    )
    run_config = tune.RunConfig(
        name=exp_dir.name, storage_path=str(exp_dir.parent),
        failure_config=tune.FailureConfig(max_failures=options.max_failures),
        checkpoint_config=tune.CheckpointConfig(checkpoint_frequency=1, num_to_keep=None),
        callbacks=[SeedRecordCallback(exp_dir)],
        verbose=min(options.verbose, 1),
    )
    return tune.Tuner(trainable, param_space=param_space, tune_config=tune_config, run_config=run_config)


def _check_searcher(tuner: Any, mode: str, exp_dir: Path, n_seeds: int) -> int | None:
    """Optuna mode: the searcher that ran is an OptunaSearch whose study saw every finished trial.

    Ray has had releases where a restore silently fell back to a fresh searcher; then the study
    would miss the trials finished before the interruption, and this raises.
    """
    if mode != "optuna":
        return None
    from ray.tune.search.optuna import OptunaSearch

    internal = getattr(tuner, "_local_tuner", None)
    searcher = getattr(getattr(internal, "_tune_config", None), "search_alg", None)
    while searcher is not None and not isinstance(searcher, OptunaSearch) and hasattr(searcher, "searcher"):
        searcher = searcher.searcher
    if not isinstance(searcher, OptunaSearch):
        raise NarError(f"{exp_dir}: the sweep ran with searcher {type(searcher).__name__}, not OptunaSearch "
                       f"(a restore fell back to another searcher)")
    import optuna

    study = searcher._ot_study
    completed = sum(1 for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE)
    n_ok = 0  # trials in Tune's state that finished every seed
    records = exp_dir / RECORDS_DIR
    for tid in tune_trials(exp_dir):
        p = records / f"{tid}.json"
        if p.exists() and len(json.loads(p.read_text())) >= n_seeds:
            n_ok += 1
    if completed < n_ok:
        raise NarError(f"{exp_dir}: the Optuna study holds {completed} completed trials but {n_ok} trials "
                       f"finished: its state was not restored")
    try:
        df = study.trials_dataframe()
        from ..io import atomic_path

        with atomic_path(exp_dir / "optuna_trials.csv", suffix=".csv") as tmp:
            df.to_csv(tmp, index=False)
    except Exception as exc:  # the table is a convenience; the check above is what matters
        log.debug("could not write optuna_trials.csv: %s", exc)
    return completed
