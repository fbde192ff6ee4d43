"""The experiment pipeline as a Ray Tune trainable: one trial = one configuration, many seeds.

A trial runs its seeds one per ``step`` and reports, after each seed, the running aggregates
(mean / std / best validation and test accuracy, cost figures: :data:`~nar_core.sweep.spec.TRIAL_METRICS`)
and that seed's full record (``seed_record``), so a scheduler can stop a poor configuration after
a few seeds. Finished seeds live in the trial's checkpoint, so a restarted trial does not redo
them, and in ``seed_records.json`` in the trial directory (written atomically).

The benchmark is put into Ray's object store once by the driver (``tune.with_parameters``); every
trial on a node maps the same read-only numpy columns, nothing is pickled into trial configs.
All state lives on the instance, so trials sharing an actor (``reuse_actors``) never see each other.
"""
from __future__ import annotations

import json
import math
import os
import socket
from pathlib import Path
from typing import Any, Mapping

import numpy as np
from ray import tune

from ..io import atomic_write_text

RECORDS_FILE = "seed_records.json"


class ExperimentTrainable(tune.Trainable):
    """Runs :func:`nar_core.experiment.run_experiment` for each seed of one configuration.

    Built by :func:`make_trainable`; Tune calls ``setup(config, benchmark=..., sweep=...)``.
    ``config["params"]`` holds the trial's own settings (a grid row or the values Optuna
    sampled); ``sweep`` holds the spec (plain data), ``quick``, the runtime ``extra`` settings
    (device, threads, data_dir) and the seeds.
    """

    def setup(self, config: dict, benchmark: Any = None, sweep: Mapping[str, Any] | None = None,
              space: Any = None) -> None:
        if space is not None:  # a plug-in registered in the driver only: make it known in this worker too
            from ..spaces import register_space

            register_space(space)
        self._benchmark = benchmark
        self._sweep = dict(sweep or {})
        self._records: list[dict[str, Any]] = []
        self._configure(config)

    def _configure(self, config: Mapping[str, Any]) -> None:
        from .spec import SweepSpec

        spec = SweepSpec.from_dict(self._sweep["spec"])
        self._params = dict(config.get("params") or {})
        self._seeds = [int(s) for s in self._sweep["seeds"]]
        # Validates the whole config now: a bad sampled combination fails the trial (then retries/fails).
        self._base_config = spec.trial_config(self._params, quick=bool(self._sweep.get("quick")),
                                              seed=self._seeds[0], extra=self._sweep.get("extra"))
        self._records = []
        # Seeds of this exact configuration that an earlier driver already recorded (a trial whose
        # Tune state was lost to a SIGKILL is re-created with the same settings): adopt, never redo.
        self._prior = dict((self._sweep.get("prior") or {}).get(params_key(self._params), {}))

    def reset_config(self, new_config: dict) -> bool:
        """Actor reuse: start the next trial from a clean slate (nothing carried over)."""
        self._configure(new_config)
        return True

    def step(self) -> dict[str, Any]:
        import torch

        from ..experiment import run_experiment

        index = len(self._records)
        if index >= len(self._seeds):
            # Restored from a checkpoint holding every seed (the driver died before it saw the
            # trial end): report the aggregates again, run nothing.
            out = aggregate(self._records)
            out.update(seeds_done=len(self._records), seeds_total=len(self._seeds), done=True)
            return out
        seed = self._seeds[index]
        cfg = self._base_config.replace(seed=seed)
        prior = self._prior.get(str(seed))
        if prior is not None:
            record = dict(prior)
            record.update(adopted_from=prior.get("trial_id", ""), trial_id=self.trial_id, seed_index=index)
        else:
            if cfg.num_threads > 0:
                torch.set_num_threads(cfg.num_threads)  # = cpus_per_trial: trials must not oversubscribe a node
            result = run_experiment(cfg, self._benchmark)
            record = {**cfg.to_dict(), **_plain(result.to_dict())}
            record.update(
                trial_id=self.trial_id, seed_index=index, params=dict(self._params), adopted_from="",
                node_id=_node_id(), hostname=socket.gethostname(), node_ip=_node_ip(), pid=os.getpid(),
            )
        self._records.append(record)
        self._write_records()
        out = aggregate(self._records)
        out.update(seeds_done=len(self._records), seeds_total=len(self._seeds), seed=seed,
                   seed_record=record, done=len(self._records) >= len(self._seeds))
        return out

    def _write_records(self) -> None:
        try:
            atomic_write_text(Path(self.logdir) / RECORDS_FILE, json.dumps(self._records, default=_json_default))
        except (OSError, TypeError):  # the driver's callback keeps the authoritative copy
            pass

    # --- per-seed resumability ---------------------------------------------------------------
    def save_checkpoint(self, checkpoint_dir: str) -> None:
        atomic_write_text(Path(checkpoint_dir) / RECORDS_FILE, json.dumps(self._records, default=_json_default))

    def load_checkpoint(self, checkpoint: Any) -> None:
        path = Path(checkpoint if isinstance(checkpoint, (str, os.PathLike)) else checkpoint.path) / RECORDS_FILE
        records = json.loads(path.read_text())
        # Only seeds this trial still owns (and in order): a stale checkpoint cannot smuggle in others.
        kept: list[dict[str, Any]] = []
        for i, rec in enumerate(records):
            if i < len(self._seeds) and int(rec["seed"]) == self._seeds[i]:
                kept.append(rec)
        self._records = kept


def params_key(params: Mapping[str, Any]) -> str:
    """Canonical text of a trial's settings (identical settings -> identical key)."""
    return json.dumps(_plain(dict(params)), sort_keys=True, default=_json_default)


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


# --- aggregates ------------------------------------------------------------------------------------
def aggregate(records: list[Mapping[str, Any]]) -> dict[str, float]:
    """Running aggregates over finished seeds (NaN-aware; NaN where no seed has the figure)."""

    def col(name: str) -> np.ndarray:
        return np.array([_num(r.get(name)) for r in records], dtype=float)

    def stat(fn, name: str) -> float:
        v = col(name)
        v = v[~np.isnan(v)]
        return float(fn(v)) if v.size else float("nan")

    out = {
        "mean_val_acc": stat(np.mean, "val_acc"), "mean_test_acc": stat(np.mean, "test_acc"),
        "std_val_acc": stat(np.std, "val_acc"), "std_test_acc": stat(np.std, "test_acc"),
        "best_val_acc": stat(np.max, "val_acc"), "best_test_acc": stat(np.max, "test_acc"),
        "max_peak_memory_mb": stat(np.max, "peak_memory_mb"),
    }
    for name in ("rank_val", "rank_test", "regret_val", "regret_test", "kendall_tau", "tier_accuracy",
                 "latency_rmse", "latency_within_5", "latency_within_10", "queries_total", "train_seconds",
                 "search_seconds", "total_seconds"):
        out[f"mean_{name}"] = stat(np.mean, name)
    return out


def _num(v: Any) -> float:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return math.nan
    return f


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


def _json_default(v: Any) -> Any:
    if isinstance(v, (np.generic, np.ndarray)):
        return _plain_value(v)
    return str(v)


def _node_id() -> str:
    import ray

    try:
        return ray.get_runtime_context().get_node_id()
    except Exception:  # outside Ray (direct use of the class)
        return ""


def _node_ip() -> str:
    import ray

    try:
        return ray.util.get_node_ip_address()
    except Exception:
        return ""
