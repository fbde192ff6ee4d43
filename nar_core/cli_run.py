"""``nar run``: run one method on one benchmark for several seeds; write results and a summary.

The user-facing text is ``_DESCRIPTION`` (plain, for ``--help``). ``--quick`` is a smoke run
(:data:`nar_core.cli_common.QUICK_SETTINGS`: a small ranker, 3 epochs, 5 search iterations).
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Any

from .budget import BUDGETS, budget_help, budget_settings
from .cli_common import DATASET_LABEL, QUICK_SETTINGS, parse_seeds, parse_set, positive_int, seeds_text
from .config import DEFAULT_PRESET, PRESETS, ExperimentConfig
from .errors import ConfigError, DataError
from .io import RESULT_TEXT_COLUMNS, atomic_path, atomic_write_text, check_output_dir, text_columns



def build_config(args: argparse.Namespace) -> ExperimentConfig:
    """Papers' defaults for the space, then the YAML file, ``--budget``, ``--quick``, flags and ``--set`` overrides."""
    from .spaces import space_names

    overrides: dict[str, Any] = {}
    if args.config:
        import yaml

        path = Path(args.config)
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise DataError(path, "config file not found") from None
        except yaml.YAMLError as exc:
            raise DataError(path, f"not valid YAML: {exc}") from None
        if not isinstance(data, dict):
            raise DataError(path, "expected a mapping of config keys to values")
        overrides.update(data)
    if getattr(args, "budget", None) is not None:
        overrides.update(budget_settings(args.budget))
    if args.quick:
        overrides.update(QUICK_SETTINGS)
    for flag in ("dataset", "method", "device"):
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    if args.data is not None:
        overrides["data_dir"] = args.data
    overrides.update(parse_set(args.set))
    space = args.space or overrides.pop("space", space_names()[0])
    overrides.pop("space", None)
    return ExperimentConfig.for_space(space, preset=getattr(args, "preset", DEFAULT_PRESET), **overrides)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, sample std (ddof=1, :mod:`nar_core.aggregate`) and best of the headline numbers over seeds."""
    from .aggregate import seed_stats_dict

    keys = ("val_acc", "test_acc", "val_acc_valpick", "test_acc_valpick", "rank_test", "kendall_tau",
            "tier_accuracy", "tier_chance", "queries_train", "queries_search", "queries_total", "total_seconds",
            "train_seconds", "search_seconds")
    stats = seed_stats_dict(rows, keys)
    out: dict[str, Any] = {"runs": len(rows)}
    for k in keys:
        out[f"{k}_mean"], out[f"{k}_std"] = stats[k]["mean"], stats[k]["std"]
    out["val_acc_best"], out["test_acc_best"] = stats["val_acc"]["best"], stats["test_acc"]["best"]
    out["flagged"] = sum(1 for r in rows if str(r.get("health", "ok")) not in ("ok", "", "nan"))
    return out


def format_summary(s: dict[str, Any], dataset: str, method: str, num_cells: int | None = None) -> str:
    """The result a person reads at the end of ``nar run``: both selection protocols, the ranker's
    health against chance, and what the query and rank numbers count."""
    import math

    n = int(s["runs"])

    def v(key: str, digits: int = 2) -> str:
        mean, std = s.get(f"{key}_mean", math.nan), s.get(f"{key}_std", math.nan)
        if mean is None or (isinstance(mean, float) and math.isnan(mean)):
            return "-"
        spread = n > 1 and not math.isnan(std) and round(std, digits) != 0
        return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if spread else "")

    label = DATASET_LABEL.get(dataset, dataset)
    head = f"{label} {method}, {n} seed{'s' * (n != 1)}" + (" (mean ± sample std over seeds)" if n > 1 else "")
    lines = [head,
             f"  test-pick  val {v('val_acc')}  test {v('test_acc')}"
             + (f"  (best seed {s['test_acc_best']:.2f})" if n > 1 else "")
             + "   the queried cell with the best test accuracy (the papers' protocol)",
             f"  val-pick   val {v('val_acc_valpick')}  test {v('test_acc_valpick')}"
             "   the queried cell with the best validation accuracy (never reads test labels)"]
    if not math.isnan(s.get("kendall_tau_mean", math.nan)) or not math.isnan(s.get("tier_accuracy_mean", math.nan)):
        ranker = f"  ranker     Kendall tau {v('kendall_tau', 3)} (chance 0)"
        if not math.isnan(s.get("tier_accuracy_mean", math.nan)):
            ranker += f", held-out tier accuracy {v('tier_accuracy', 3)} (chance {s['tier_chance_mean']:.2f})"
        flagged = int(s.get("flagged", 0))
        ranker += f"; {flagged} of {n} seed{'s' * (n != 1)} flagged as not learned" if flagged else "; learned on every seed"
        lines.append(ranker)
    of = f" of {num_cells:,} cells" if num_cells else ""
    lines.append(f"  queries    {v('queries_train', 0)} labelled for training + {v('queries_search', 0)} new in the search "
                 f"= {v('queries_total', 0)} distinct cells; test rank of the returned cell {v('rank_test', 0)}{of} "
                 f"(1 = best); {v('total_seconds', 1)} s per seed")
    return "\n".join(lines)


#: columns every table written by ``nar run`` has: a results.csv without them is someone else's
RESULT_KEY_COLUMNS = ("config_hash", "seed", "space", "dataset", "method")


def run_key(row: dict[str, Any]) -> tuple[str, str]:
    """(config hash, data fingerprint) of a result or summary row: a seed is done only for both.
    Rows written before the fingerprint existed have none, so they never match (and are kept)."""
    fp = row.get("data_fingerprint")
    return str(row["config_hash"]), fp if isinstance(fp, str) else ""


def read_results(path: Path) -> list[dict[str, Any]]:
    """Rows of an earlier ``nar run`` results table; DataError (exit 2) for a damaged or foreign file."""
    if not path.exists():
        return []  # a new --out: nothing to read, and no pandas to import before the input is checked
    import pandas as pd

    try:
        old = pd.read_csv(path, dtype=RESULT_TEXT_COLUMNS)
    except pd.errors.EmptyDataError:
        raise DataError(path, "is empty, not a results table of nar run; use another --out") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DataError(path, f"cannot read existing results ({' '.join(str(exc).split())}); use another --out") from None
    missing = [c for c in RESULT_KEY_COLUMNS if c not in old.columns]
    if missing:
        raise DataError(path, f"not a results table of nar run (no column {', '.join(missing)}); "
                        "use another --out rather than overwrite it")
    seeds = pd.to_numeric(old["seed"], errors="coerce")
    if seeds.isna().any() or (seeds % 1 != 0).any() or old["config_hash"].isna().any():
        row = int(next(i for i in range(len(old)) if pd.isna(seeds.iloc[i]) or seeds.iloc[i] % 1 or pd.isna(old["config_hash"].iloc[i])))
        raise DataError(path, f"row {row}: seed {old['seed'].iloc[row]!r} / config_hash {old['config_hash'].iloc[row]!r} "
                        "is not a nar run result; use another --out")
    return old.to_dict("records")


def check_tables(out: Path) -> list[dict[str, Any]]:
    """The rows of ``out/results.csv``, after checking every table ``nar run`` would rewrite there:
    DataError (exit 2) for a foreign or damaged one, before any work."""
    rows = read_results(out / "results.csv")
    parquet = out / "results.parquet"
    if parquet.exists():
        if not (out / "results.csv").exists():
            raise DataError(parquet, "exists without results.csv, so it is not a table of nar run; use another --out")
        try:
            import pyarrow.parquet as pq

            names = pq.read_schema(parquet).names
        except Exception as exc:  # pyarrow raises several types for a file that is not parquet
            raise DataError(parquet, f"cannot read existing results ({' '.join(str(exc).split())}); use another --out") from None
        missing = [c for c in RESULT_KEY_COLUMNS if c not in names]
        if missing:
            raise DataError(parquet, f"not a results table of nar run (no column {', '.join(missing)}); use another --out")
    summary = out / "summary.csv"
    if summary.exists():
        import pandas as pd

        try:
            cols = pd.read_csv(summary, nrows=0).columns
        except (OSError, ValueError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise DataError(summary, f"cannot read existing summary ({' '.join(str(exc).split())}); use another --out") from None
        if "config_hash" not in cols:
            raise DataError(summary, "not a summary of nar run (no column config_hash); use another --out")
    return rows


@contextlib.contextmanager
def _locked(out: Path):
    """Exclusive lock on ``out``: runs of other configs into the same --out read, merge and write
    the tables one at a time, so none rewrites the tables from a stale copy."""
    import fcntl

    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".nar-run.lock", "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)  # released when the file closes
        yield


def _add_rows(out: Path, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Merge ``new`` into the tables as they are now on disk (a row already there is kept); all rows."""
    with _locked(out):
        rows = read_results(out / "results.csv")
        have = {(run_key(r), int(r["seed"])) for r in rows}
        rows += [r for r in new if (run_key(r), int(r["seed"])) not in have]
        _write_tables(out, rows)
    return rows


def _write_tables(out: Path, rows: list[dict[str, Any]]) -> None:
    import pandas as pd

    # identifiers as text in both tables: an architecture written as digits keeps its leading zeros,
    # and the same column never mixes numbers (read back) with strings (new rows)
    df = text_columns(pd.DataFrame(rows).sort_values(["config_hash", "seed"], kind="stable"))
    with atomic_path(out / "results.csv") as tmp:
        df.to_csv(tmp, index=False)
    with atomic_path(out / "results.parquet", suffix=".parquet") as tmp:
        df.to_parquet(tmp, index=False)


def _write_summary(out: Path, summary: dict[str, Any]) -> None:
    """``summary.csv``: one row per config hash and data; this one's row replaced, every other kept."""
    import pandas as pd

    path = out / "summary.csv"
    rows = []
    if path.exists():
        try:
            rows = [r for r in pd.read_csv(path, dtype=RESULT_TEXT_COLUMNS).to_dict("records")
                    if "config_hash" not in r or run_key(r) != run_key(summary)]
        except (OSError, ValueError, UnicodeDecodeError, pd.errors.EmptyDataError) as exc:
            raise DataError(path, f"cannot read existing summary ({' '.join(str(exc).split())}); use another --out") from None
    atomic_write_text(path, text_columns(pd.DataFrame(rows + [summary])).to_csv(index=False))


def _duration(seconds: float) -> str:
    """``1 h 02 min``, ``3 min 05 s`` or ``42 s``: a time left a person reads at a glance."""
    s = int(round(seconds))
    if s >= 3600:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 60} min {s % 60:02d} s" if s >= 60 else f"{s} s"


def run(args: argparse.Namespace) -> int:
    from .benchmarks import load_benchmark
    from .config import config_hash

    log = logging.getLogger("nar.run")
    # everything that can fail before the first seed fails here, leaving no file and no empty --out;
    # the input first (options, --out, the data), before torch is imported: an error in well under a second
    base = build_config(args)
    seeds = parse_seeds(args.seeds)
    out = check_output_dir(args.out)
    chash = config_hash(base)
    results_csv = out / "results.csv"
    rows = check_tables(out)  # every config's rows: never deleted, never replaced
    # the data is part of the key: loaded (and fingerprinted) even when every seed may be done
    bench = load_benchmark(base.space, base.data_dir)

    from tqdm.auto import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    from .experiment import resolve_device, run_experiments

    key = (chash, bench.fingerprint())
    done = {int(r["seed"]) for r in rows if run_key(r) == key}
    todo = [s for s in seeds if s not in done]
    if done & set(seeds):
        log.info("skipping seeds already in %s for config %s on data %s: %s", results_csv, chash, key[1],
                 sorted(done & set(seeds)))
    if todo:
        resolve_device(base.device)  # --device cuda without CUDA: a ConfigError now, not after the first seed
        show = sys.stderr.isatty() if args.progress is None else args.progress
        log.info("%s on %s %s: %d seed(s) %s, data %s, results in %s", base.method, base.space, base.dataset,
                 len(todo), seeds_text(todo), bench.source, out)
        t0 = time.perf_counter()
        with contextlib.ExitStack() as stack:
            seeds_iter = todo
            if show:
                stack.enter_context(logging_redirect_tqdm())  # log lines above the bars, not through them
                seeds_iter = stack.enter_context(tqdm(todo, desc=f"{base.method} {base.dataset}", unit="seed"))
            configs = [base.replace(seed=seed) for seed in todo]
            results = run_experiments(configs, bench, pack=args.pack, progress=show, log=log)
            for i, (seed, cfg, res) in enumerate(zip(seeds_iter, configs, results), 1):
                # tidy rows: every config value as a column, then every metric (as the sweep tables)
                rows = _add_rows(out, [{**cfg.to_dict(), **res.to_dict()}])  # after every seed: resumable
                if not show:
                    left = (time.perf_counter() - t0) / i * (len(todo) - i)
                    log.info("seed %d done (%d/%d)%s", seed, i, len(todo),
                             f", about {_duration(left)} left" if i < len(todo) else "")
    mine = [r for r in rows if run_key(r) == key and int(r["seed"]) in seeds]
    if not mine:
        raise ConfigError("no results to summarise")
    summary = summarise(mine)
    summary.update(space=base.space, dataset=base.dataset, method=base.method, config_hash=chash,
                   data_source=bench.source, data_fingerprint=key[1], seeds=args.seeds)
    with _locked(out):
        _write_summary(out, summary)
    atomic_write_text(out / "configs" / f"{chash}.yaml", _yaml(base.to_dict()))
    print(format_summary(summary, base.dataset, base.method, num_cells=len(bench)))
    return 0


def _yaml(d: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump({k: v for k, v in d.items() if k != "seed"}, sort_keys=False)


_DESCRIPTION = """\
Run one method on one benchmark for several seeds, write the results and print a summary
like the papers' tables.

Writes DIR/results.csv and DIR/results.parquet (one row per config hash and seed, after every
seed), DIR/summary.csv (one row per config hash and data) and DIR/configs/<config hash>.yaml.
Each row records the data it was computed on (data_source, and data_fingerprint: a hash of the
loaded benchmark's content). Running again into the same --out skips the seeds already there for
the same config and the same data; rows of other configs or other data are kept, never deleted
or replaced, also when several runs write into one --out at once (they take turns on a lock
file, DIR/.nar-run.lock, and merge with what is on disk). The output directory, the data and the device are
checked before any work (exit status 2 and one line naming the problem).

Progress (seeds, epochs, search iterations, with the time left) is shown when stderr is a
terminal; otherwise one plain log line per seed. --progress / --no-progress force either.
"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    from .cli import allowed_values_text
    from .spaces import space_names

    p = subparsers.add_parser(
        "run", help="run a method for several seeds and summarise", description=_DESCRIPTION,
        epilog="allowed values:\n" + allowed_values_text() + (
            "\nexamples:\n"
            "  nar run --space nb201 --dataset cifar10 --method narq2t --seeds 0-9 --out runs/c10\n"
            "  nar run --method random_search --seeds 0-2 --quick --out runs/smoke\n"
            "  nar run --space nb101 --data nasbench_only108.tfrecord --seeds 0-4 --out runs/nb101"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--space", choices=space_names(), default=None, metavar="SPACE", help="search space (see below)")
    p.add_argument("--dataset", default=None, help="dataset of the space (see below)")
    p.add_argument("--method", default=None, help="search method (see below)")
    p.add_argument("--seeds", default="0", help="seeds, e.g. 0-9 or 0,3,5 (default 0)")
    p.add_argument("--pack", type=positive_int, default=1, metavar="N",
                   help="train N seeds at a time as one packed model (the Transformer rankers; each seed's row "
                        "is the row it gets alone: bit for bit on the CPU in fp32 at one torch thread, --set "
                        "num_threads=1; within rounding otherwise; each row is written as its search ends). Fills "
                        "a GPU that one run leaves idle; on a CPU it saves nothing (default 1)")
    p.add_argument("--data", default=None, help="benchmark data file or directory (default: $NAR_DATA, else ../shared/data, else the NAS-Bench-201 table shipped with the package)")
    p.add_argument("--out", required=True, help="output directory (results.csv, results.parquet, summary.csv)")
    p.add_argument("--preset", choices=tuple(PRESETS), default=DEFAULT_PRESET,
                   help="default: the authors' code, the papers' text where the code is silent; authors: the "
                        "authors' public code exactly; paper: the papers' text as printed (docs/fidelity.md); "
                        "--config and --set apply on top")
    p.add_argument("--config", default=None, help="YAML file of config overrides")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override one config field (repeatable)")
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:N or auto")
    p.add_argument("--budget", type=int, choices=tuple(BUDGETS), default=None, metavar="QUERIES",
                   help=budget_help() + " (default: the space's own settings, the papers' budget: 1,506 on nb201); "
                        "--set applies on top")
    p.add_argument("--quick", action="store_true", help="smoke-run settings: " + ", ".join(f"{k}={v}" for k, v in QUICK_SETTINGS.items()))
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bars for seeds, epochs and search iterations (default: when stderr is a terminal)")
    p.set_defaults(func=run)
    return p
