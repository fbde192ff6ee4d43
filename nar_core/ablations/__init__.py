"""The papers' ablations: one registry (sweeps, tables, claims), aggregation, rendering, verdicts, report.

* :mod:`.registry`: every ablation (:data:`ABLATIONS`: its sweep, the tables it fills, the claims
  it tests) and every table (:data:`TABLES`); ``sweeps/*.py`` are thin scripts over it.
* :mod:`.budget`: the one budget table (total queries -> cells, iterations, top-k, batch, epochs).
* :mod:`.aggregation`: our result rows -> per-table aggregates beside the paper's numbers.
* :mod:`.render`: markdown / CSV / LaTeX; :mod:`.figures`: PNG figures.
* :mod:`.verdicts`: each claim reproduced / refuted / inconclusive / not run: paired over common seeds
  (t and bootstrap intervals, non-inferiority at a margin, minimum detectable effect), Holm-adjusted.
* :mod:`.report`: ``nar report --results results/ --out report/``.
"""
from __future__ import annotations

import importlib

from ..budget import BUDGETS, budget_settings
from .registry import (
    ABLATIONS, METRICS, TABLES, Ablation, Claim, NoMatchingRowsError, TableSpec, get_ablation, get_table,
    script_specs, table_names,
)
from .render import render, write_table

__all__ = [
    "ABLATIONS", "BUDGETS", "METRICS", "TABLES", "Ablation", "Claim", "NoMatchingRowsError", "TableSpec",
    "aggregate", "budget_settings", "build_table", "get_ablation", "get_table", "load_paper_table", "load_results",
    "paper_results_dir", "render", "script_specs", "select_rows", "table_names", "write_table",
]

# the aggregation (pandas) is imported on first use (PEP 562): the sweep scripts read their specs
# from the registry, and the ``nar`` parser is built, before any input is checked
_AGGREGATION = ("aggregate", "build_table", "load_paper_table", "load_results", "paper_results_dir", "select_rows")


def __getattr__(name: str):
    if name in _AGGREGATION:
        return getattr(importlib.import_module(f"{__name__}.aggregation"), name)
    if name in ("aggregation", "cli", "figures", "report", "verdicts"):  # a submodule not imported yet
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
