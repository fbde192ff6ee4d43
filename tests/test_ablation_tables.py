"""Tests of nar_core.ablations tables: aggregation, the join with the papers' CSVs, errors, figures and the CLI.

The result rows below are TEST INPUT for the aggregation logic, written by hand so that every
expected mean/std/best can be checked by hand. They are not results of any run.
"""
from __future__ import annotations

import json
import math
import re
import statistics
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nar_core.config import SETTINGS_VERSION, ExperimentConfig
from nar_core.errors import DataError, NarError

from nar_core import ablations as T
from nar_core.cli import main as nar_main


def cli_main(argv: list[str]) -> int:
    return nar_main(["tables", *argv])

REPO = Path(__file__).resolve().parents[1]
try:
    PAPER_DIR = T.paper_results_dir()
except DataError:  # the papers' tables live outside the repo
    PAPER_DIR = None
needs_paper = pytest.mark.skipif(PAPER_DIR is None, reason="paper CSVs (../shared/reference/paper_results) absent")


def run_row(space: str = "nb101", metrics: dict | None = None, **overrides) -> dict:
    """One results row of today's settings version: the default config for ``space`` with
    ``overrides``, plus metric values (``settings_version`` / ``health`` among them override)."""
    cfg = ExperimentConfig.for_space(space, **overrides).to_dict()
    row = {**cfg, "found_key": "x", "val_acc": float("nan"), "test_acc": float("nan"),
           "settings_version": SETTINGS_VERSION}
    row.update(metrics or {})
    return row


def write_results(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


# Test input: NB101, NAR with 5 tiers and top-5, four seeds; NARQ2T Table IV's row (5, 5).
TIER5_TOP5 = [94.10, 94.02, 94.19, 93.98]


@pytest.fixture()
def nb101_results(tmp_path: Path) -> Path:
    rows = [run_row(method="narq2t", seed=s, num_tiers=5, top_k=5, metrics={"test_acc": a, "val_acc": a - 3})
            for s, a in enumerate(TIER5_TOP5)]
    rows += [run_row(method="narq2t", seed=s, num_tiers=3, tier_index=3, top_k=1, metrics={"test_acc": a})
             for s, a in enumerate([93.90, 94.00])]
    rows += [run_row(method="no_tier", seed=s, top_k=5, metrics={"test_acc": a}) for s, a in enumerate([93.1, 93.5])]
    # p = 0.3 belongs to Table VII only; it must not leak into Table IV's (5, 5) row.
    rows += [run_row(method="narq2t", seed=s, random_proportion=0.3, metrics={"test_acc": 90.0}) for s in range(2)]
    # a NAR run belongs to NAR's Table 3, not to NARQ2T's Table IV
    rows += [run_row(method="nar", seed=0, num_tiers=5, top_k=5, metrics={"test_acc": 50.0})]
    # a sweep trial that failed is not a run
    failed = run_row(method="narq2t", seed=9, num_tiers=5, top_k=5, metrics={"test_acc": 10.0})
    rows.append({**failed, "status": "failed", "error": "boom"})
    ok = [dict(r, status="ok", error="", trial_id="t0") for r in rows[:-1]]
    return write_results(tmp_path / "sweep" / "tiers" / "results.csv", ok + [rows[-1]])


# ------------------------------------------------------------------------------------------------
def test_aggregate_by_hand():
    df = pd.DataFrame({"k": ["a", "a", "a", "b"], "test_acc": [1.0, 2.0, 4.0, 5.0],
                       "latency_rmse": [3.0, 1.0, 2.0, float("nan")]})
    out = T.aggregate(df, ["k"], ["test_acc", "latency_rmse"]).set_index(["k", "metric"])
    a = out.loc[("a", "test_acc")]
    assert a["mean"] == pytest.approx(7 / 3)
    assert a["std"] == pytest.approx(statistics.stdev([1, 2, 4]))  # ddof=1
    assert a["best"] == 4.0 and a["n"] == 3
    assert out.loc[("a", "latency_rmse")]["best"] == 1.0  # lower is better
    b = out.loc[("b", "test_acc")]
    assert b["n"] == 1 and math.isnan(b["std"])
    assert ("b", "latency_rmse") not in out.index  # NaN metric: no row, not a zero


@needs_paper
def test_table_iv_joins_paper_and_aggregates(nb101_results: Path):
    results = T.load_results([nb101_results.parent.parent])  # folder: found recursively
    assert len(results) == 11  # failed trial dropped
    table = T.build_table("narq2t-IV", results)
    row = table[(table["tiers"] == "5") & (table["top-k"] == "5")]
    assert len(row) == 1
    r = row.iloc[0]
    # paper numbers come from the CSV, compared against the CSV itself
    paper = pd.read_csv(PAPER_DIR / "narq2t_table4_num_tiers.csv")
    p = paper[(paper["num_tiers"] == 5) & (paper["top_k"] == 5)].set_index("stat")["value"]
    assert (r["paper_mean"], r["paper_std"], r["paper_best"]) == (p["mean"], p["std"], p["best"])
    assert r["paper_mean"] == 94.07  # the printed number, Table IV
    assert r["ours_n"] == 4 and r["ours_method"] == "narq2t"
    assert (r["ours_bench"], r["ours_budget"], r["ours_settings"]) == ("NB101 CIFAR-10", "other", "default")
    nar3 = T.build_table("nar-3", results)
    assert nar3[(nar3["tiers"] == "5") & (nar3["top-k"] == "5") & (nar3["metric"] == "test_acc")]["ours_mean"].tolist() == [50.0]
    assert r["ours_mean"] == pytest.approx(statistics.mean(TIER5_TOP5))
    assert r["ours_std"] == pytest.approx(statistics.stdev(TIER5_TOP5))
    assert r["ours_best"] == 94.19
    assert r["delta"] == pytest.approx(statistics.mean(TIER5_TOP5) - 94.07)
    # the no-tier baseline is the "-" row
    dash = table[(table["tiers"] == "-") & (table["top-k"] == "5")].iloc[0]
    assert dash["ours_mean"] == pytest.approx(93.3) and dash["paper_mean"] == 93.55
    # paper rows we did not run stay, with no numbers of ours
    assert table[(table["tiers"] == "7") & (table["top-k"] == "1")]["ours_n"].tolist() == [0]
    assert len(table[table["metric"] == "test_acc"]) == 8
    text = T.render(T.get_table("narq2t-IV"), table)
    assert "94.07 ± 0.09 (94.19)" in text and "n=4" in text and "not run" in text


@needs_paper
def test_held_knobs_and_loose(nb101_results: Path):
    results = T.load_results([nb101_results])
    p = T.build_table("narq2t-VII", results)
    row = p[p["p"] == "0.3"].iloc[0]
    assert row["ours_mean"] == 90.0 and row["paper_mean"] == 93.99
    # p = 0.5 (the default) collects the default-config rows: tiers 5 / top-5 only (top_k=1 is held out)
    assert p[p["p"] == "0.5"].iloc[0]["ours_n"] == 4
    loose = T.build_table("narq2t-VII", results, loose=True)
    assert loose[loose["p"] == "0.5"].iloc[0]["ours_n"] == 6  # + top-1 and 3 tiers (no_tier is not a NARQ2T run)


@needs_paper
def test_table_ii_nb201_by_dataset_and_split(tmp_path: Path):
    rows = []
    for ds, vals in {"cifar10": [(91.5, 94.3), (91.4, 94.36)], "cifar100": [(72.5, 73.0)]}.items():
        for s, (v, t) in enumerate(vals):
            rows.append(run_row("nb201", dataset=ds, method="narq2t", seed=s, metrics={"val_acc": v, "test_acc": t}))
    rows.append(run_row("nb201", dataset="cifar-10", method="random_search", seed=0,
                        metrics={"val_acc": 91.0, "test_acc": 93.9}))
    results = T.load_results([write_results(tmp_path / "a" / "results.csv", rows)])
    table = T.build_table("narq2t-II", results).set_index(["dataset", "method", "metric"])
    c10 = table.loc[("CIFAR-10", "NARQ2T", "test_acc")]
    assert c10["ours_mean"] == pytest.approx(94.33) and c10["ours_best"] == 94.36
    assert (c10["paper_mean"], c10["paper_std"], c10["paper_best"]) == (94.35, 0.04, 94.37)
    assert table.loc[("CIFAR-100", "NARQ2T", "val_acc")]["paper_mean"] == 72.73
    rs = table.loc[("CIFAR-10", "random_search", "val_acc")]  # our baseline: no paper row
    assert rs["ours_n"] == 1 and math.isnan(rs["paper_mean"])


@needs_paper
def test_paper_numbers_only_beside_the_papers_dataset(tmp_path: Path):
    """NAR Table 7's numbers are CIFAR-10's: our CIFAR-100 row of the same keys gets none, and no delta."""
    rows = [run_row("nb201", dataset=ds, method="convnet", seed=s, top_k=5, metrics={"test_acc": a})
            for ds, a in (("cifar10", 93.9), ("cifar100", 72.0)) for s in range(2)]
    table = T.build_table("nar-7", T.load_results([write_results(tmp_path / "r.csv", rows)]))
    t = table[(table["metric"] == "test_acc") & (table["top-k"] == "5") & (table["ours_n"] > 0)].set_index("ours_bench")
    assert t.loc["NB201 CIFAR-10", "paper_mean"] == 93.89 and t.loc["NB201 CIFAR-10", "delta"] == pytest.approx(0.01)
    assert math.isnan(t.loc["NB201 CIFAR-100", "paper_mean"]) and math.isnan(t.loc["NB201 CIFAR-100", "delta"])
    assert list(t.index) == ["NB201 CIFAR-10", "NB201 CIFAR-100"]  # under the paper's row, in dataset order


@needs_paper
def test_a_plug_in_spaces_rows_sit_beside_no_paper_number(tmp_path: Path):
    """The ablation tables take any registered space; the paper's numbers sit only beside the spaces
    the comparison is made on (NB101, NB201), never beside a plug-in's rows, even on a dataset of the
    same name (CIFAR-10)."""
    from nar_core.spaces import get_space, register_space, unregister_space

    class Copy(type(get_space("nb201"))):
        name = "nb201copy"
        label = "a plug-in"

    register_space(Copy())
    try:
        rows = [run_row(space, method="convnet", seed=s, top_k=5, metrics={"test_acc": a})
                for space, a in (("nb201", 93.9), ("nb201copy", 91.0)) for s in range(2)]
        table = T.build_table("nar-7", T.load_results([write_results(tmp_path / "r.csv", rows)]))
    finally:
        unregister_space("nb201copy")
    t = table[(table["metric"] == "test_acc") & (table["top-k"] == "5") & (table["ours_n"] > 0)].set_index("ours_bench")
    assert list(t.index) == ["NB201 CIFAR-10", "nb201copy CIFAR-10"]
    assert t.loc["NB201 CIFAR-10", "paper_mean"] == 93.89
    assert math.isnan(t.loc["nb201copy CIFAR-10", "paper_mean"]) and t.loc["nb201copy CIFAR-10", "ours_n"] == 2


@needs_paper
def test_loss_table_and_latency_factor_table(tmp_path: Path):
    rows = [run_row(method="narq2t", seed=0, rank_loss_factor=0.0, top_k=3, metrics={"test_acc": 93.8}),
            run_row(method="narq2t", seed=0, cls_loss_factor=0.0, top_k=3, metrics={"test_acc": 94.0}),
            run_row(method="narq2t", seed=0, rank_loss_factor=7.0, top_k=3, metrics={"test_acc": 1.0})]
    rows += [run_row("nb201", method="nar", seed=s, latency_loss_factor=7.0,
                     metrics={"latency_rmse": 1.5, "latency_within_5": w, "latency_within_10": 80.0})
             for s, w in enumerate([40.0, 60.0])]
    results = T.load_results([write_results(tmp_path / "results.csv", rows)])
    v = T.build_table("narq2t-V", results).set_index(["losses", "top-k"])
    assert v.loc[("Cls. Loss", "3")]["ours_mean"] == 93.8 and v.loc[("Cls. Loss", "3")]["paper_mean"] == 93.86
    assert v.loc[("Ranking Loss", "3")]["ours_mean"] == 94.0
    assert v.loc[("Cls.+Ranking Loss", "3")]["ours_n"] == 0  # lambda=7 is not the paper's factor (21)
    ix = T.build_table("narq2t-IX", results).set_index(["lambda1", "metric"])
    w5 = ix.loc[("7", "latency_within_5")]
    assert w5["ours_mean"] == pytest.approx(50.0) and w5["paper_mean"] == 52  # percent, as printed
    assert ix.loc[("7", "latency_rmse")]["ours_best"] == 1.5  # lower is better


@needs_paper
def test_superseded_and_flagged_rows_in_a_table(tmp_path: Path):
    """Rows without settings_version are a "superseded" row of their own; flagged seeds are counted per row."""
    old = [run_row(method="narq2t", seed=s, metrics={"test_acc": 93.0, "settings_version": None}) for s in range(3)]
    old += [run_row(method="narq2t", seed=0, metrics={"test_acc": 92.0, "settings_version": 1})]
    new = [run_row(method="narq2t", seed=s, metrics={"test_acc": a, "health": h})
           for s, (a, h) in enumerate([(94.0, "ok"), (94.2, "tiers at chance"), (94.1, "tiers at chance; tau at chance")])]
    new += [run_row(method="no_tier", seed=s, metrics={"test_acc": 93.5, "health": "tau at chance"}) for s in range(2)]
    results = T.load_results([write_results(tmp_path / "old.csv", old), write_results(tmp_path / "new.csv", new)])
    assert results["ours_settings"].tolist() == ["superseded"] * 4 + ["default"] * 5
    table = T.build_table("narq2t-IV", results)
    five = table[(table["tiers"] == "5") & (table["top-k"] == "5") & (table["metric"] == "test_acc")]
    got = five[["ours_settings", "ours_n", "ours_mean", "ours_flagged", "ours_flags"]].astype(object).fillna("-").values.tolist()
    assert got == [["default", 3, pytest.approx(94.1), 2, "tau at chance: 1, tiers at chance: 2"],
                   ["superseded", 4, pytest.approx(92.75), "-", ""]]  # flagged seeds stay in the mean
    dash = table[(table["tiers"] == "-") & (table["top-k"] == "5") & (table["ours_n"] > 0)].iloc[0]
    assert (dash["ours_flagged"], dash["ours_flags"]) == (2, "tau at chance: 2")
    text = T.render(T.get_table("narq2t-IV"), table)
    assert "| 5 | 5 | NB101 CIFAR-10 | other | default | narq2t | 94.10 ± 0.10 (94.20) n=3 | " \
           "2 (tau at chance: 1, tiers at chance: 2) |" in text
    assert "| 5 | 5 | NB101 CIFAR-10 | other | superseded | narq2t | 92.75 ± 0.50 (93.00) n=4 |  |" in text
    assert "flagged" in text.splitlines()[-1]  # the note under the table explains the column
    assert {"ours_flagged", "ours_flags"} <= set(T.render(T.get_table("narq2t-IV"), table, "csv").splitlines()[0].split(","))


def test_unknown_table_suggests():
    with pytest.raises(NarError, match="narq2t-IV"):
        T.get_table("narq2t-IIV")
    assert T.get_table("narq2t-4").name == "narq2t-IV" and T.get_table("Tiers").name == "narq2t-IV"


@needs_paper
def test_no_matching_rows_says_what_was_found(tmp_path: Path):
    rows = [run_row("nb201", method="random_search", seed=0, metrics={"test_acc": 94.0})]
    results = T.load_results([write_results(tmp_path / "results.csv", rows)])
    with pytest.raises(T.NoMatchingRowsError) as exc:
        T.build_table("narq2t-IV", results)
    msg = str(exc.value)
    assert "space={nb201: 1}" in msg and "method={random_search: 1}" in msg and "narq2t-IV" in msg


def test_bad_results_files(tmp_path: Path):
    with pytest.raises(DataError, match="not found"):
        T.load_results([tmp_path / "nope.csv"])
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        T.load_results([tmp_path / "empty.csv"])
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match="missing column"):
        T.load_results([tmp_path / "other.csv"])
    (tmp_path / "d").mkdir()
    with pytest.raises(DataError, match="no results table"):
        T.load_results([tmp_path / "d"])


def test_duplicate_runs_count_once(tmp_path: Path):
    """A run is keyed by config, seed, device, precision and settings version: repeated, it counts once."""
    row = run_row(method="nar", seed=1, metrics={"test_acc": 94.0})
    f1 = write_results(tmp_path / "a.csv", [row])
    f2 = write_results(tmp_path / "b.csv", [dict(row, num_threads=4)])  # threads do not change a run
    assert len(T.load_results([f1, f2])) == 1
    f3 = write_results(tmp_path / "c.csv", [dict(row, device="cuda"), dict(row, device="cuda:1")])
    res = T.load_results([f1, f3])  # another device is another run (floating-point order); cuda:1 is cuda
    assert len(res) == 2 and res["ours_bench"].tolist() == ["NB101 CIFAR-10", "NB101 CIFAR-10 (cuda)"]
    f4 = write_results(tmp_path / "d.csv", [dict(row, precision="fp32"), dict(row, precision="bf16")])
    res = T.load_results([f1, f4])  # no precision column reads fp32
    assert res["_precision"].tolist() == ["fp32", "bf16"]


def test_identifiers_read_alike_from_every_file(tmp_path: Path):
    """A sweep table with a pending row stores the found cell 541 as 541.0; a hex hash stays text."""
    done = run_row("nb201", method="nar", seed=0, metrics={"test_acc": 94.0, "found_key": 541.0})
    sweep = write_results(tmp_path / "a.csv", [dict(done, status="ok"), dict(done, seed=1, status="pending", found_key=None)])
    run = write_results(tmp_path / "b.csv", [dict(done, seed=2, found_key=541, config_hash="7e93081475621085")])
    res = T.load_results([sweep, run])
    assert res["found_key"].tolist() == ["541", "541"] and res["config_hash"].iloc[1] == "7e93081475621085"


# ------------------------------------------------------------------------------------------------
def _is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@needs_paper
def test_ablation_figure_panels_compare_rows(tmp_path: Path):
    """A panel per group that ran two rows of the table; the CIFAR-100 group with the default alone gets none."""
    import struct

    from nar_core.ablations.figures import plot_ablation

    rows = [run_row("nb201", dataset=ds, method="narq2t", seed=s, num_tiers=n, tier_index=n - 1, top_k=5,
                    metrics={"test_acc": 94.0 - s / 10})
            for ds, tiers in (("cifar10", (5, 3)), ("cifar100", (5,))) for n in tiers for s in range(2)]
    results = T.load_results([write_results(tmp_path / "r.csv", rows)])
    width = lambda p: struct.unpack(">I", p.read_bytes()[16:20])[0]  # noqa: E731  PNG IHDR: pixels at dpi 100
    assert width(plot_ablation("narq2t-IV", results, tmp_path / "two.png")) == 400  # one panel, 4 inches
    one = T.load_results([write_results(tmp_path / "s.csv", [r for r in rows if r["num_tiers"] == 5])])
    assert width(plot_ablation("narq2t-IV", one, tmp_path / "one.png")) == 800  # no group has two: one panel each


@needs_paper
def test_figures(tmp_path: Path, nb101_results: Path):
    from nar_core.ablations.figures import curve_matrix, plot_ablation, plot_curves

    m = curve_matrix([[1.0, 2.0, 3.0], [2.0, 2.5]])
    assert m.tolist() == [[1.0, 2.0, 3.0], [2.0, 2.5, 2.5]]  # carried forward
    rows = []
    for method, top in (("narq2t", 91.6), ("random_search", 91.2)):
        for s in range(3):
            curve = [min(top, 89.0 + 0.1 * i + 0.05 * s) for i in range(50)]
            rows.append(run_row("nb201", method=method, seed=s,
                                metrics={"best_so_far_val": json.dumps(curve), "val_acc": curve[-1],
                                         "regret_val": 91.61 - curve[-1]}))
    results = T.load_results([write_results(tmp_path / "c" / "results.csv", rows)])
    out = plot_curves(results, tmp_path / "fig" / "curve.png")
    assert _is_png(out)
    abl = plot_ablation("narq2t-IV", T.load_results([nb101_results]), tmp_path / "fig" / "tiers.png")
    assert _is_png(abl)
    assert not list((tmp_path / "fig").glob(".*"))  # no temporary files left
    with pytest.raises(NarError, match="none of"):  # no rows of ours: nothing drawn
        plot_ablation("narq2t-IX", T.load_results([nb101_results]), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


@needs_paper
def test_paper_numbers_only_beside_runs_on_the_papers_benchmark_and_budget(tmp_path: Path):
    """NARQ2T Table IV's numbers are NB101 CIFAR-10 at the papers' budget: an NB201 run at 150 queries gets none."""
    from nar_core.ablations.figures import ablation_panels

    def panels(space: str, **budget) -> list:
        rows = [run_row(space, method="narq2t", seed=s, num_tiers=n, tier_index=n - 1, top_k=5,
                        metrics={"test_acc": 94.0 + s / 10 + (n == 5) * 0.2, "queries_total": 150 - s % 2}, **budget)
                for n in (5, 3) for s in range(3)]
        return ablation_panels("narq2t-IV", T.load_results([write_results(tmp_path / f"{space}.csv", rows)]))

    (g, pts, with_paper, paper), = panels("nb101")  # the papers' NB101 settings
    assert with_paper and paper[("5", "5")][0] == 94.07
    assert [(p[1][:2], p[4], p[5]) for p in pts] == [(("3", "5"), 3, "149-150"), (("5", "5"), 3, "149-150")]
    mean, (lo, hi) = pts[1][2], pts[1][3]
    assert mean == pytest.approx(94.3) and lo < mean < hi  # a 95% t interval over the three seeds
    from nar_core.budget import BUDGETS

    (g, pts, with_paper, _), = panels("nb201", **{k: v for k, v in BUDGETS[150].items() if k != "top_k"})
    assert not with_paper and g == ("NB201 CIFAR-10", "150", "default")


def _queries_rows() -> list[dict]:
    """Test input: two methods at two budgets on two datasets, 3 seeds; evolution better, at 0 regret at 100."""
    from nar_core.budget import BUDGETS

    rows = []
    for ds in ("cifar10", "cifar100"):
        for method, regret in (("random_search", (0.6, 0.3)), ("evolution", (0.2, 0.0))):
            for b, r in zip((50, 100), regret):
                for s in range(3):
                    rows.append(run_row("nb201", dataset=ds, method=method, seed=s, **BUDGETS[b], metrics={
                        "test_acc": 94.37 - r - s * 0.01 * (r > 0), "test_acc_valpick": 94.37 - r - 0.05,
                        "regret_test": r + s * 0.01 * (r > 0), "queries_total": b - s % 2}))
    return rows


def test_anytime_regret_and_rank_figures(tmp_path: Path):
    from nar_core.ablations.figures import plot_anytime, plot_ranks, rank_table

    results = T.load_results([write_results(tmp_path / "q.csv", _queries_rows())])
    ranks = rank_table(results)
    best = ranks[(ranks["protocol"] == "test-pick") & (ranks["series"] == "evolution")]
    assert set(best["rank"]) == {1.0} and set(best["of"]) == {2} and len(best) == 4  # 2 budgets x 2 datasets
    assert _is_png(plot_anytime(results, tmp_path / "anytime.png"))
    assert _is_png(plot_ranks(results, tmp_path / "ranks.png"))
    one = plot_anytime(results, tmp_path / "again.png")
    assert one.read_bytes() == (tmp_path / "anytime.png").read_bytes()  # seeded bootstrap: same bytes
    with pytest.raises(NarError, match="settings"):
        plot_anytime(results, tmp_path / "none.png", settings="paper")


# ------------------------------------------------------------------------------------------------
@needs_paper
def test_cli_table_all_and_exit_codes(tmp_path: Path, nb101_results: Path, capsys):
    out = tmp_path / "report"
    assert cli_main(["table", "narq2t-IV", "--results", str(nb101_results), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| 5 | 5 | NB101 CIFAR-10 | other | default | narq2t |" in printed and "94.07 ± 0.09 (94.19)" in printed
    csv = pd.read_csv(out / "narq2t-IV.csv")
    assert set(csv.columns) >= {"tiers", "top-k", "ours_mean", "paper_mean", "delta"}
    assert (out / "narq2t-IV.md").read_text().startswith("### NARQ2T Table IV")
    assert cli_main(["table", "narq2t-IV", "--results", str(nb101_results), "--format", "latex"]) == 0
    assert r"\begin{tabular}" in capsys.readouterr().out
    assert cli_main(["table", "narq2t-IIV", "--results", str(nb101_results)]) == 2
    assert "did you mean" in capsys.readouterr().err
    assert cli_main(["table", "narq2t-II", "--results", str(nb101_results)]) == 2
    assert "Found:" in capsys.readouterr().err
    assert cli_main(["table", "narq2t-IV", "--results", str(tmp_path / "missing.csv")]) == 2
    assert "results file not found" in capsys.readouterr().err


@needs_paper
def test_cli_module_entry_point_paper():
    proc = subprocess.run([sys.executable, "-m", "nar_core.cli", "tables", "paper", "narq2t-VII"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "| 0.5 | 94.07 ± 0.09 (94.19) |" in proc.stdout
    bad = subprocess.run([sys.executable, "-m", "nar_core.cli", "tables", "paper", "nope"], cwd=REPO,
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown table" in bad.stderr


def test_markdown_is_pandas_writer_with_pipes_escaped():
    """``|`` in a cell or a header is written ``\\|`` (tabulate leaves it, where it would end the cell);
    cells as written: no padding, no number parsing."""
    from nar_core.ablations.render import markdown

    df = pd.DataFrame({"a|b": ["|avg_pool_3x3~0|+|none~0|", "x"], "ours": ["93.50 ± 0.10", "-"], "n": [5, 10]})
    lines = markdown(df).splitlines()
    assert lines[0] == r"| a\|b | ours | n |"
    assert set(lines[1]) == {"|", "-"} and lines[1].count("|") == 4
    assert lines[2:] == [r"| \|avg_pool_3x3~0\|+\|none~0\| | 93.50 ± 0.10 | 5 |", "| x | - | 10 |"]
    for line in lines:  # a Markdown reader splits a row on the unescaped pipes only: 3 cells per line
        assert len(re.split(r"(?<!\\)\|", line)) == 3 + 2, line


def test_latex_is_pandas_writer_with_every_special_character_escaped():
    from nar_core.ablations.render import _latex

    df = pd.DataFrame({"top_k": ["5", "10"], "ours": ["94.07 ± 0.09 (94.19) n=5", "a&b #1 {x} ~y^2 $5 50%"],
                       "paper": ["", "-"]})
    assert _latex(df).splitlines() == [
        r"\begin{tabular}{lll}", r"\hline", r"top\_k & ours & paper \\", r"\hline",
        r"5 & 94.07 $\pm$ 0.09 (94.19) n=5 &  \\",
        r"10 & a\&b \#1 \{x\} \textasciitilde y\textasciicircum 2 \$5 50\% & - \\",
        r"\hline", r"\end{tabular}"]
