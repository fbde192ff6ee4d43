"""The one budget table: total queries -> training / validation cells, search iterations, top-k, batch, epochs.

Used by ``nar run --budget N``, the ablation sweeps (``--budget N`` of every ``sweeps/*.py`` script)
and the queries-versus-accuracy comparison, so a budget means the same settings everywhere.

Every budget splits its queries the way the papers' NAS-Bench-201 budget does (1,000 + 256
training cells, 50 iterations x top-5 = 1,506): about two thirds training cells, a sixth
validation cells, a sixth searched candidates (top-5 each iteration). The 150-query setting is the
one measured in issue 10 (100 + 25 cells, 5 x top-5, batch 50, 100 epochs), where the methods
differ; at 1,506 every method reaches the NB201 optimum. Small training sets get more epochs
(100) so that the ranker still takes a few hundred optimiser steps; the papers' own budget keeps
their 55 epochs and batch 128. The sample size k equals the batch size (NAR App. B).
"""
from __future__ import annotations

from typing import Any, Mapping

from .errors import ConfigError

#: total queries -> config overrides. The search queries ``search_iterations * top_k`` candidates,
#: so ``train_size + val_size + search_iterations * top_k`` is the total (repeat queries are free).
BUDGETS: Mapping[int, Mapping[str, int]] = {
    50: dict(train_size=32, val_size=8, search_iterations=2, top_k=5, batch_size=16, sample_size=16, epochs=100),
    100: dict(train_size=64, val_size=16, search_iterations=4, top_k=5, batch_size=32, sample_size=32, epochs=100),
    150: dict(train_size=100, val_size=25, search_iterations=5, top_k=5, batch_size=50, sample_size=50, epochs=100),
    300: dict(train_size=200, val_size=50, search_iterations=10, top_k=5, batch_size=64, sample_size=64, epochs=100),
    600: dict(train_size=400, val_size=100, search_iterations=20, top_k=5, batch_size=128, sample_size=128,
              epochs=100),
    1506: dict(train_size=1000, val_size=256, search_iterations=50, top_k=5, batch_size=128, sample_size=128,
               epochs=55),
}
PAPER_BUDGET = 1506
#: the budget issue 10 measured the methods apart at; ablations run here first
SEPARATING_BUDGET = 150
_SHAPE_KEYS = ("train_size", "val_size", "search_iterations", "epochs", "batch_size")


def total_queries(settings: Mapping[str, Any]) -> int:
    return int(settings["train_size"]) + int(settings["val_size"]) + int(settings["search_iterations"]) * int(settings["top_k"])


def budget_settings(total: int | str) -> dict[str, int]:
    """The config overrides of a budget; ConfigError listing the budgets for any other number."""
    try:
        key = int(total)
    except (TypeError, ValueError):
        key = None
    if key not in BUDGETS:
        raise ConfigError(f"--budget: no budget of {total!r} queries; choose one of "
                          + ", ".join(str(b) for b in BUDGETS))
    return dict(BUDGETS[key])


def budget_help() -> str:
    """The ``--budget`` choices as a user reads them (``nar run`` and every ``sweeps/*.py``)."""
    return "total queries per run, from the budget table: " + ", ".join(
        f"{b} ({s['train_size']}+{s['val_size']} cells, {s['search_iterations']}x top-{s['top_k']})"
        for b, s in BUDGETS.items())


def budget_of(row: Mapping[str, Any]) -> str:
    """The budget a result row ran at (``"150"``), or ``"other"``.

    Matched on training/validation cells, search iterations, epochs and batch size, not on top-k:
    an ablation of top-k (NARQ2T Table XI) keeps its budget's name while its total changes.
    """
    for total, s in BUDGETS.items():
        try:
            if all(int(float(row[k])) == s[k] for k in _SHAPE_KEYS):
                return str(total)
        except (KeyError, TypeError, ValueError):
            return "other"
    return "other"


for _total, _s in BUDGETS.items():  # the table must add up: checked at import, not trusted
    assert total_queries(_s) == _total, (_total, _s)
