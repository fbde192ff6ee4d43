"""Never lose a result: the driver keeps every seed record on disk as it arrives, and the sweep's
tidy table (one row per trial and seed) is built from those files.

:class:`SeedRecordCallback` runs in the driver: each reported ``seed_record`` is written
atomically to ``<experiment>/records/<trial_id>.json`` (so it survives a SIGKILL of the driver,
and needs no shared filesystem between nodes); a trial that fails for good (after
``max_failures`` retries) gets ``<trial_id>.failed.json`` with its error. :func:`build_table`
turns the folder into a pandas DataFrame; :func:`write_table` writes ``results.csv`` and
``results.parquet`` atomically.
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any, Mapping

import pandas as pd
from ray.tune import Callback

from ..io import atomic_path, atomic_write_text
from .trainable import _json_default, _plain

RECORDS_DIR = "records"
EVENTS_FILE = "events.jsonl"  # append-only: one line per seed result the driver received
STATUS_OK, STATUS_FAILED, STATUS_PENDING = "ok", "failed", "pending"


class SeedRecordCallback(Callback):
    """Driver-side sink of per-seed records and terminal trial errors."""

    def __init__(self, experiment_dir: str | Path):
        self.records_dir = Path(experiment_dir) / RECORDS_DIR
        self._records: dict[str, dict[int, dict[str, Any]]] = {}

    def _trial_records(self, trial_id: str) -> dict[int, dict[str, Any]]:
        if trial_id not in self._records:
            # A resumed driver: start from what the previous driver already saved.
            self._records[trial_id] = {int(r["seed"]): r for r in _read_json(self.records_dir / f"{trial_id}.json", [])}
        return self._records[trial_id]

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        record = result.get("seed_record")
        if not isinstance(record, Mapping):
            return
        recs = self._trial_records(trial.trial_id)
        recs[int(record["seed"])] = _plain(record)
        self.records_dir.mkdir(parents=True, exist_ok=True)
        ordered = sorted(recs.values(), key=lambda r: int(r.get("seed_index", 0)))
        atomic_write_text(self.records_dir / f"{trial.trial_id}.json", json.dumps(ordered, default=_json_default))
        # The event log lets anyone count executions: a seed seen twice was run twice.
        with open(self.records_dir / EVENTS_FILE, "a") as f:
            f.write(json.dumps({"trial_id": trial.trial_id, "seed": int(record["seed"]), "driver_pid": os.getpid(),
                                "adopted": bool(record.get("adopted_from")), "time": time.time()}) + "\n")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        error = _trial_error_text(trial)
        payload = {
            "trial_id": trial.trial_id,
            "params": _plain(dict((trial.config or {}).get("params") or {})),
            "attempts": int(getattr(trial.run_metadata, "num_failures", 0) or 0),
            "error": error,
        }
        self.records_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.records_dir / f"{trial.trial_id}.failed.json", json.dumps(payload, default=_json_default))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        # A trial that failed earlier and then succeeded on retry is not failed.
        (self.records_dir / f"{trial.trial_id}.failed.json").unlink(missing_ok=True)


def _trial_error_text(trial: Any) -> str:
    text = None
    try:
        path = trial.error_file
        if path and Path(path).exists():
            text = Path(path).read_text()
    except Exception:
        text = None
    if not text:
        try:
            text = trial.get_error()
        except Exception:
            text = None
    text = str(text or "trial failed (no error text recorded)").strip()
    # The last line of a traceback is the message a user needs; keep the whole text bounded.
    last = [ln for ln in text.splitlines() if ln.strip()]
    summary = last[-1].strip() if last else text
    return summary[:2000]


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


def build_table(experiment_dir: str | Path, spec: Any = None, *, seeds: list[int] | None = None,
                quick: bool = False, extra: Mapping[str, Any] | None = None,
                trial_params: Mapping[str, Mapping[str, Any]] | None = None,
                only_trials: bool = False) -> pd.DataFrame:
    """One row per (trial, seed): every config value, every metric, trial_id, status, error.

    Seeds a trial did not finish get a row with status ``failed`` (the trial failed for good,
    ``error`` says why) or ``pending`` (the sweep was stopped before them). ``spec``/``seeds``/
    ``quick``/``extra`` rebuild the config columns of those rows; ``trial_params`` adds trials
    known to Tune that never reported (trial_id -> params); with ``only_trials`` the table holds
    just those trials (records of a trial Tune lost to a SIGKILL stay in ``records/``; an
    identical re-created trial adopted them).
    """
    records_dir = Path(experiment_dir) / RECORDS_DIR
    rows: list[dict[str, Any]] = []
    trial_ids: set[str] = set()
    if records_dir.is_dir():
        trial_ids |= {p.name[: -len(".failed.json")] for p in records_dir.glob("*.failed.json")}
        trial_ids |= {p.stem for p in records_dir.glob("*.json") if not p.name.endswith(".failed.json")}
        trial_ids.discard(Path(EVENTS_FILE).stem)
    trial_ids |= set(trial_params or {})
    if only_trials:
        trial_ids &= set(trial_params or {})
    for tid in sorted(trial_ids):
        done = {int(r["seed"]): r for r in _read_json(records_dir / f"{tid}.json", [])}
        failed = _read_json(records_dir / f"{tid}.failed.json", None)
        params = (failed or {}).get("params") or (trial_params or {}).get(tid) \
            or next(iter(done.values()), {}).get("params") or {}
        for rec in done.values():
            rows.append({**_flatten_params(rec), "status": STATUS_OK, "error": "", "attempts": (failed or {}).get("attempts", 0)})
        for i, seed in enumerate(seeds or []):
            if seed in done:
                continue
            row: dict[str, Any] = {}
            if spec is not None:
                try:
                    row.update(spec.trial_config(params, quick=quick, seed=seed, extra=extra).to_dict())
                except Exception:  # an invalid sampled config: keep the sampled values only
                    row.update(dict(params))
            row.update(trial_id=tid, seed=seed, seed_index=i, params=dict(params))
            if failed is not None:
                row.update(status=STATUS_FAILED, error=failed.get("error", ""), attempts=failed.get("attempts", 0))
            else:
                row.update(status=STATUS_PENDING, error="", attempts=0)
            rows.append(_flatten_params(row))
    df = pd.DataFrame(rows)
    if df.empty:
        return df
    front = [c for c in ("trial_id", "seed", "status", "error", "attempts") if c in df.columns]
    df = df[front + [c for c in df.columns if c not in front]]
    return df.sort_values(["trial_id", "seed"], kind="stable").reset_index(drop=True)


def _flatten_params(rec: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(rec)
    params = out.get("params")
    out["params"] = json.dumps(params, sort_keys=True, default=_json_default) if isinstance(params, Mapping) else (params or "")
    return out


def write_table(df: pd.DataFrame, experiment_dir: str | Path) -> tuple[Path, Path]:
    """``results.csv`` and ``results.parquet`` in the experiment folder, each written atomically.

    List columns (``best_so_far_val``) stay lists in Parquet and are JSON text in the CSV.
    """
    d = Path(experiment_dir)
    csv_path, pq_path = d / "results.csv", d / "results.parquet"
    csv_df = df.copy()
    for c in csv_df.columns:
        if csv_df[c].map(lambda v: isinstance(v, (list, tuple, dict))).any():
            csv_df[c] = csv_df[c].map(lambda v: json.dumps(v, default=_json_default) if isinstance(v, (list, tuple, dict)) else v)
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


def read_events(experiment_dir: str | Path) -> pd.DataFrame:
    """The driver's event log (trial_id, seed, driver_pid, time); a torn last line is skipped."""
    path = Path(experiment_dir) / RECORDS_DIR / EVENTS_FILE
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return pd.DataFrame(rows, columns=["trial_id", "seed", "driver_pid", "adopted", "time"])


def prior_records(experiment_dir: str | Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Recorded seeds by trial settings: params_key -> {str(seed): record} (for adoption on resume)."""
    from .trainable import params_key

    out: dict[str, dict[str, dict[str, Any]]] = {}
    records_dir = Path(experiment_dir) / RECORDS_DIR
    for p in sorted(records_dir.glob("*.json")) if records_dir.is_dir() else []:
        if p.name.endswith(".failed.json"):
            continue
        for rec in _read_json(p, []):
            out.setdefault(params_key(rec.get("params") or {}), {}).setdefault(str(int(rec["seed"])), rec)
    return out


def tune_trials(experiment_dir: str | Path) -> dict[str, dict[str, Any]]:
    """Trials in Ray Tune's saved experiment state: trial_id -> params."""
    from ray.tune import ExperimentAnalysis

    try:
        analysis = ExperimentAnalysis(str(experiment_dir))
    except Exception:  # no state saved yet
        return {}
    return {t.trial_id: dict((t.config or {}).get("params") or {}) for t in analysis.trials}
