"""Rendering: a built table (:func:`~nar_core.ablations.aggregation.build_table`) as markdown, CSV or LaTeX.

Every markdown table says which settings its rows ran with (the ``settings`` column: a preset of
:data:`nar_core.config.PRESETS`, ``default`` unless ``authors`` or ``paper`` was asked for;
``superseded`` for rows from before the defaults last changed), where (``run on``), at which budget
(``budget``: total queries of the budget table) and how many of its seeds a health flag marks
(``flagged``: the ranker did not learn), beside the paper's numbers. Output is deterministic: the
same table gives the same bytes.
"""
from __future__ import annotations

import io
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..aggregate import STD_DDOF
from ..io import atomic_path
from ..errors import NarError
from .registry import TableSpec

if TYPE_CHECKING:  # pandas is imported by the functions that get a table: importing nar_core.ablations
    import pandas as pd  # (the sweep scripts read their specs there) stays cheap

__all__ = ["display_frame", "render", "markdown", "header", "write_text", "write_table", "fmt"]

GROUP_HEADERS = {"ours_bench": "run on", "ours_budget": "budget", "ours_settings": "settings", "ours_method": "ranker"}


def _isna(x) -> bool:
    import pandas as pd

    return bool(pd.isna(x))


def fmt(x: float, digits: int = 2) -> str:
    return "" if x is None or _isna(x) else f"{x:.{digits}f}"


def _digits(metric: str) -> int:
    return 0 if metric.startswith("latency_within") else 2


def _cell(mean: float, std: float, best: float, n: int | float | None, digits: int, with_n: bool) -> str:
    if _isna(mean) and _isna(best):
        return "-"
    s = fmt(mean, digits) if not _isna(mean) else ""
    if not _isna(std):
        s += f" ± {fmt(std, digits)}"
    if not _isna(best):
        s += f" ({fmt(best, digits)})" if s else f"({fmt(best, digits)})"
    if with_n and n is not None and not _isna(n) and n > 0:
        s += f" n={int(n)}"
    return s


def _flagged(n: int, flagged: float, flags: str) -> str:
    if n <= 0 or _isna(flagged):
        return ""  # not run, or no seed recorded its health (older rows, baselines)
    return f"{int(flagged)} ({flags})" if flagged > 0 and flags else f"{int(flagged)}"


def display_frame(spec: TableSpec, table: pd.DataFrame) -> pd.DataFrame:
    """The side-by-side table as strings: ``ours: m ± s (best) n=N | flagged | paper: m ± s (best) | delta``.

    A paper row we have not run reads ``not run`` in the ``ours`` column. ``flagged``: how many of
    the N seeds a health flag marks, and which flags (empty where no seed recorded its health).
    """
    import pandas as pd

    from .aggregation import GROUP_COLUMNS, col_or, tag_columns

    groups = list(GROUP_COLUMNS) + tag_columns(spec)
    keys = list(spec.keys) + groups
    show_metric = table["metric"].nunique() > 1
    out = pd.DataFrame({k: table[k].where(table[k].notna(), "").astype(str) for k in keys})
    out = out.rename(columns={**GROUP_HEADERS, **{f"ours_{c}": c for c in spec.tag_columns}})
    if show_metric:
        out["metric"] = table["metric"].astype(str)
    digits = table["metric"].astype(str).map(_digits)
    configs = col_or(table, "ours_configs", 0).fillna(0)
    out["ours"] = [(_cell(m, s, b, n, d, True) + (f" ({int(k)} configs pooled)" if k > 1 else "")) if n > 0 else "not run"
                   for m, s, b, n, d, k in zip(table["ours_mean"], table["ours_std"], table["ours_best"], table["ours_n"],
                                               digits, configs)]
    flags = col_or(table, "ours_flags", "").fillna("").astype(str)
    out["flagged"] = [_flagged(n, f, t) for n, f, t in zip(table["ours_n"], col_or(table, "ours_flagged", float("nan")), flags)]
    out["paper"] = [_cell(m, s, b, n, d, False) for m, s, b, n, d in
                    zip(table["paper_mean"], table["paper_std"], table["paper_best"], table["paper_n"], digits)]
    out["delta"] = [("" if _isna(x) else f"{x:+.{d}f}") for x, d in zip(table["delta"], digits)]
    if not (table["ours_n"] > 0).any():  # the paper's table alone
        drop = [GROUP_HEADERS[g] for g in groups if g in GROUP_HEADERS] + ["ours", "flagged", "delta", *spec.tag_columns]
        out = out.drop(columns=[c for c in drop if c in out.columns])
    if not spec.csv:
        out = out.drop(columns=[c for c in ("paper", "delta") if c in out.columns])
    return out


def _escape(value: object) -> str:
    return str(value).replace("|", "\\|")


def markdown(df: pd.DataFrame) -> str:
    """A pipe table by pandas' writer (``DataFrame.to_markdown``, through ``tabulate``), one line per row.

    Cells as written: every value as its text (``93.50`` stays ``93.50``: no number parsing), no
    alignment, so no padding (a row's line changes only when the row does, and the report diffs line
    by line; only the rule under the header follows the widest cell). A ``|`` in a cell or header is
    written ``\\|``: tabulate leaves it as it is, where it would end the cell.
    """
    shown = df.astype(object).apply(lambda column: column.map(_escape))
    shown.columns = [_escape(c) for c in df.columns]
    try:
        text = shown.to_markdown(index=False, tablefmt="pipe", stralign=None, numalign=None, disable_numparse=True)
    except ImportError:
        raise NarError("Markdown tables need the tabulate package (a dependency of nar-core): "
                       "pip install tabulate, or reinstall nar-core with pip install -e .") from None
    return text + "\n"


def _latex(df: pd.DataFrame) -> str:
    """A ``tabular`` by pandas' LaTeX writer (``Styler.to_latex``): every LaTeX special character
    escaped in cells and headers, plain ``\\hline`` rules (no package needed), ``±`` as ``$\\pm$``."""
    styler = df.style.hide(axis="index").format(escape="latex").format_index(escape="latex", axis=1)
    styler = styler.set_table_styles([{"selector": rule, "props": ":hline;"} for rule in ("toprule", "midrule", "bottomrule")])
    return styler.to_latex(column_format="l" * len(df.columns)).replace("±", r"$\pm$")


def header(spec: TableSpec) -> str:
    if spec.paper == "ours":
        return f"Queries vs accuracy: {spec.title}"
    kind = "" if spec.label.startswith("Fig") else "Table "
    return f"{spec.paper} {kind}{spec.label}: {spec.title}"


def render(spec: TableSpec, table: pd.DataFrame, fmt: str = "markdown", note: str = "") -> str:
    """The table as ``markdown`` (side by side, with a title line), ``csv`` (tidy numbers) or ``latex``."""
    if fmt == "csv":
        buf = io.StringIO()
        table.to_csv(buf, index=False, float_format="%.6g", lineterminator="\n")
        return buf.getvalue()
    shown = display_frame(spec, table)
    if fmt == "latex":
        return f"% {header(spec)}\n" + _latex(shown)
    if fmt != "markdown":
        raise NarError(f"--format: unknown format {fmt!r}; expected markdown, csv or latex")
    text = f"### {header(spec)}\n\n" + (f"{note}\n\n" if note else "") + markdown(shown)
    paper = f"paper: as printed ({spec.csv}); delta = ours mean - paper mean" if spec.csv else "paper: no numbers printed"
    return text + f"\nours: mean ± std (best) over n seeds, std with ddof={STD_DDOF}; settings: the preset the " \
                  f"runs followed (default = the authors' code, the papers' text where the code is silent; " \
                  f"authors = `--preset authors`; paper = `--preset paper`, the papers' text as printed; " \
                  f"superseded = run before issue 17, history only, never judged); flagged: of the n seeds, how " \
                  f"many a health flag marks (the ranker did not learn; counted in the mean and in the verdicts, " \
                  f"which say so; empty where no seed recorded its health); {paper}.\n"


def write_text(path: str | os.PathLike, text: str) -> Path:
    """Atomic write, readable by others like any report (mkstemp alone would leave mode 0600)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
    return path


def write_table(spec: TableSpec, table: pd.DataFrame, out_dir: str | os.PathLike, note: str = "",
                formats: Sequence[str] = ("csv", "markdown")) -> list[Path]:
    """Write ``<out>/<name>.csv`` (tidy numbers) and ``<name>.md`` (side by side), atomically."""
    out = Path(out_dir)
    written = []
    ext = {"csv": ".csv", "markdown": ".md", "latex": ".tex"}
    for f in formats:
        path = out / f"{spec.name}{ext[f]}"
        write_text(path, render(spec, table, f, note=note))
        written.append(path)
    return written
