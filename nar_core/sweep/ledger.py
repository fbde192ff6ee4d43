"""The sweep's one record of results: ``records.jsonl``, written by the driver alone.

Trials report each finished seed through Ray Tune (the ``seed_record`` of a result); the driver's
:class:`LedgerCallback` appends it to ``<experiment>/records.jsonl`` (one JSON line, flushed and
fsynced, so it survives a SIGKILL of the driver) and tells the :class:`SeedBook` actor, from
which a trial that is restarted (worker node lost, driver resumed) learns which of its seeds are
already done. When a trial ends, a line with its final status follows (``ok``, ``failed`` with
the error and the number of attempts, or ``stopped`` by the early-stopping scheduler).

Nothing else holds results: a resumed driver reads this file, the results table is built from
it (:func:`build_table`), and the first record of a (trial, seed) is the one that counts.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import pandas as pd
import ray
from ray.tune import Callback

from ..io import atomic_path, text_columns
from .trainable import _plain, json_default

RECORDS_FILE = "records.jsonl"
STATUS_OK, STATUS_FAILED, STATUS_STOPPED, STATUS_PENDING = "ok", "failed", "stopped", "pending"


class Ledger:
    """Driver-side: the recorded seeds and ended trials of one sweep, backed by ``records.jsonl``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.seeds: dict[str, dict[int, dict[str, Any]]] = {}
        self.ends: dict[str, dict[str, Any]] = {}
        self.executions = 0  # seed records received, duplicates included (a rerun shows up here)
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:  # a line torn by a killed driver
                    continue
                self._apply(entry)

    def _apply(self, entry: Mapping[str, Any]) -> bool:
        if entry.get("kind") == "end":
            self.ends[str(entry["trial_id"])] = dict(entry)
            return True
        self.executions += 1
        done = self.seeds.setdefault(str(entry["trial_id"]), {})
        if int(entry["seed"]) in done:
            return False
        done[int(entry["seed"])] = dict(entry)
        return True

    def _append(self, entry: Mapping[str, Any]) -> None:
        line = json.dumps(entry, default=json_default) + "\n"
        with open(self.path, "a") as f:
            f.write(line)
            f.flush()
            os.fsync(f.fileno())

    def add_seed(self, record: Mapping[str, Any]) -> bool:
        """Record a seed result; False when this (trial, seed) was already recorded (kept: the first)."""
        entry = {"kind": "seed", **_plain(record), "received": time.time(), "driver_pid": os.getpid()}
        self._append(entry)
        return self._apply(entry)

    def end_trial(self, trial_id: str, status: str, *, params: Mapping[str, Any], error: str = "",
                  attempts: int = 0) -> None:
        entry = {"kind": "end", "trial_id": trial_id, "status": status, "error": error, "attempts": attempts,
                 "params": _plain(dict(params)), "time": time.time()}
        self._append(entry)
        self._apply(entry)

    def finished(self, trial_id: str, n_seeds: int) -> bool:
        """Nothing left to run for this trial: every seed recorded, or it ended (failed / stopped)."""
        return len(self.seeds.get(trial_id, {})) >= n_seeds or trial_id in self.ends


@ray.remote(num_cpus=0)
class SeedBook:
    """The driver's recorded seeds, served to trials: trial id -> {seed: record}."""

    def __init__(self, seeds: Mapping[str, Mapping[int, Mapping[str, Any]]]):
        self._seeds = {k: dict(v) for k, v in seeds.items()}

    def add(self, trial_id: str, seed: int, record: Mapping[str, Any]) -> None:
        self._seeds.setdefault(trial_id, {}).setdefault(int(seed), dict(record))

    def recorded(self, trial_id: str) -> dict[int, dict[str, Any]]:
        return dict(self._seeds.get(trial_id, {}))


class LedgerCallback(Callback):
    """Runs in the driver: every seed result into the ledger (and the book), every trial's end."""

    def __init__(self, ledger: Ledger, book: Any, n_seeds: int, on_change: Callable[[], None] = lambda: None):
        self.ledger, self.book, self.n_seeds, self.on_change = ledger, book, n_seeds, on_change

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        record = result.get("seed_record")
        if not isinstance(record, Mapping) or record.get("adopted"):
            return  # an adopted seed is already in the ledger
        if self.ledger.add_seed(record):
            self.book.add.remote(str(record["trial_id"]), int(record["seed"]), _plain(record))
        self.on_change()

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        key = str(trial.config["trial"]["key"])
        done = len(self.ledger.seeds.get(key, {})) >= self.n_seeds
        # Ended before its last seed without an error: the early-stopping scheduler stopped it.
        self.ledger.end_trial(key, STATUS_OK if done else STATUS_STOPPED, params=trial.config["trial"]["params"],
                              attempts=int(trial.num_failures or 0))
        self.on_change()

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        # Called once retries are used up (FailureConfig.max_failures); a retry is on_trial_recover.
        self.ledger.end_trial(str(trial.config["trial"]["key"]), STATUS_FAILED, params=trial.config["trial"]["params"],
                              error=_trial_error_text(trial), attempts=int(trial.num_failures or 0))
        self.on_change()


class ConsoleCallback(Callback):
    """Runs in the driver after :class:`LedgerCallback`: one line per trial that ends, one per retry
    (:mod:`.console`). ``done`` counts the trials ended before this run (a resumed sweep)."""

    def __init__(self, ledger: Ledger, total: int, max_failures: int, done: int = 0, out: Callable[[str], None] = print):
        self.ledger, self.total, self.max_failures, self.done, self.out = ledger, total, max_failures, done, out

    def _ended(self, trial: Any) -> None:
        from .console import short_error, trial_line

        key = str(trial.config["trial"]["key"])
        end = self.ledger.ends.get(key, {})
        self.done += 1
        records = [self.ledger.seeds.get(key, {})[s] for s in sorted(self.ledger.seeds.get(key, {}))]
        self.out(trial_line(self.done, self.total, key, trial.config["trial"].get("params") or {}, records,
                            status=end.get("status", STATUS_OK), error=short_error(end.get("error", ""))))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended(trial)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._ended(trial)

    def on_trial_recover(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        from .console import retry_line, short_error

        self.out(retry_line(str(trial.config["trial"]["key"]), trial.config["trial"].get("params") or {},
                            int(trial.num_failures or 1), self.max_failures, short_error(_trial_error_text(trial))))


def _trial_error_text(trial: Any) -> str:
    text = None
    try:
        path = trial.error_file
        if path and Path(path).exists():
            text = Path(path).read_text()
    except OSError:
        text = None
    if not text:
        text = str(trial.get_error() or "")
    text = (text or "trial failed (no error text recorded)").strip()
    # The last line of a traceback is the message a user needs; keep the whole text bounded.
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return (lines[-1].strip() if lines else text)[:2000]


def build_table(ledger: Ledger, spec: Any, trials: Mapping[str, Mapping[str, Any]], seeds: list[int],
                extra: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """One row per (trial, seed) of ``trials`` (trial id -> params): every config value, every metric,
    ``trial_id``, ``status`` (ok / failed / stopped / pending), ``error``, ``attempts``.

    A recorded seed is ``ok``; a seed its trial did not finish is ``failed`` (retries used up; the
    error says why), ``stopped`` (early stopping) or ``pending`` (not run yet: resume the sweep).
    """
    rows: list[dict[str, Any]] = []
    for key, params in trials.items():
        done = ledger.seeds.get(key, {})
        end = ledger.ends.get(key, {})
        for i, seed in enumerate(seeds):
            if seed in done:
                rec = {k: v for k, v in done[seed].items() if k != "kind"}
                rows.append({**rec, "status": STATUS_OK, "error": "", "attempts": end.get("attempts", 0)})
                continue
            try:
                row: dict[str, Any] = spec.trial_config(params, seed=seed, extra=extra).to_dict()
            except Exception:  # an invalid sampled config: keep the sampled values only
                row = dict(params)
            status = end.get("status") if end.get("status") in (STATUS_FAILED, STATUS_STOPPED) else STATUS_PENDING
            row.update(trial_id=key, seed=seed, seed_index=i, params=dict(params), status=status,
                       error=end.get("error", ""), attempts=end.get("attempts", 0))
            rows.append(row)
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    df["params"] = df["params"].map(lambda p: json.dumps(p, sort_keys=True, default=json_default)
                                    if isinstance(p, Mapping) else (p or ""))
    front = [c for c in ("trial_id", "seed", "status", "error", "attempts") if c in df.columns]
    df = df[front + [c for c in df.columns if c not in front]]
    return df.sort_values(["trial_id", "seed"], kind="stable").reset_index(drop=True)


def write_table(df: pd.DataFrame, experiment_dir: str | Path) -> tuple[Path, Path]:
    """``results.csv`` and ``results.parquet`` in the experiment folder, each written atomically.

    List columns (``best_so_far_val``) stay lists in Parquet and are JSON text in the CSV.
    Identifier columns (:data:`nar_core.io.RESULT_TEXT_COLUMNS`) are text in both: a found cell
    written as digits keeps its leading zeros, and an index reads 541, not 541.0, beside pending rows.
    """
    d = Path(experiment_dir)
    csv_path, pq_path = d / "results.csv", d / "results.parquet"
    df = text_columns(df)
    csv_df = df.copy()
    for c in csv_df.columns:
        if csv_df[c].map(lambda v: isinstance(v, (list, tuple, dict))).any():
            csv_df[c] = csv_df[c].map(lambda v: json.dumps(v, default=json_default) if isinstance(v, (list, tuple, dict)) else v)
    with atomic_path(csv_path, suffix=".csv") as tmp:
        csv_df.to_csv(tmp, index=False)
    pq_df = df.copy()
    for c in pq_df.columns:  # mixed object columns (e.g. str + NaN) confuse Arrow's type inference
        if pq_df[c].dtype == object and not pq_df[c].map(lambda v: isinstance(v, (list, tuple))).any():
            pq_df[c] = pq_df[c].map(lambda v: None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                                    if not isinstance(v, (int, float, bool)) else v)
    with atomic_path(pq_path, suffix=".parquet") as tmp:
        pq_df.to_parquet(tmp, index=False)
    return csv_path, pq_path
