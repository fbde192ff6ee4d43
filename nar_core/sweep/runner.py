"""Run a sweep spec with Ray Tune: locally or on a cluster, resumable, never losing a result.

:func:`run_sweep` resolves and validates the spec (nothing starts on a bad one), takes the
experiment's lock, loads the benchmark, connects to Ray (``--local`` starts it here; otherwise it
joins a running cluster, ``address="auto"`` under ``ray submit``) and runs one Tune trial per
configuration: grid mode = the papers' rows, optuna mode = a seeded TPE study in a journal file
(:mod:`.searcher`). Trials send their seed results through Ray; the driver alone writes them
(:mod:`.ledger`), so trials need no filesystem shared with the driver. ``resume=True`` reads the
ledger and the study and runs what is left: finished trials are not run again, unfinished ones
skip their recorded seeds. The tidy table ``<storage>/<name>/results.{csv,parquet}`` is written
at the end, also after an interruption (with ``pending`` rows).
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..config import SETTINGS_VERSION
from ..errors import ConfigError, NarError
from ..io import atomic_write_text, check_output_dir
from .spec import SweepSpec
from .store import ExperimentFolder

if TYPE_CHECKING:  # pandas and Ray are imported once the input is checked (a bad option: an error at once)
    import pandas as pd

log = logging.getLogger(__name__)

STATE_FILE = "sweep.json"
# Fields of the saved sweep state that define *which* experiments run: a resume must not change them.
# what a --resume must share with the interrupted sweep; settings_version: a sweep begun under
# older defaults (nar_core.config.SETTINGS_VERSION) is never continued with today's
_IDENTITY = ("spec", "mode", "seeds", "num_samples", "optuna_seed", "early_stop", "settings_version")


@dataclass
class SweepOptions:
    """How to run a spec (the common command line of ``sweeps/*.py``)."""

    mode: str = "grid"                  # "grid": the papers' rows; "optuna": TPE search over the ranges
    local: bool = False                 # start Ray on this machine instead of joining a cluster
    address: str | None = None          # Ray address; None -> "auto" (what `ray submit` provides)
    num_cpus: int | None = None         # --local only: CPUs Ray may use (default: all)
    num_samples: int | None = None      # optuna: trials; grid: run only the first N rows
    seeds: tuple[int, ...] | None = None
    space: str | None = None            # --space / --dataset: run the spec on another benchmark
    dataset: str | None = None
    preset: str | None = None           # --preset: a name in config.PRESETS (default: the spec's, "default")
    budget: int | None = None           # --budget: total queries, a row of nar_core.budget.BUDGETS
    overrides: Mapping[str, Any] = field(default_factory=dict)  # --set KEY=VALUE, on top of --quick
    max_concurrent: int | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    pack: int = 1                       # a trial's seeds trained this many at a time as one model
    wait_for_gpus: bool = True          # False: no GPU in the cluster now -> fail instead of waiting
    storage: str = "runs/sweeps"        # local path on the driver, or a pyarrow URI (s3://, gs://, file://)
    name: str | None = None
    resume: bool = False
    dry_run: bool = False
    quick: bool = False
    data: str | None = None
    max_failures: int = 2
    optuna_seed: int = 0
    early_stop: bool = False            # ASHA over seeds: stop poor configurations after a few seeds
    # 0: nothing while it runs; 1: a header line and one line per finished trial (.console);
    # 2: Ray's own reporting too (trial tables, every result); 3: also the trials' own logs
    verbose: int = 1


@dataclass
class SweepOutcome:
    """What a finished (or interrupted) sweep left behind."""

    experiment_dir: str                 # where the results are: a local path or the storage URI
    table: pd.DataFrame
    results_csv: Path | None = None     # local paths (the local copy, for a URI storage)
    results_parquet: Path | None = None
    complete: bool = False              # every trial ended (ok, failed or stopped): nothing to resume
    failed: int = 0                     # trials that failed for good
    plan: list[dict[str, Any]] = field(default_factory=list)
    optuna_completed: int | None = None  # COMPLETE trials in the Optuna study
    local_dir: Path | None = None
    ray_init_seconds: float = 0.0


# --- planning ------------------------------------------------------------------------------------------
def prepare(spec: SweepSpec, options: SweepOptions) -> tuple[SweepSpec, dict[str, Any]]:
    """Resolve and validate spec + options; return the spec a run uses and the sweep state to save."""
    if options.seeds is not None:
        spec = spec.replace(seeds=tuple(options.seeds))
    spec = spec.resolved(quick=options.quick, overrides=options.overrides, space=options.space,
                         dataset=options.dataset, mode=options.mode, preset=options.preset, budget=options.budget)
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
    if options.pack < 1:
        raise ConfigError(f"pack: must be >= 1 (got {options.pack})")
    if options.early_stop and options.mode != "optuna":
        raise ConfigError("early_stop: only in optuna mode (the grid reproduces a table: every row runs every seed)")
    num_samples = options.num_samples or (spec.num_samples if options.mode == "optuna" else len(spec.grid))
    state = {
        "spec": spec.to_dict(), "mode": options.mode, "seeds": list(spec.seeds),
        "num_samples": min(num_samples, len(spec.grid)) if options.mode == "grid" else num_samples,
        "optuna_seed": options.optuna_seed, "early_stop": options.early_stop,
        "settings_version": SETTINGS_VERSION,
    }
    return spec, state


def grid_trials(spec: SweepSpec, state: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Grid mode: trial id -> row, for the rows this sweep runs."""
    from .spec import trial_key  # not from .searcher: that imports Optuna and Ray

    return {trial_key("grid", i): row for i, row in enumerate(spec.grid_rows()[: state["num_samples"]])}


def plan_trials(spec: SweepSpec, state: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The trials a sweep would run (grid rows; for optuna the ranges, sampled adaptively)."""
    if state["mode"] == "grid":
        return [{"params": r, "seeds": list(spec.seeds)} for r in grid_trials(spec, state).values()]
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
    # Ray's own log lines (connecting, dashboard address, token note) only with -v
    level = logging.INFO if options.verbose >= 2 else logging.ERROR
    if options.local:
        # address="local": a new Ray on this machine even when a cluster started here with `ray start` runs.
        ray.init(address="local", num_cpus=options.num_cpus, include_dashboard=False, log_to_driver=options.verbose > 2,
                 configure_logging=options.verbose > 0, logging_level=level)
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
        ray.init(address=address, log_to_driver=options.verbose > 2, logging_level=level)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise NarError(f"no Ray cluster reachable at address {address!r} ({exc}). {hint}") from None
    return True, time.perf_counter() - t0


def check_gpus(options: SweepOptions) -> None:
    """A GPU request runs on GPUs or not at all: wait for GPU nodes (autoscaling), or fail clearly."""
    import ray

    if options.gpus_per_trial <= 0 or ray.cluster_resources().get("GPU", 0) > 0:
        return
    if options.local or not options.wait_for_gpus:
        where = "this machine has no GPU Ray can use" if options.local else "the Ray cluster has no GPU now"
        raise NarError(f"gpus_per_trial={options.gpus_per_trial}: {where}; run with --gpus-per-trial 0 on CPUs"
                       + ("" if options.local else ", or let the sweep wait for GPU nodes (drop --no-wait-for-gpus)"))
    log.warning("gpus_per_trial=%s but the Ray cluster has no GPU yet: trials wait for GPU nodes "
                "(the autoscaler adds them; --no-wait-for-gpus fails instead)", options.gpus_per_trial)


def _load_benchmark(space: str, data: str | None) -> Any:
    from ..benchmarks import load_benchmark

    return load_benchmark(space, data)  # None: NAR_DATA, ../shared/data, else the embedded table


# --- the sweep ---------------------------------------------------------------------------------------------
def run_sweep(spec: SweepSpec, options: SweepOptions, *, benchmark: Any = None) -> SweepOutcome:
    """Run (or resume, or plan) a sweep; returns the outcome with the results table.

    ``benchmark``: an already loaded :class:`~nar_core.benchmarks.base.Benchmark` (else it is
    loaded from ``options.data`` / ``NAR_DATA``). Raises :class:`ConfigError` on a bad spec or a
    resume that would change the sweep, :class:`~nar_core.sweep.store.SweepBusy` when another
    driver runs it, before any trial starts.
    """
    spec, state = prepare(spec, options)
    folder = ExperimentFolder(options.storage, experiment_name(spec, options))
    plan = plan_trials(spec, state)
    if options.dry_run:
        import pandas as pd

        return SweepOutcome(folder.location, pd.DataFrame(), plan=plan)
    if not folder.is_remote:  # a file in the way, a read-only folder: said now, with what to do instead
        check_output_dir(options.storage, flag="--storage")
    with folder.lock():  # first: a second driver is told that one runs, whatever its options
        existed = folder.exists(STATE_FILE)
        if existed and not options.resume:
            raise ConfigError(f"{folder.location}: a sweep named {folder.name!r} already exists there; pass "
                              f"--resume to continue it or choose another --name")
        folder.pull()
        state_path = folder.local / STATE_FILE
        if existed:
            saved = json.loads(state_path.read_text())
            changed = [k for k in _IDENTITY if json.dumps(saved.get(k), sort_keys=True) != json.dumps(state.get(k), sort_keys=True)]
            if changed:
                raise ConfigError(f"{folder.location}/{STATE_FILE}: --resume with different settings: "
                                  f"{', '.join(changed)} differ from the interrupted sweep; resume with the same "
                                  f"spec and options")
        elif options.resume:
            log.info("nothing to resume in %s: starting the sweep", folder.location)
        if options.verbose >= 1:
            from .console import header_line

            print(header_line(spec, options, state, folder.location, resumed=existed), flush=True)
        try:
            if benchmark is None:
                benchmark = _load_benchmark(spec.space, options.data)
            # the data is part of what a sweep ran on: a resume on other data would mix results
            fp = benchmark.fingerprint()
            if existed and saved.get("data_fingerprint", fp) != fp:
                raise ConfigError(
                    f"{folder.location}/{STATE_FILE}: --resume on other data: the sweep ran on "
                    f"{saved.get('data_source', '?')} (fingerprint {saved['data_fingerprint']}), this run loaded "
                    f"{benchmark.source} (fingerprint {fp}); resume with the same --data / NAR_DATA, or start "
                    f"another --name")
            state = {**state, "data_fingerprint": fp, "data_source": str(benchmark.source)}
            return _run(spec, options, state, folder, benchmark, plan, existed)
        except BaseException:
            if not existed and not (folder.local / "records.jsonl").exists():
                folder.discard()  # a failed start leaves nothing that blocks the corrected command
            raise


def _run(spec: SweepSpec, options: SweepOptions, state: Mapping[str, Any], folder: ExperimentFolder,
         benchmark: Any, plan: list, existed: bool) -> SweepOutcome:
    import ray

    from .ledger import ConsoleCallback, Ledger, LedgerCallback, SeedBook, build_table, write_table
    from .searcher import StudySearcher, open_study
    from .trainable import make_trainable

    started, init_s = connect_ray(options)
    try:
        check_gpus(options)
        if not existed:
            atomic_write_text(folder.local / STATE_FILE, json.dumps(state, indent=1, sort_keys=True))
        ledger = Ledger(folder.local / "records.jsonl")
        n_seeds = len(spec.seeds)
        extra = {"device": "cuda" if options.gpus_per_trial > 0 else "cpu",
                 "num_threads": max(1, int(options.cpus_per_trial)), "data_dir": options.data}
        searcher = study = None
        if options.mode == "grid":
            trials = grid_trials(spec, state)
            todo = [{"key": k, "params": p} for k, p in trials.items() if not ledger.finished(k, n_seeds)]
            remaining = len(todo)
        else:
            study = open_study(folder.local, folder.name, spec.mode, options.optuna_seed)
            searcher = StudySearcher(study, spec.search_space, state["num_samples"], spec.metric, spec.mode)
            remaining = searcher.remaining()
        if remaining:
            # The driver's recorded seeds, served to trials; on the driver's node, which outlives workers.
            from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

            book = SeedBook.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
                ray.get_runtime_context().get_node_id(), soft=False)).remote(ledger.seeds)
            sweep_payload = {"spec": state["spec"], "seeds": state["seeds"], "extra": extra, "book": book,
                             "pack": options.pack}
            trainable = make_trainable(benchmark, sweep_payload, cpus_per_trial=options.cpus_per_trial,
                                       gpus_per_trial=options.gpus_per_trial)
            callbacks = [LedgerCallback(ledger, book, n_seeds, on_change=lambda: folder.push(force=False))]
            if options.verbose >= 1:
                ended = (len(trials) - remaining) if options.mode == "grid" else len(ledger.ends)
                callbacks.append(ConsoleCallback(ledger, state["num_samples"], options.max_failures, done=ended))
            tuner = _make_tuner(spec, options, folder, trainable, callbacks, searcher,
                                todo if options.mode == "grid" else None, remaining)
            with _quiet_tune(options.verbose < 2):
                tuner.fit()
    finally:
        if started:
            ray.shutdown()

    if options.mode == "optuna":
        import optuna

        trials = searcher.trials()
        optuna_completed = sum(t.state == optuna.trial.TrialState.COMPLETE for t in study.get_trials(deepcopy=False))
    else:
        optuna_completed = None
    table = build_table(ledger, spec, trials, list(spec.seeds), extra=extra)
    csv_path = pq_path = None
    if not table.empty:
        csv_path, pq_path = write_table(table, folder.local)
    folder.push(force=True)
    complete = (len(trials) >= state["num_samples"] and all(ledger.finished(k, n_seeds) for k in trials))
    failed = sum(ledger.ends.get(k, {}).get("status") == "failed" for k in trials)
    return SweepOutcome(folder.location, table, csv_path, pq_path, complete=complete, failed=failed, plan=plan,
                        optuna_completed=optuna_completed, local_dir=folder.local, ray_init_seconds=init_s)


class _quiet_tune:
    """Without -v, Tune's own log lines (a retried trial's traceback, result-file notes) stay out of the
    console: the sweep prints what happened to each trial itself (.console), errors included."""

    def __init__(self, active: bool):
        self.active, self.saved, self.env = active, None, None

    def __enter__(self):
        if self.active:
            logger = logging.getLogger("ray.tune")
            self.saved = logger.level
            logger.setLevel(logging.CRITICAL)
            # Tune's new output engine prints its experiment box and paths even at verbose=0; the legacy
            # reporter prints nothing at verbose=0
            self.env = os.environ.get("RAY_AIR_NEW_OUTPUT")
            os.environ["RAY_AIR_NEW_OUTPUT"] = "0"
        return self

    def __exit__(self, *exc):
        if self.active:
            logging.getLogger("ray.tune").setLevel(self.saved)
            if self.env is None:
                os.environ.pop("RAY_AIR_NEW_OUTPUT", None)
            else:
                os.environ["RAY_AIR_NEW_OUTPUT"] = self.env
        return False


def _make_tuner(spec: SweepSpec, options: SweepOptions, folder: ExperimentFolder, trainable: Any, callbacks: list,
                searcher: Any, todo: list | None, remaining: int) -> Any:
    from ray import tune

    scheduler = None
    if todo is not None:
        param_space: dict[str, Any] = {"trial": tune.grid_search(todo)}
        num_samples = 1
    else:
        param_space = {}
        num_samples = remaining
        if options.early_stop:
            from ray.tune.schedulers import ASHAScheduler

            scheduler = ASHAScheduler(time_attr="seeds_done", metric=spec.metric, mode=spec.mode,
                                      max_t=len(spec.seeds), grace_period=min(2, len(spec.seeds)), reduction_factor=2)
    tune_config = tune.TuneConfig(
        search_alg=searcher, scheduler=scheduler, num_samples=num_samples,
        max_concurrent_trials=options.max_concurrent,
        reuse_actors=True,  # safe: the trainable keeps all state on the instance and resets it
    )
    run_config = tune.RunConfig(
        # Tune's own bookkeeping, on the driver's disk; nothing of it is needed to resume.
        name="tune", storage_path=str(folder.local),
        failure_config=tune.FailureConfig(max_failures=options.max_failures),
        # No Tune checkpoints: a worker would write them to storage it may not see. Finished seeds
        # live in the driver's ledger; a restarted trial learns them from the SeedBook.
        checkpoint_config=tune.CheckpointConfig(checkpoint_frequency=0, checkpoint_at_end=False),
        callbacks=callbacks,
        verbose=min(max(options.verbose - 1, 0), 2),  # Ray's progress reporting: only with -v
    )
    return tune.Tuner(trainable, param_space=param_space, tune_config=tune_config, run_config=run_config)
