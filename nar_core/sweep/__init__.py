"""Sweep harness: the experiment pipeline as Ray Tune trials, driven by declarative sweep specs.

Public API::

    from nar_core.sweep import SweepSpec, Param, grid_product, SweepOptions, run_sweep, sweep_main

A spec (:class:`SweepSpec`) is data; :func:`run_sweep` runs it in grid or Optuna mode, locally
or on a Ray cluster, resumable, and writes ``<storage>/<name>/results.{csv,parquet}``.
"""
from ..cli_common import QUICK_SETTINGS, parse_seeds
from .spec import TRIAL_METRICS, Param, SweepSpec, grid_product, load_spec

__all__ = [
    "Param", "SweepSpec", "grid_product", "load_spec", "parse_seeds", "QUICK_SETTINGS", "TRIAL_METRICS",
    "SweepOptions", "SweepOutcome", "run_sweep", "sweep_main", "Ledger",
]


def __getattr__(name: str):
    # Ray is imported lazily: validating or printing a spec must not pay Ray's import time.
    if name in ("SweepOptions", "SweepOutcome", "run_sweep"):
        from . import runner

        return getattr(runner, name)
    if name == "sweep_main":
        from .cli import sweep_main

        return sweep_main
    if name == "Ledger":
        from .ledger import Ledger

        return Ledger
    raise AttributeError(name)
