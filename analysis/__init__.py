"""Analysis: the papers' result and ablation tables and figures, regenerated from our runs.

``python -m analysis list|paper|table|all|figure`` (see ``analysis/README.md``). The library API:
:func:`analysis.tables.build_table`, :func:`analysis.tables.load_results`,
:func:`analysis.figures.plot_curves`, :func:`analysis.figures.plot_ablation`.
"""
from .tables import TABLES, TableSpec, build_table, get_table, load_results, render, table_names, write_table

__all__ = ["TABLES", "TableSpec", "build_table", "get_table", "load_results", "render", "table_names", "write_table"]
