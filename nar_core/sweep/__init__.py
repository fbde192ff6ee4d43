"""Sweep harness: the experiment pipeline as Ray Tune trials, driven by declarative sweep specs.

Public API::

    from nar_core.sweep import SweepSpec, Param, grid_product, SweepOptions, run_sweep, sweep_main

A spec (:class:`SweepSpec`) is data; :func:`run_sweep` runs it in grid or Optuna mode, locally
or on a Ray cluster, resumable, and writes ``<storage>/<name>/results.{csv,parquet}``.
"""
from .spec import QUICK_SETTINGS, TRIAL_METRICS, Param, SweepSpec, grid_product, load_spec, parse_seeds

__all__ = [
    "Param", "SweepSpec", "grid_product", "load_spec", "parse_seeds", "QUICK_SETTINGS", "TRIAL_METRICS",
    "SweepOptions", "SweepOutcome", "run_sweep", "sweep_main", "build_table", "read_events",
]


def __getattr__(name: str):
    # Ray is imported lazily: validating or printing a spec must not pay Ray's import time.
    if name in ("SweepOptions", "SweepOutcome", "run_sweep"):
        from . import runner

        return getattr(runner, name)
    if name == "sweep_main":
        from .cli import sweep_main

        return sweep_main
    if name in ("build_table", "read_events"):
        from . import results

        return getattr(results, name)
    raise AttributeError(name)
