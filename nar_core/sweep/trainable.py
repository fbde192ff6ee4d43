"""The experiment pipeline as a Ray Tune trainable: one trial = one configuration, many seeds.

A trial runs its seeds one per ``step`` and reports, after each seed, that seed's full record
(``seed_record``) and the running aggregates over its finished seeds
(:data:`~nar_core.sweep.spec.TRIAL_METRICS`), so a scheduler can stop a poor configuration after
a few seeds. Results travel only through Ray: the trial writes no file and needs no filesystem
shared with the driver. A trial (re)started after a worker node died, or by a resumed driver,
asks the driver's :class:`~nar_core.sweep.ledger.SeedBook` which of its seeds are already
recorded and reports those again without running them.

The benchmark is put into Ray's object store once by the driver (``tune.with_parameters``); every
trial on a node maps the same read-only numpy columns, nothing is pickled into trial configs.
All state lives on the instance, so trials sharing an actor (``reuse_actors``) never see each other.
"""
from __future__ import annotations

import os
import socket
from typing import Any, Iterator, Mapping

import numpy as np
import ray
from ray import tune

from ..aggregate import seed_stats_dict

# Per-seed figures whose running mean a trial reports as ``mean_<name>`` (see TRIAL_METRICS).
MEAN_OF = ("rank_val", "rank_test", "regret_val", "regret_test", "kendall_tau", "tier_accuracy", "latency_rmse",
           "latency_within_5", "latency_within_10", "queries_total", "train_seconds", "search_seconds",
           "total_seconds")


class ExperimentTrainable(tune.Trainable):
    """Runs :func:`nar_core.experiment.run_experiment` for each seed of one configuration.

    Built by :func:`make_trainable`; Tune calls ``setup(config, benchmark=..., sweep=...)``.
    ``config["trial"]`` is ``{"key": <the trial's stable id>, "params": <its settings>}`` (a grid row or
    the values Optuna sampled); ``sweep`` holds the spec (plain data), the seeds, the runtime
    ``extra`` settings (device, threads, data_dir) and the driver's seed book.
    """

    def setup(self, config: dict, benchmark: Any = None, sweep: Mapping[str, Any] | None = None,
              space: Any = None) -> None:
        if space is not None:  # a plug-in registered in the driver only: make it known in this worker too
            from ..spaces import register_space

            register_space(space)
        self._benchmark = benchmark
        self._sweep = dict(sweep or {})
        self._configure(config)

    def _configure(self, config: Mapping[str, Any]) -> None:
        from .spec import SweepSpec

        spec = SweepSpec.from_dict(self._sweep["spec"])
        self._key = str(config["trial"]["key"])
        self._params = dict(config["trial"].get("params") or {})
        self._seeds = [int(s) for s in self._sweep["seeds"]]
        # Validates the whole config now: a bad sampled combination fails the trial (then retries/fails).
        self._base_config = spec.trial_config(self._params, seed=self._seeds[0], extra=self._sweep.get("extra"))
        self._records: list[dict[str, Any]] = []
        self._running: Iterator[Any] | None = None  # the packed seeds under way (run_experiments)
        book = self._sweep.get("book")
        self._recorded: dict[int, dict[str, Any]] = ray.get(book.recorded.remote(self._key)) if book else {}

    def reset_config(self, new_config: dict) -> bool:
        """Actor reuse: start the next trial from a clean slate (nothing carried over)."""
        self._configure(new_config)
        return True

    def step(self) -> dict[str, Any]:
        index = len(self._records)
        seed = self._seeds[index]
        record = self._recorded.get(seed)
        if record is not None:  # the driver already holds this seed: report it, do not run it again
            record = {**record, "adopted": True}
        else:
            record = self._run_seed(index, seed)
        self._records.append(record)
        metrics = trial_metrics(self._records)
        # the two protocols' accuracies, the seed count and the time first: Ray's progress table (-v) shows
        # the first four metrics, and these are never NaN (val_acc is, on a benchmark without validation split)
        out = {k: metrics.pop(k) for k in ("mean_test_acc", "mean_test_acc_valpick")}
        out["seeds_done"] = len(self._records)
        out["mean_total_seconds"] = metrics.pop("mean_total_seconds")
        out.update(metrics)
        out.update(seeds_total=len(self._seeds), seed=seed, seed_record=record,
                   done=len(self._records) >= len(self._seeds))
        return out

    def _run_seed(self, index: int, seed: int) -> dict[str, Any]:
        """The record of seed ``seed``. With ``pack`` > 1 the trial's seeds still to run train
        together, ``pack`` at a time (:func:`~nar_core.experiment.run_experiments`), and each step
        takes the next seed's result as its search ends: a seed is reported as soon as it is done."""
        import torch

        from ..experiment import run_experiments

        cfg = self._base_config.replace(seed=seed)
        if cfg.num_threads > 0:
            torch.set_num_threads(cfg.num_threads)  # = cpus_per_trial: trials must not oversubscribe a node
        if self._running is None:
            todo = [self._base_config.replace(seed=s) for s in self._seeds[index:] if s not in self._recorded]
            self._running = run_experiments(todo, self._benchmark, pack=int(self._sweep.get("pack", 1)))
        result = next(self._running)
        if result.seed != seed:
            raise RuntimeError(f"trial {self._key}: expected seed {seed}, the packed runs gave seed {result.seed}")
        record = {**cfg.to_dict(), **_plain(result.to_dict())}
        record.update(trial_id=self._key, tune_trial_id=self.trial_id, seed_index=index, params=dict(self._params),
                      node_id=_node_id(), hostname=socket.gethostname(), node_ip=_node_ip(), pid=os.getpid(),
                      adopted=False)
        return record


def make_trainable(benchmark: Any, sweep: Mapping[str, Any], *, cpus_per_trial: float,
                   gpus_per_trial: float) -> Any:
    """The trainable Tune runs: benchmark (and its search space plug-in) via the object store,
    resources declared per trial."""
    from ..spaces import get_space

    space = get_space(benchmark.space) if benchmark is not None else None
    trainable = tune.with_parameters(ExperimentTrainable, benchmark=benchmark, sweep=dict(sweep), space=space)
    resources: dict[str, float] = {"cpu": cpus_per_trial}
    if gpus_per_trial > 0:
        resources["gpu"] = gpus_per_trial  # fractional: 0.25 lets four trials share one GPU
    return tune.with_resources(trainable, resources)


def trial_metrics(records: list[Mapping[str, Any]]) -> dict[str, float]:
    """Running aggregates over a trial's finished seeds (:mod:`nar_core.aggregate`; NaN where unknown)."""
    stats = seed_stats_dict(records, ("val_acc", "test_acc", "test_acc_valpick", "peak_memory_mb") + MEAN_OF)
    out: dict[str, float] = {}
    # test_acc: the returned cell (test-pick, the papers' protocol); test_acc_valpick: the searched cell
    # with the best validation accuracy (val-pick). val_acc is NaN on a benchmark without a validation split.
    for name in ("test_acc", "test_acc_valpick", "val_acc"):
        out.update({f"mean_{name}": stats[name]["mean"], f"std_{name}": stats[name]["std"],
                    f"best_{name}": stats[name]["best"]})
    out["max_peak_memory_mb"] = stats["peak_memory_mb"]["best"]
    out.update({f"mean_{name}": stats[name]["mean"] for name in MEAN_OF})
    return out


def _plain(d: Mapping[str, Any]) -> dict[str, Any]:
    """numpy scalars/arrays -> Python numbers/lists, so records are JSON and pickle clean."""
    return {k: _plain_value(v) for k, v in d.items()}


def _plain_value(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, (list, tuple)):
        return [_plain_value(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _plain_value(x) for k, x in v.items()}
    return v


def json_default(v: Any) -> Any:
    if isinstance(v, (np.generic, np.ndarray)):
        return _plain_value(v)
    return str(v)


def _node_id() -> str:
    try:
        return ray.get_runtime_context().get_node_id()
    except Exception:  # outside Ray (direct use of the class)
        return ""


def _node_ip() -> str:
    try:
        return ray.util.get_node_ip_address()
    except Exception:
        return ""
