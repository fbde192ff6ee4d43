"""Test helpers: small NAS-Bench-101 files in the official layouts, built from real cells.

``subset_records`` turns rows of the shared subset CSV (real cells, real 108-epoch accuracy;
:func:`sampled_rows` where the CSV is absent)
into official-format training runs: ``repeats`` runs per cell whose test accuracies are the
CSV accuracy shifted by ``REPEAT_OFFSETS`` (mean = the CSV value exactly), validation accuracy
``VAL_SHIFT`` above test, the parameter count computed from the cell, and 3 evaluations (start,
half-way, end) as the official files hold. Use them with
:func:`nar_core.spaces.nb101.tfrecord.write_nasbench_tfrecord` to run the pipeline end to end.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nar_core.paths import resolve_data_dir

REPEAT_OFFSETS = (-0.002, 0.0, 0.002)
VAL_SHIFT = 0.01
BUDGETS_FULL = (4, 12, 36, 108)


def subset_csv_path() -> Path | None:
    """The shared NAS-Bench-101 subset CSV, or None when the data is absent."""
    p = resolve_data_dir() / "nb101" / "nb101_subset_2500.csv"
    return p if p.is_file() else None


def subset_rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    """Rows ``start .. start+n`` of the subset CSV as dicts (adjacency, operations, accuracy)."""
    import pandas as pd

    path = subset_csv_path()
    assert path is not None
    df = pd.read_csv(path).iloc[start : start + n]
    return [
        {"adjacency": json.loads(a), "operations": o.split("|"), "accuracy": float(acc)}
        for a, o, acc in zip(df["adjacency"], df["operations"], df["accuracy"])
    ]


def sampled_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` distinct real NAS-Bench-101 cells (official random specs) with made-up accuracies.

    For reader tests where the shared subset CSV is absent: the file layout and the cells are
    real, only the accuracies (0.80 + 0.0001 * i) are not measurements.
    """
    import numpy as np

    from nar_core.spaces.nb101 import NB101Space

    space = NB101Space()
    cells = space.sample_uniform(np.random.default_rng(seed), 4 * n)
    _, first = np.unique(space.keys(cells), return_index=True)
    rows = []
    for i, b in enumerate(np.sort(first)[:n].tolist()):
        matrix, ops = space.spec(cells, b)
        rows.append({"adjacency": matrix.tolist(), "operations": ops, "accuracy": 0.80 + 0.0001 * i})
    assert len(rows) == n
    return rows


def reader_rows(n: int) -> list[dict[str, Any]]:
    """Rows of the shared subset CSV when present, else :func:`sampled_rows`."""
    return subset_rows(n) if subset_csv_path() is not None else sampled_rows(n)


def subset_records(rows: list[dict[str, Any]], budgets=(108,), repeats: int = 3) -> list[dict[str, Any]]:
    """Official-layout training-run records for ``rows`` (see module doc)."""
    from nar_core.spaces.nb101 import NB101Space
    from nar_core.spaces.nb101.cells import cells_from_specs
    from nar_core.spaces.nb101.encoding import network_cost

    space = NB101Space()
    out = []
    for row in rows:
        cells = cells_from_specs([row["adjacency"]], [row["operations"]])
        matrix, ops = space.spec(cells)
        params = int(network_cost(cells)[1][0])
        for e in budgets:
            scale = e / 108.0  # shorter budgets: lower accuracy, shorter time
            for r in range(repeats):
                test = row["accuracy"] * (0.8 + 0.2 * scale) + REPEAT_OFFSETS[r % len(REPEAT_OFFSETS)]
                t = 1500.0 * scale + 10.0 * r
                out.append({
                    "adjacency": matrix.tolist(),
                    "operations": ops,
                    "epochs": e,
                    "trainable_parameters": params,
                    "total_time": t + 100.0,
                    "evaluation_data": [
                        {"current_epoch": 0.0, "training_time": 0.0, "train_accuracy": 0.1,
                         "validation_accuracy": 0.1, "test_accuracy": 0.1},
                        {"current_epoch": e / 2, "training_time": t / 2, "train_accuracy": 0.8,
                         "validation_accuracy": test - 0.05, "test_accuracy": test - 0.05,
                         "checkpoint_path": f"gs://bucket/{e}/{r}/model.ckpt-{e * 195}"},
                        {"current_epoch": float(e), "training_time": t, "train_accuracy": 1.0,
                         "validation_accuracy": test + VAL_SHIFT, "test_accuracy": test},
                    ],
                })
    return out
