"""What a sweep prints by default: one header line, one line per finished trial, a final table.

    sweep loss_factors_rank_cifar10 (grid): space nb201 (NAS-Bench-201), dataset cifar10, budget 264 queries (--quick), preset default, 2 trials x 2 seeds, storage /home/nar/nar/runs/loss_factors_rank_cifar10
    [1/2] grid-0001  rank_loss_factor=4  test-pick 93.84 ± 0.07  val-pick 93.84 ± 0.07  (2 seeds, 10.1.0.12, 9 s)
    [2/2] grid-0000  rank_loss_factor=3  test-pick 93.84 ± 0.07  val-pick 93.84 ± 0.07  (2 seeds, 10.1.0.11, 9 s)

followed by the final table (:func:`final_table`: both protocols per configuration, mean ± sample
std over its seeds, in the grid's order) and the command that makes the paper's table of it.
Ray's own reporting (its trial tables and per-result dumps) only with ``-v``.

The two protocols, per seed: ``test_acc`` (test-pick) is the test accuracy of the cell the search
returns, the best cell by the queried metric (the papers' protocol: they query test accuracy);
``test_acc_valpick`` (val-pick) is the test accuracy of the searched cell with the best validation
accuracy. A benchmark without a validation split (the NAS-Bench-101 2,500-cell subset) has no
val-pick: shown as ``n/a``.
"""
from __future__ import annotations

import json
import math
from typing import Any, Mapping, Sequence

import pandas as pd

from ..aggregate import seed_stats_dict

PROTOCOLS = (("test_acc", "test-pick"), ("test_acc_valpick", "val-pick"))


def _num(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def settings_text(params: Mapping[str, Any]) -> str:
    """A trial's settings as ``key=value`` pairs (``rank_loss_factor=3 top_k=5``); ``(defaults)`` if none."""
    return " ".join(f"{k}={_num(v)}" for k, v in params.items()) or "(defaults)"


def mean_std(values: Sequence[float]) -> str:
    """``93.84 ± 0.07`` over seeds (one seed: no ±), ``n/a`` when no seed has the value."""
    vals = [float(v) for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not vals:
        return "n/a"
    s = seed_stats_dict([{"x": v} for v in vals], ("x",))["x"]
    return f"{s['mean']:.2f}" + (f" ± {s['std']:.2f}" if len(vals) > 1 else "")


def _has_validation(records: Sequence[Mapping[str, Any]]) -> bool:
    return any(isinstance(r.get("val_acc"), (int, float)) and not math.isnan(float(r["val_acc"])) for r in records)


def protocol_texts(records: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """``{"test-pick": "93.84 ± 0.07", "val-pick": ...}`` over a trial's seed records."""
    out = {}
    valid = _has_validation(records)
    for col, label in PROTOCOLS:
        if col == "test_acc_valpick" and not valid:
            out[label] = "n/a"
        else:
            out[label] = mean_std([r.get(col) for r in records])
    return out


def header_line(spec: Any, options: Any, state: Mapping[str, Any], location: str, resumed: bool) -> str:
    """One line: what runs (space, dataset, budget, preset, trials, seeds) and where the results go."""
    from ..budget import BUDGETS, budget_of, total_queries
    from ..spaces import get_space

    try:
        display = get_space(spec.space).display_name()
    except Exception:
        display = spec.space
    rows = spec.grid_rows()[:1] if state["mode"] == "grid" else [{}]
    try:
        cfg = spec.trial_config(rows[0] if rows else {}, seed=spec.seeds[0]).to_dict()
        queries = total_queries(cfg)
        named = budget_of(cfg)
        if options.budget:
            budget = f"budget {options.budget} queries"
        elif named in {str(b) for b in BUDGETS}:
            budget = f"budget {queries} queries"
        else:
            budget = f"budget {queries} queries" + (" (--quick)" if options.quick else " (not one of the budget table)")
    except Exception:
        budget = "budget as in the spec"
    n = state["num_samples"]
    trials = f"{n} trial{'s' if n != 1 else ''}" if state["mode"] == "grid" else f"{n} Optuna trials"
    seeds = len(state["seeds"])
    return (f"sweep {location.rstrip('/').rsplit('/', 1)[-1]} ({state['mode']}): space {spec.space} ({display}), "
            f"dataset {spec.dataset}, {budget}, preset {spec.preset}, {trials} x {seeds} seed{'s' if seeds != 1 else ''}, "
            f"storage {location}" + (" (resumed)" if resumed else ""))


def trial_line(done: int, total: int, key: str, params: Mapping[str, Any], records: Sequence[Mapping[str, Any]],
               status: str = "ok", error: str = "") -> str:
    """The line of a trial that ended: its settings, both protocols over its seeds, where and how long."""
    texts = protocol_texts(records)
    nodes = sorted({str(r.get("node_ip") or r.get("hostname") or "?") for r in records})
    secs = sum(float(r.get("total_seconds") or 0.0) for r in records)
    tail = f"({len(records)} seed{'s' if len(records) != 1 else ''}"
    tail += (f", {', '.join(nodes)}" if nodes else "") + (f", {secs:.0f} s)" if records else ")")
    line = f"[{done}/{total}] {key}  {settings_text(params)}  test-pick {texts['test-pick']}  val-pick {texts['val-pick']}  {tail}"
    if status == "failed":
        line += f"  FAILED: {error}"
    elif status == "stopped":
        line += "  stopped early"
    return line


def final_table(df: pd.DataFrame) -> str:
    """Both protocols per trial (mean ± std over its ok seeds, seeds ok/total, status), in trial order."""
    if df.empty:
        return "no results"
    groups = []
    keys: dict[str, None] = {}  # every varied setting, in the order the rows name them
    for key, grp in df.groupby("trial_id", sort=True):  # grid-0000, grid-0001, ...: the grid's own order
        params = grp["params"].iloc[0]
        try:
            params = json.loads(params) if isinstance(params, str) else dict(params)
        except (TypeError, ValueError):
            params = {"params": params}
        keys.update(dict.fromkeys(params))
        groups.append((key, params, grp))
    rows = []
    for key, params, grp in groups:
        ok = grp[grp["status"] == "ok"]
        records = ok.to_dict("records")
        # "-": the row does not set it (the spec's setting)
        row: dict[str, Any] = {"trial": key, **{k: _num(params[k]) if k in params else "-" for k in keys}}
        texts = protocol_texts(records)
        row["seeds"] = f"{len(ok)}/{len(grp)}"
        row["test_acc (test-pick)"] = texts["test-pick"]
        row["test_acc_valpick (val-pick)"] = texts["val-pick"]
        statuses = grp["status"].value_counts()
        row["status"] = "ok" if len(statuses) == 1 and "ok" in statuses else \
            ", ".join(f"{s} {c}" for s, c in statuses.items())
        rows.append(row)
    table = pd.DataFrame(rows).fillna("")
    cols = list(table.columns)
    cells = [[str(c) for c in cols]] + [[str(v) for v in r] for r in table.itertuples(index=False)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(cols))]
    lines = ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    return "\n".join(["results per configuration (mean ± std over seeds; test-pick: the papers' protocol)"] + lines)


def paper_table_commands(spec_name: str, results: str) -> list[str]:
    """``nar tables table <table> --results <folder>`` for each paper table this sweep's spec fills."""
    try:
        from ..ablations.registry import ABLATIONS
    except Exception:  # the registry is optional for a spec file of one's own
        return []
    tables: list[str] = []
    for a in ABLATIONS.values():
        if a.sweep.name == spec_name:
            tables += [t for t in a.tables if t not in tables]
    return [f"nar tables table {t} --results {results}" for t in tables]


def retry_line(key: str, params: Mapping[str, Any], attempt: int, max_failures: int, error: str) -> str:
    """A trial that failed and runs again (a lost node, a crash): what failed and which attempt comes next."""
    return (f"      {key}  {settings_text(params)}: attempt {attempt} failed ({error}); "
            f"attempt {attempt + 1} of {max_failures + 1} starts, skipping the seeds already recorded")


def short_error(text: str, limit: int = 160) -> str:
    text = " ".join(str(text).split())
    if "unavailable" in text.lower() or "node" in text.lower() and "died" in text.lower():
        text = "its node was lost: " + text
    return text if len(text) <= limit else text[: limit - 3] + "..."
