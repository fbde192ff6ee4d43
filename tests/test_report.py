"""The ablation registry, the budget table, the verdicts and ``nar report``.

The result rows built here are TEST INPUT for the verdict and report logic (accuracies chosen so
that each verdict is known by construction). They are not results of any run; the committed
``results/`` are, and the last test checks the committed ``report/`` is what they give.
"""
from __future__ import annotations

import filecmp
import re
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nar_core import ablations as A
from nar_core.ablations.aggregation import DuplicateRunError, paper_results_dir, superseded_mask
from nar_core.ablations.render import display_frame
from nar_core.ablations.report import write_report
from nar_core.ablations.verdicts import (
    MARGIN, against_baselines, bootstrap_interval, family_sizes, holm, judge_claim, paired_stats, summary,
    verdict_table, welch_stats,
)
from nar_core.budget import BUDGETS, budget_of, budget_settings, total_queries
from nar_core.config import DEFAULT_PRESET, SETTINGS_VERSION, ExperimentConfig
from nar_core.errors import ConfigError, DataError
from nar_core.io import RESULT_TEXT_COLUMNS

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "sweeps"))
sys.path.insert(0, str(REPO / "tests"))
try:
    paper_results_dir()
    HAVE_PAPER = True
except DataError:
    HAVE_PAPER = False
needs_paper = pytest.mark.skipif(not HAVE_PAPER, reason="paper CSVs (../shared/reference/paper_results) absent")


# --- budget table ----------------------------------------------------------------------------------
def test_budget_table_adds_up_and_names_rows():
    assert sorted(BUDGETS) == [50, 100, 150, 300, 600, 1506]
    for total, s in BUDGETS.items():
        assert total_queries(s) == total
        assert s["sample_size"] == s["batch_size"] and s["batch_size"] >= 5
        ExperimentConfig.for_space("nb201", **s)  # every budget is a valid config
    # the measured setting of issue 10 and the papers' budget
    assert BUDGETS[150] == dict(train_size=100, val_size=25, search_iterations=5, top_k=5, batch_size=50,
                                sample_size=50, epochs=100)
    paper = ExperimentConfig.for_space("nb201").to_dict()
    assert all(paper[k] == v for k, v in BUDGETS[1506].items())
    assert budget_of({**paper, "top_k": 1}) == "1506"  # top-k varies inside a budget (Table XI)
    assert budget_of({**paper, "train_size": 999}) == "other"
    with pytest.raises(ConfigError, match="150"):
        budget_settings(151)


def test_budget_and_preset_reach_every_trial():
    spec = A.script_specs("tiers")["narq2t"]
    r = spec.resolved(space="nb201", budget=150, preset="authors", overrides={"num_threads": 1})
    cfg = r.trial_config({"num_tiers": 3, "top_k": 1}, seed=2)
    assert (cfg.train_size, cfg.val_size, cfg.search_iterations, cfg.epochs, cfg.top_k) == (100, 25, 5, 100, 1)
    assert cfg.sampling_mode == "interval" and cfg.interval_scope == "batch" and cfg.rank_loss_factor == 1.0
    assert r.to_dict()["preset"] == "authors"
    with pytest.raises(ConfigError, match="preset"):
        spec.resolved(preset="nope")


# --- registry ----------------------------------------------------------------------------------------
def test_nar_run_budget_gives_the_gpu_batches_configs():
    """Every line of the committed GPU job lists, as `nar run --budget N` builds it, is a config of the
    committed results, and every *_cuda.csv row is one of those lines (results/specs/gpu_batch.sh)."""
    import argparse
    import shlex

    from nar_core.cli_run import add_parser, build_config
    from nar_core.experiment import config_hash

    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    jobs = set()
    for f in sorted((REPO / "results" / "specs").glob("gpu_batch_*.tsv")):
        for line in f.read_text().splitlines():
            name, ds, method, seed, total, *extra = line.split("\t")
            args = parser.parse_args(["run", "--space", "nb201", "--dataset", ds, "--method", method, "--seeds", seed,
                                      "--budget", total, "--set", "num_threads=1", *shlex.split(" ".join(extra)),
                                      "--device", "cpu", "--out", "unused"])
            jobs.add(config_hash(build_config(args)))
    assert len(jobs) == 48  # 247 runs: 48 configs x seeds (two configs in two lists)

    def hashes(files) -> set[str]:  # of today's rows: a superseded row was built by the settings of its time
        tables = [pd.read_csv(f, dtype=RESULT_TEXT_COLUMNS) for f in files]
        return {h for t in tables for h in t.loc[~superseded_mask(t).to_numpy(bool), "config_hash"]}

    cuda = hashes((REPO / "results").glob("*_cuda.csv"))
    if not cuda:
        pytest.skip("every results/*_cuda.csv row predates issue 17 (superseded, to be re-run): `nar run` now "
                    "builds other configs from the same job lines")
    assert cuda <= jobs <= hashes((REPO / "results").glob("*.csv"))


def test_each_table_takes_its_papers_method():
    for a in A.ABLATIONS.values():
        for t in a.tables:
            spec = A.get_table(t)
            if spec.paper == "NAR":
                assert a.sweep.method == "nar" and "narq2t" not in spec.methods
            elif spec.label in ("IV", "V", "VII", "VIII", "X", "XI"):
                assert a.sweep.method == "narq2t" and "nar" not in spec.methods
    for c in (c for a in A.ABLATIONS.values() for c in a.claims):  # selectors name the table's keys or tags
        spec = A.get_table(c.table)
        keys = set(spec.keys) | {f"ours_{t}" for t in spec.tag_columns}
        assert set(c.better) <= keys and all(set(o) <= keys for o in c.others)


@needs_paper
def test_registry_grids_cover_the_paper_rows():
    import selected_queries
    import sampling_constraints
    import building_block

    t11 = pd.read_csv(paper_results_dir() / "narq2t_table11_num_selected_queries.csv")
    grid = {("yes" if r.get("rank_loss_factor", 1) else "no", r["top_k"]) for r in selected_queries.SPEC.grid}
    assert grid == {(r.ranking_loss, int(r.top_k)) for r in t11.itertuples()}
    t8 = pd.read_csv(paper_results_dir() / "narq2t_table8_sampling_constraints.csv")
    assert len(sampling_constraints.SPEC.grid) == t8[["constraints", "top_k"]].drop_duplicates().shape[0] == 9
    assert {r["method"] for r in building_block.SPECS["nar"].grid} == {"convnet", "nar"}


# --- verdicts ---------------------------------------------------------------------------------------
def test_paired_statistics_match_scipy_stats():
    from scipy import stats

    rng = np.random.default_rng(0)
    a = rng.normal(94.1, 0.4, 8)
    b = a - 0.2 + rng.normal(0, 0.1, 8)
    s = paired_stats(a, b)
    ref = stats.ttest_rel(a, b)
    assert s.p_for == pytest.approx(ref.pvalue, rel=1e-9) and s.n == 8
    assert s.ci95_t == pytest.approx(tuple(ref.confidence_interval(0.95)), rel=1e-9)
    assert s.diff == pytest.approx(float(np.mean(a - b)))
    # the bootstrap interval is deterministic (a fixed generator seed) and close to the t interval
    assert bootstrap_interval(a - b) == bootstrap_interval(a - b) == s.ci95_boot
    assert abs(s.ci95_boot[0] - s.ci95_t[0]) < 0.05 and abs(s.ci95_boot[1] - s.ci95_t[1]) < 0.05
    # the MDE is the shift a two-sided paired t-test finds with power 0.8 (noncentral t)
    sd = float(np.std(a - b, ddof=1))
    se = sd / np.sqrt(8)
    crit = stats.t.ppf(0.975, 7)
    assert stats.nct.sf(crit, 7, s.mde / se) == pytest.approx(0.8, abs=1e-6)
    # non-inferiority: one-sided at the margin, with its 90% interval
    ni = paired_stats(a, b, noninferiority=True)
    assert ni.p_for == pytest.approx(stats.ttest_rel(a - b + MARGIN, np.zeros(8), alternative="greater").pvalue, rel=1e-9)
    assert ni.ci90_t == pytest.approx(tuple(stats.ttest_rel(a, b).confidence_interval(0.90)), rel=1e-9)
    assert stats.nct.sf(stats.t.ppf(0.95, 7), 7, ni.mde / se) == pytest.approx(0.8, abs=1e-6)
    # every seed equal: no spread, nothing to test on equal means; a constant shift is shown only as
    # far as n seeds can show it (2^-n), so two identical seeds never make a claim
    assert paired_stats([94.37] * 5, [94.37] * 5).p_for == 1.0
    assert paired_stats([94.47] * 5, [94.37] * 5).p_for == pytest.approx(2 * 0.5 ** 5)  # two-sided
    assert paired_stats([93.1, 93.4], [93.1, 93.4], noninferiority=True).p_for == 0.25
    assert paired_stats([94.5, 93.4], [94.2, 93.1]).p_for == pytest.approx(0.5)  # differences 0.3 up to float noise
    assert holm([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.09, 0.09, 0.2])
    assert holm([0.03, 0.04]) == pytest.approx([0.06, 0.06])  # each below 0.05 alone, neither after Holm


def _rows(method="narq2t", accs=(94.0,), preset=DEFAULT_PRESET, cell="", version=SETTINGS_VERSION,
          health="ok", valpick=None, seeds=None, **overrides) -> list[dict]:
    """Result rows of ``preset`` at the 150-query budget, one per accuracy (seed 0, 1, ...).

    ``version`` None: no ``settings_version`` column value (a row from before issue 17); ``health``
    None: no health recorded; a str or one per seed otherwise. ``valpick``: ``test_acc_valpick`` per
    seed (default: the same as ``test_acc``)."""
    out = []
    for i, a in enumerate(accs):
        s = seeds[i] if seeds is not None else i
        cfg = ExperimentConfig.for_space("nb201", preset, dataset="cifar10", method=method, seed=s,
                                         **{**BUDGETS[150], **overrides}).to_dict()
        row = {**cfg, "status": "ok", "val_acc": a - 3, "test_acc": a,
               "test_acc_valpick": a if valpick is None else valpick[i], "found_key": f"{cell}{s}"}
        if version is not None:
            row["settings_version"] = version
        if health is not None:
            row["health"] = health if isinstance(health, str) else health[i]
        out.append(row)
    return out


def _load(tmp_path: Path, rows: list[dict]) -> pd.DataFrame:
    path = tmp_path / "r.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return A.load_results([path])


def _verdicts(results: pd.DataFrame, claim: str, protocol: str = "test-pick") -> list[dict]:
    c = next(c for a in A.ABLATIONS.values() for c in a.claims if c.name == claim)
    return [line for line in judge_claim(c, results) if line["protocol"] == protocol]


def _seeds(n: int = 20, seed: int = 7, spread: float = 1.0) -> np.ndarray:
    """Per-seed accuracy of a baseline row: the seed (labelled cells, init, sampler) moves every row alike."""
    return np.round(94.0 + np.random.default_rng(seed).normal(0, spread, n), 4)


def test_known_effect_is_found_on_paired_seeds(tmp_path: Path):
    """20 seeds, B = A + 0.3 + small noise, a large seed effect shared by both rows: the paired 95%
    interval excludes 0 and the claim is reproduced, where an unpaired test would see nothing."""
    from scipy import stats

    a = _seeds()
    b = np.round(a + 0.3 + np.random.default_rng(8).normal(0, 0.05, 20), 4)
    assert stats.ttest_ind(b, a, equal_var=False).pvalue > 0.05  # the seed effect swamps it unpaired
    res = _load(tmp_path, _rows(accs=b) + _rows(method="convnet", accs=a))
    for proto in ("test-pick", "val-pick"):
        (v,) = _verdicts(res, "building_block", proto)  # MSA (B above) beats ConvNet (A above)
        lo, hi = (float(x) for x in v["ci95 t"].strip("[]").split(","))
        blo, bhi = (float(x) for x in v["ci95 boot"].strip("[]").split(","))
        assert 0 < lo < 0.3 < hi and 0 < blo < 0.3 < bhi
        assert v["verdict"] == "reproduced" and v["seeds"] == "20" and v["test"] == "group"
        assert float(v["diff"]) == pytest.approx(0.3, abs=0.03) and float(v["mde"]) < 0.1
        assert v["p"] == "<0.001" and v["holm p"] == "<0.001" and v["run on"] == "NB201 CIFAR-10"
    # the other way round: refuted
    res = _load(tmp_path, _rows(accs=a) + _rows(method="convnet", accs=b))
    assert _verdicts(res, "building_block")[0]["verdict"] == "refuted"


def test_rankers_against_baselines_unpaired_welch(tmp_path: Path):
    """A ranker and a baseline share no draws: their comparison is Welch's, unpaired, on every seed
    each side ran (10 vs 20 here), within one group (device, budget row), Holm over that table alone;
    the interval is scipy's."""
    from scipy import stats

    ranker = np.round(93.8 + np.random.default_rng(3).normal(0, 0.15, 10), 4)
    base = np.round(94.3 + np.random.default_rng(4).normal(0, 0.2, 20), 4)
    diff, ci, p = welch_stats(ranker, base)
    ref = stats.ttest_ind(ranker, base, equal_var=False)
    assert p == pytest.approx(ref.pvalue, rel=1e-9) and diff == pytest.approx(ranker.mean() - base.mean())
    assert ci == pytest.approx(tuple(ref.confidence_interval(0.95)), rel=1e-9)
    one_flat = welch_stats(ranker, [94.37] * 4)  # one side without spread: still Welch's
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # scipy: "nearly identical" (they are, on one side)
        ref = stats.ttest_ind(ranker, [94.37] * 4, equal_var=False)
    assert one_flat[2] == pytest.approx(ref.pvalue, rel=1e-9)
    # neither side with spread: the exact permutation p, so 2 seeds a side never resolve anything
    assert welch_stats([94.37] * 3, [94.37] * 4)[2] == 1.0
    assert welch_stats([94.37] * 2, [94.1] * 2)[2] == pytest.approx(1 / 3)
    assert welch_stats([94.37] * 10, [94.1] * 10)[2] == pytest.approx(2 / 184756)
    with pytest.raises(Exception, match="2 or more"):
        welch_stats([94.0], [94.1, 94.2])

    res = _load(tmp_path, _rows(accs=ranker) + _rows(method="random_search", accs=base)
                + [dict(r, device="cuda") for r in _rows(method="evolution", accs=base[:3])])  # no ranker there
    t = against_baselines(res)
    assert set(t["protocol"]) == {"test-pick", "val-pick"} and len(t) == 2 and set(t["run on"]) == {"NB201 CIFAR-10"}
    line = t[t["protocol"] == "test-pick"].iloc[0]
    assert (line["ranker"], line["baseline"], line["seeds"], line["budget"]) == ("narq2t", "random_search", "10 vs 20", "150")
    assert line["diff"] == f"{diff:+.2f}" and line["ci95 welch"] == f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"
    assert line["reading"] == "random_search ahead" and line["holm p"] == "<0.001"
    # two baselines each ahead with p below 0.05 alone: not after Holm over the table's two lines
    ahead = {"random_search": 0.26, "evolution": 0.27}
    res = _load(tmp_path, _rows(accs=ranker) + _rows(method="random_search", accs=np.round(ranker + 0.26, 4))
                + _rows(method="evolution", accs=np.round(ranker + 0.27, 4), seeds=list(range(10, 20))))
    test = against_baselines(res)[lambda d: d["protocol"] == "test-pick"].set_index("baseline")
    raw = {b: welch_stats(ranker, np.round(ranker + c, 4))[2] for b, c in ahead.items()}
    assert all(0.025 < p < 0.05 for p in raw.values())
    assert float(test.loc["evolution", "holm p"]) == pytest.approx(2 * raw["evolution"], abs=1e-3)
    assert set(test["reading"]) == {"not resolved"}
    assert against_baselines(_load(tmp_path, _rows(accs=ranker))).empty  # no baseline: nothing to compare
    # superseded rows (an older settings version) are never compared, though ranker and baseline both are
    old = _rows(accs=ranker, version=None) + _rows(method="random_search", accs=base, version=None)
    assert against_baselines(_load(tmp_path, old)).empty
    # a side with one seed is named, not dropped
    (few,) = against_baselines(_load(tmp_path, _rows(accs=ranker[:1]) + _rows(method="evolution", accs=base)))[
        lambda d: d["protocol"] == "test-pick"].to_dict("records")
    assert few["reading"] == "not compared: fewer than 2 seeds a side (1 vs 20)" and few["diff"] == ""


def test_non_inferiority_at_the_margin(tmp_path: Path):
    """"The latency head costs nothing": NARQ2TLat (B) against NARQ2T (A), margin 0.1 points, 90% interval."""
    a = _seeds()
    noise = np.random.default_rng(9).normal(0, 0.02, 20)

    def judged(shift: float) -> dict:
        b = np.round(a + shift + noise, 4)
        # the head at lambda1 = 7 (Sec. IV-C); a Table IX factor on the same seeds is another row
        other = _rows(latency_loss_factor=3.0, accs=np.round(a - 1.0, 4))
        (v,) = _verdicts(_load(tmp_path, _rows(latency_loss_factor=7.0, accs=b) + _rows(accs=a) + other),
                         "latency_head")
        return v

    v = judged(-0.01)  # costs 0.01 points: within the margin
    lo, hi = (float(x) for x in v["ci90 t"].strip("[]").split(","))
    assert v["verdict"] == "reproduced" and lo > -MARGIN and v["A"] == "method=NARQ2TLat, latency_loss_factor=7"
    v = judged(-0.3)  # costs 0.3 points: inferior beyond the margin
    lo, hi = (float(x) for x in v["ci90 t"].strip("[]").split(","))
    assert v["verdict"] == "refuted" and hi < -MARGIN
    assert judged(0.5)["verdict"] == "reproduced"  # the head helps: not worse
    assert judged(-0.1)["verdict"] == "inconclusive"  # on the margin: neither shown


def test_holm_runs_over_every_claim_group(tmp_path: Path):
    """The family is every test of the report under one protocol; each line carries its test's adjusted p."""
    a = _seeds()
    rng = np.random.default_rng(3)
    rows = _rows(accs=np.round(a + 0.3 + rng.normal(0, 0.05, 20), 4)) + _rows(method="convnet", accs=a)
    rows += _rows(latency_loss_factor=7.0, accs=np.round(a + rng.normal(0, 0.3, 20), 4))  # noisy: weak test
    table = verdict_table(_load(tmp_path, rows))
    judged = table[(table["test"] != "") & (table["protocol"] == "test-pick")]
    assert len(judged) == 2  # building block and the latency head (NARQ2T's default row is shared)
    raw = [float(p) if p != "<0.001" else 0.0 for p in judged["test p"]]
    assert [float(p) if p != "<0.001" else 0.0 for p in judged["holm p"]] == pytest.approx(holm(raw), abs=1e-3)
    assert family_sizes(table) == {"test-pick": 2, "val-pick": 2}


def test_partial_groups_are_judged_pair_by_pair(tmp_path: Path):
    """5 tiers against 3, 7 and no tiers, with only 3 tiers run: that pair is judged, the others are not run."""
    a = _seeds(10)
    rows = _rows(accs=np.round(a + 0.4, 4)) + _rows(num_tiers=3, tier_index=2, accs=a)
    lines = _verdicts(_load(tmp_path, rows), "tiers")
    got = {line["B"]: (line["verdict"], line["test"]) for line in lines}
    assert got == {"tiers=3": ("reproduced", "pair (partial group)"), "tiers=7": ("not run", ""),
                   "tiers=-": ("not run", "")}
    table = verdict_table(_load(tmp_path, rows))
    row = summary(table).set_index("claim").loc["tiers"]
    assert row["test-pick"] == "partial: 1 reproduced, 2 not run" and row["val-pick"] == row["test-pick"]


def test_both_protocols_side_by_side(tmp_path: Path):
    """Test-pick and val-pick are judged apart: here the val-pick picks undo the effect."""
    a = _seeds()
    b = np.round(a + 0.3, 4)
    res = _load(tmp_path, _rows(accs=b, valpick=a) + _rows(method="convnet", accs=a))
    (tp,) = _verdicts(res, "building_block", "test-pick")
    (vp,) = _verdicts(res, "building_block", "val-pick")
    assert (tp["verdict"], tp["metric"]) == ("reproduced", "test_acc")
    assert (vp["verdict"], vp["metric"]) == ("inconclusive", "test_acc_valpick")
    row = summary(verdict_table(res)).set_index("claim").loc["building_block"]
    assert row["test-pick"].startswith("reproduced") and row["val-pick"].startswith("inconclusive")


def test_comparisons_never_mix_devices_or_versions(tmp_path: Path):
    a = _seeds(5)
    rows = _rows(accs=a + 0.5) + [dict(r, device="cuda:0") for r in _rows(method="convnet", accs=a)]
    res = _load(tmp_path, rows)
    assert sorted(set(res["ours_bench"])) == ["NB201 CIFAR-10", "NB201 CIFAR-10 (cuda)"]
    assert {v["verdict"] for v in _verdicts(res, "building_block")} == {"not run"}
    rows = _rows(accs=a + 0.5) + [dict(r, precision="bf16") for r in _rows(method="convnet", accs=a)]
    res = _load(tmp_path, rows)
    assert sorted(set(res["ours_bench"])) == ["NB201 CIFAR-10", "NB201 CIFAR-10 (cpu, bf16)"]
    assert {v["verdict"] for v in _verdicts(res, "building_block")} == {"not run"}
    rows = _rows(accs=a + 0.5, version=SETTINGS_VERSION + 1) + _rows(method="convnet", accs=a)
    assert {v["verdict"] for v in _verdicts(_load(tmp_path, rows), "building_block")} == {"not run"}


def _two_dropouts(tmp_path: Path, a: np.ndarray) -> pd.DataFrame:
    """MSA at seeds 0-19; ConvNet at seeds 0-9 (r.csv) and, with another dropout, at 10-19 (more.csv)."""
    pd.DataFrame(_rows(method="convnet", accs=a[10:], seeds=list(range(10, 20)), dropout=0.2)).to_csv(
        tmp_path / "more.csv", index=False)
    pd.DataFrame(_rows(accs=np.round(a + 0.3, 4)) + _rows(method="convnet", accs=a[:10])).to_csv(
        tmp_path / "r.csv", index=False)
    return A.load_results([tmp_path])


def test_two_configs_of_one_row_are_never_paired_as_one(tmp_path: Path):
    """ConvNet at two dropouts on seeds 0-9 and 10-19: one row of the table by its keys, but two
    configs; paired seed by seed with MSA they would pass for 20 paired seeds. The line says how the
    configs differ, and each one's seeds and files."""
    a = _seeds()
    res = _two_dropouts(tmp_path, a)
    why = (f"building block=ConvNet: 2 configs in this group (dropout 0.1 / 0.2; seeds 0-9 / 10-19; "
           f"{tmp_path.name}/r.csv / {tmp_path.name}/more.csv)")
    for proto in ("test-pick", "val-pick"):
        (v,) = _verdicts(res, "building_block", proto)
        assert v["verdict"] == "not run" and why in v["detail"] and v["same cell"] == ""
    # the rankers-against-baselines table refuses such a side too (unpaired, still two settings)
    base = _rows(method="evolution", accs=a[:10]) + _rows(method="evolution", accs=a[10:], seeds=list(range(10, 20)),
                                                        sample_size=10)
    (line,) = against_baselines(_load(tmp_path, _rows(accs=a) + base))[lambda d: d["protocol"] == "test-pick"].to_dict(
        "records")
    assert line["reading"].startswith("not compared: method=evolution: 2 configs in this group (sample_size 50 / 10; "
                                      "seeds 0-9 / 10-19")
    rows = _rows(accs=np.round(a + 0.3, 4)) + _rows(method="convnet", accs=a)  # one config: judged on 20 seeds
    assert _verdicts(_load(tmp_path, rows), "building_block")[0]["seeds"] == "20"


@needs_paper
def test_a_table_row_over_two_configs_says_so(tmp_path: Path):
    """The table shows the row as what it is: one mean over two settings, counted per metric."""
    table = A.build_table("narq2t-X", _two_dropouts(tmp_path, _seeds()))
    pooled = table[(table["ours_n"] > 0) & (table["building block"] == "ConvNet")]
    assert len(pooled) and set(pooled["ours_configs"]) == {2}
    one = table[(table["ours_n"] > 0) & (table["building block"] == "MSA")]
    assert set(one["ours_configs"]) == {1}
    spec = A.get_table("narq2t-X")
    assert display_frame(spec, pooled)["ours"].str.endswith("n=20 (2 configs pooled)").all()
    assert not display_frame(spec, one)["ours"].str.contains("pooled").any()


def test_disagreeing_duplicates_are_refused_naming_both_files(tmp_path: Path):
    rows = _rows(accs=(94.0, 94.1))
    pd.DataFrame(rows).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame([rows[1]]).to_csv(tmp_path / "b.csv", index=False)
    assert len(A.load_results([tmp_path / "a.csv", tmp_path / "b.csv"])) == 2  # the same run twice: once
    pd.DataFrame([dict(rows[1], test_acc=94.2)]).to_csv(tmp_path / "b.csv", index=False)
    with pytest.raises(DuplicateRunError) as exc:
        A.load_results([tmp_path / "a.csv", tmp_path / "b.csv"])
    msg = str(exc.value)
    assert "a.csv" in msg and "b.csv" in msg and "row 3" in msg and "row 2" in msg and "seed 1" in msg
    assert "test_acc 94.1 vs 94.2" in msg
    # the same config and seed on another device or precision is another run
    pd.DataFrame([dict(rows[1], test_acc=94.2, device="cuda")]).to_csv(tmp_path / "b.csv", index=False)
    assert len(A.load_results([tmp_path / "a.csv", tmp_path / "b.csv"])) == 3


def test_budgets_read_as_the_queries_made(tmp_path: Path):
    """A top-1 row of the 150-query row makes 129-130 queries, a top-10 row 173-175: the labels say so."""
    rows = [dict(r, queries_total=q) for r, q in zip(_rows(accs=(94.0, 94.1, 94.2), top_k=1), (130, 129, 130))]
    rows += [dict(r, queries_total=q) for r, q in zip(_rows(accs=(94.3, 94.42, 94.49)), (150, 150, 150))]
    rows += [dict(r, queries_total=q) for r, q in zip(_rows(accs=(94.3, 94.4, 94.5), top_k=10), (173, 175, 174))]
    res = _load(tmp_path, rows)
    assert res["ours_budget"].tolist() == ["129-130 (budget 150)"] * 3 + ["150"] * 3 + ["173-175 (budget 150)"] * 3
    assert set(res["_budget_row"]) == {"150"}
    (help_,) = _verdicts(res, "queries_help")
    assert (help_["budget"], help_["queries"], help_["verdict"]) == ("150", "150 vs 129-130", "reproduced")
    (sat,) = _verdicts(res, "queries_saturate")
    assert sat["queries"] == "150 vs 173-175"


def test_verdicts_by_construction(tmp_path: Path):
    hi, mid, lo = (94.3, 94.25, 94.35, 94.3, 94.28), (94.0, 94.1, 93.9, 94.05, 94.0), (93.5, 93.6, 93.4, 93.55, 93.5)
    rows = _rows(accs=hi) + _rows(rank_loss_factor=0.0, accs=lo, cell="x") + _rows(cls_loss_factor=0.0, accs=mid)
    rows += _rows(random_proportion=0.0, accs=tuple(a + 0.5 + e for a, e in zip(hi, (0, 0.01, -0.01, 0.02, 0))))
    rows += _rows(random_proportion=1.0, accs=mid)  # p = 0 beats 0.5
    rows += _rows(method="convnet", accs=(94.2, 94.4, 94.1, 94.3, 94.35))  # as good as the Transformer
    rows += _rows(preset="authors", accs=hi)  # settings differ: a group of its own, never averaged in
    rows += _rows(preset="authors", cls_loss_factor=0.0, accs=(93.5,))  # one seed of one compared row
    rows += _rows(preset="authors", accs=hi, top_k=3)  # the default row alone: nothing compared there
    res = _load(tmp_path, rows)
    lines = [r for r in _verdicts(res, "losses") if r["settings"] == "default"]
    assert [(v["B"], v["verdict"], v["seeds"], v["test"]) for v in lines] == [
        ("losses=Cls. Loss", "reproduced", "5", "group"), ("losses=Ranking Loss", "reproduced", "5", "group")]
    v = lines[0]
    assert v["run on"] == "NB201 CIFAR-10" and v["budget"] == "150" and v["within"] == "top-k=5"
    assert v["diff"].startswith("+0.") and v["A"] == "losses=Cls.+Ranking Loss"
    assert [v["same cell"] for v in lines] == ["0/5", "5/5"]  # the rank-only rows returned the default's cells
    paper = lambda claim: [r for r in _verdicts(res, claim) if r["settings"] == "default"]  # noqa: E731
    assert {p["verdict"] for p in paper("random_proportion")} == {"refuted"}
    (x,) = paper("building_block")
    assert x["verdict"] == "inconclusive"
    authors = [r for r in _verdicts(res, "losses") if r["settings"] == "authors"]
    assert [(r["within"], r["B"], r["verdict"]) for r in authors] == [  # top-k=3 group left out
        ("top-k=5", "losses=Cls. Loss", "not run"), ("top-k=5", "losses=Ranking Loss", "not run")]
    assert "fewer than 2 common seeds" in authors[0]["detail"]
    assert {r["verdict"] for r in _verdicts(res, "tiers")} == {"not run"}
    assert set(verdict_table(None)["verdict"]) == {"not run"}


def test_chosen_factor_groups_need_two_values(tmp_path: Path):
    """The chosen lambda2 (5 on NB201 CIFAR-10) against every other; a group with one value is left out."""
    hi, lo = (94.3, 94.25, 94.35, 94.3, 94.28), (94.0, 94.1, 93.9, 94.05, 94.0)
    rows = _rows(accs=hi) + _rows(rank_loss_factor=3.0, accs=lo) + _rows(rank_loss_factor=7.0, accs=lo[:1])
    rows += _rows(accs=hi, **BUDGETS[100])  # the chosen value alone, at another budget
    rows += _rows(preset="paper", rank_loss_factor=3.0, accs=lo)  # another value alone
    lines = _verdicts(_load(tmp_path, rows), "rank_factor_nb201_cifar10")
    assert {(v["within"], v["settings"], v["budget"]) for v in lines} == {
        ("benchmark=NAS-Bench-201, dataset=CIFAR-10", "default", "150")}
    got = [(v["B"], v["verdict"]) for v in lines]
    assert got == [("lambda2=3", "reproduced"), ("lambda2=7", "not run")]  # lambda2 = 7 has one seed
    assert lines[0]["detail"].startswith("lambda2=5 94.30 vs lambda2=3 94.01")


def test_not_better_claim_uses_the_margin(tmp_path: Path):
    base = (94.0, 94.1, 93.9, 94.05, 94.0)
    rows = _rows(latency_loss_factor=7.0, accs=base) + _rows(accs=tuple(a + 0.02 for a in base))
    (v,) = _verdicts(_load(tmp_path, rows), "latency_head")
    assert v["verdict"] == "reproduced"  # 0.02 points below, every seed: within the margin
    rows = _rows(latency_loss_factor=7.0, accs=base) + _rows(accs=tuple(a + 0.5 for a in base))
    (v,) = _verdicts(_load(tmp_path, rows), "latency_head")
    assert v["verdict"] == "refuted"


def test_settings_are_inferred_from_the_presets(tmp_path: Path):
    res = _load(tmp_path, _rows(accs=(94.0,)) + _rows(preset="authors", accs=(94.0,))
                + _rows(accs=(94.0,), weight_decay=0.02) + _rows(preset="paper", accs=(94.0,)))
    # weight decay is not a preset field; default and authors differ in the rank-loss factor alone
    assert res["ours_settings"].tolist() == ["default", "authors", "default", "paper"]
    res = _load(tmp_path, _rows(accs=(94.0,), pooling="mean"))
    assert res["ours_settings"].tolist() == ["custom"]
    # before issue 17: never matched against today's presets; their held knobs are the default preset's
    res = _load(tmp_path, _rows(accs=(94.0,), version=None, health=None) + _rows(accs=(94.0,), version=1)
                + _rows(preset="authors", accs=(94.0,), version=None, health=None))
    assert res["ours_settings"].tolist() == ["superseded"] * 3
    assert A.aggregation.held_defaults(res)["rank_loss_factor"].tolist() == [5.0] * 3


# --- superseded and flagged rows ---------------------------------------------------------------------
HI, MID, LO = (94.3, 94.25, 94.35, 94.3, 94.28), (94.0, 94.1, 93.9, 94.05, 94.0), (93.5, 93.6, 93.4, 93.55, 93.5)


def test_superseded_rows_are_shown_but_never_judged(tmp_path: Path):
    """Rows without settings_version predate issue 17: their own "superseded" rows in a table, no verdict."""
    old = _rows(accs=HI, version=None, health=None) + _rows(rank_loss_factor=0.0, accs=LO, version=None, health=None)
    old += _rows(cls_loss_factor=0.0, accs=MID, version=1, health=None)  # an explicit older version
    res = _load(tmp_path, old + _rows(accs=HI))  # today's default row alone: nothing to compare it with
    assert res["ours_settings"].tolist() == ["superseded"] * 15 + ["default"] * 5
    (v,) = _verdicts(res, "losses")
    assert v["verdict"] == "not run" and v["settings"] == ""
    assert "15 superseded rows" in v["detail"] and "re-run" in v["detail"]
    assert not [r for r in verdict_table(res).to_dict("records") if r["settings"] == "superseded"]
    rows = A.aggregation.labelled_rows("narq2t-V", res)
    assert sorted(set(rows["ours_settings"])) == ["default", "superseded"]  # history, a group of its own
    # with today's rows of the compared variants, the verdict is theirs alone: the superseded rows
    # (which would refute it) are not averaged in
    res = _load(tmp_path, _rows(accs=LO, version=None) + _rows(rank_loss_factor=0.0, accs=HI, version=None)
                + _rows(accs=HI) + _rows(rank_loss_factor=0.0, accs=LO) + _rows(cls_loss_factor=0.0, accs=MID))
    assert [(v["verdict"], v["settings"], v["seeds"]) for v in _verdicts(res, "losses")] == [
        ("reproduced", "default", "5")] * 2


def _commits(n: int) -> list[str]:
    """The code versions of this checkout's last ``n`` commits, oldest first (skips without git history)."""
    out = subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-list", "--max-count", str(n), "HEAD"],
                         capture_output=True, text=True)
    shas = out.stdout.split()
    if out.returncode != 0 or len(shas) < n:
        pytest.skip(f"needs a git checkout with {n} commits to order code versions by")
    return [f"0.2.0+g{s[:8]}" for s in reversed(shas)]


def test_a_rerun_at_newer_code_supersedes_the_older_rows(tmp_path: Path):
    """One config and seed at two code versions are two runs (no duplicate error although they
    disagree); the newer commit's rows are judged, the older ones shown as history, never judged;
    versions the repository cannot order are an error naming the files, not a choice by file order."""
    older, newer = _commits(2)
    def at(code, rows, drop=()):
        return [{**{k: v for k, v in r.items() if k not in drop}, "code_version": code} for r in rows]
    # the older rows predate the precision column (they ran in fp32): the same config as the newer ones
    rows = at(older, _rows(accs=LO) + _rows(rank_loss_factor=0.0, accs=HI), drop=("precision",))  # would refute
    rows += at(newer, _rows(accs=HI) + _rows(rank_loss_factor=0.0, accs=LO) + _rows(cls_loss_factor=0.0, accs=MID))
    res = _load(tmp_path, rows)
    short = older.split("+g")[1]
    assert res["ours_settings"].tolist() == [f"default, code {short} (superseded)"] * 10 + ["default"] * 15
    assert res["_superseded"].tolist() == [True] * 10 + [False] * 15
    lines = _verdicts(res, "losses")
    assert [(v["verdict"], v["settings"], v["code"], v["seeds"]) for v in lines] == [
        ("reproduced", "default", newer, "5")] * 2
    files = A.aggregation.superseded_files(res)
    assert files.to_dict("records") == [{"file": "r.csv", "rows": 10, "settings_version": str(SETTINGS_VERSION),
                                         "superseded by": f"a re-run at code {newer.split('+g')[1]}",
                                         "seeds not re-run": "0"}]
    # compared configs that ran at different commits are still compared (neither is a re-run of the
    # other), the line naming both; a re-run that repeats fewer seeds says how many it left out
    variants = at(older, _rows(rank_loss_factor=0.0, accs=LO) + _rows(cls_loss_factor=0.0, accs=MID))
    res = _load(tmp_path, variants + at(older, _rows(accs=LO)) + at(newer, _rows(accs=HI)))
    assert [(v["verdict"], v["code"], v["seeds"]) for v in _verdicts(res, "losses")] == [
        ("reproduced", " / ".join(sorted([older, newer])), "5")] * 2
    res = _load(tmp_path, variants + at(older, _rows(accs=LO)) + at(newer, _rows(accs=HI[:3])))
    assert A.aggregation.superseded_files(res)["seeds not re-run"].tolist() == ["2"]
    # older rows keep their own preset's held defaults: an `authors` row stays in the tables as history
    res = _load(tmp_path, at(older, _rows(preset="authors", accs=LO)) + at(newer, _rows(preset="authors", accs=HI)))
    assert res["ours_settings"].tolist() == [f"authors, code {short} (superseded)"] * 5 + ["authors"] * 5
    assert (res["_held_rank_loss_factor"] == res["rank_loss_factor"]).all()
    assert len(A.aggregation.labelled_rows("narq2t-V", res)) == 10
    # the same config at the newer code and at a commit this repository lacks, or with uncommitted
    # changes: no order, an error
    for unknown in ("0.2.0+gdeadbeef", newer + "-dirty"):
        rows = at(unknown, _rows(accs=LO)) + at(newer, _rows(accs=HI))
        with pytest.raises(DataError, match=r"cannot order.*move the rows of the older code out"):
            _load(tmp_path, rows)
    # one code version: disagreeing rows of one run are still refused
    with pytest.raises(DuplicateRunError, match=f"code {re.escape(newer)}"):
        _load(tmp_path, at(newer, _rows(accs=LO) + _rows(accs=HI)))


@needs_paper
def test_report_lists_superseded_files(tmp_path: Path):
    (tmp_path / "results").mkdir()
    pd.DataFrame(_rows(accs=HI, version=None, health=None)
                 + _rows(rank_loss_factor=0.0, accs=LO, version=None, health=None)).to_csv(
        tmp_path / "results" / "old.csv", index=False)
    pd.DataFrame(_rows(accs=HI, top_k=3) + _rows(accs=HI, top_k=1, version=1)).to_csv(
        tmp_path / "results" / "new.csv", index=False)
    out = write_report([tmp_path / "results"], tmp_path / "rep", figures=False)
    index = (out / "index.md").read_text()
    section = index[index.index("## Superseded results"):index.index("## Tables")]
    assert "| results/new.csv | 5 | 1 |" in section and "| results/old.csv | 10 | 1 (none) |" in section
    assert "predate issue 17" in section and "re-run" in section
    assert "15 superseded result rows" in index[index.index("## Verdicts"):index.index("## Superseded")]
    assert "| superseded |" in (out / "tables" / "narq2t-V.md").read_text()
    assert set(pd.read_csv(out / "verdicts.csv")["verdict"]) == {"not run"}
    # a report of today's rows only has no such section
    (tmp_path / "results" / "old.csv").unlink()
    (tmp_path / "results" / "new.csv").unlink()
    pd.DataFrame(_rows(accs=HI)).to_csv(tmp_path / "results" / "new.csv", index=False)
    assert "## Superseded results" not in (write_report([tmp_path / "results"], tmp_path / "rep", figures=False)
                                           / "index.md").read_text()


def test_flagged_rows_are_judged_with_the_rest_and_counted(tmp_path: Path):
    """A seed whose ranker did not learn ("tiers at chance") is an outcome of the setting under test:
    it stays in the verdict (leaving it out would favour the setting), and the verdict says so."""
    bad = ("ok", "ok", "ok", "ok", "tiers at chance; one tier predicted")
    mid = tuple(round(h - 0.3 + e, 3) for h, e in zip(HI, (0.0, 0.01, -0.01, 0.005, 0.0)))  # 0.3 below, seed by seed
    rows = _rows(accs=HI[:4] + (80.0,), health=bad) + _rows(rank_loss_factor=0.0, accs=LO, cell="x")
    rows += _rows(cls_loss_factor=0.0, accs=mid, health=("ok", "ok", "ok", "tiers at chance", "ok"))
    rows += _rows(method="random_search", accs=MID, health="")  # no ranker: no health, never flagged
    res = _load(tmp_path, rows)
    lines = _verdicts(res, "losses")
    # the failed seed (80.0) takes part: without it the claim would read reproduced
    assert [(v["verdict"], v["seeds"]) for v in lines] == [("inconclusive", "5"), ("inconclusive", "5")]
    assert {v["flagged"] for v in lines} == {"2 flagged rows judged with the rest: one tier predicted, tiers at chance"}
    kept = [r for r in rows if r.get("health") != bad[-1]]
    assert {v["verdict"] for v in _verdicts(_load(tmp_path, kept), "losses")} == {"reproduced"}
    table = A.build_table("narq2t-V", res) if HAVE_PAPER else None
    if table is not None:  # the table keeps every seed and counts the flagged ones
        t = table[(table["metric"] == "test_acc") & (table["ours_n"] > 0)].set_index("losses")
        assert t.loc["Cls.+Ranking Loss", "ours_n"] == 5 and t.loc["Cls.+Ranking Loss", "ours_flagged"] == 1
        assert t.loc["Cls.+Ranking Loss", "ours_flags"] == "one tier predicted: 1, tiers at chance: 1"
        assert t.loc["Cls. Loss", "ours_flagged"] == 0 and t.loc["Cls. Loss", "ours_flags"] == ""
        text = A.render(A.get_table("narq2t-V"), table)
        assert "| 1 (one tier predicted: 1, tiers at chance: 1) |" in text
    # every seed of a compared row flagged: still judged, and said so
    rows = _rows(accs=HI) + _rows(rank_loss_factor=0.0, accs=LO, health="tiers at chance")
    rows += _rows(cls_loss_factor=0.0, accs=MID)
    cls_only, _ = _verdicts(_load(tmp_path, rows), "losses")
    assert cls_only["seeds"] == "5" and cls_only["flagged"] == "5 flagged rows judged with the rest: tiers at chance"


# --- the report -------------------------------------------------------------------------------------
@needs_paper
def test_report_is_deterministic_and_says_not_run(tmp_path: Path):
    rows = _rows(accs=(94.3, 94.2, 94.4)) + _rows(rank_loss_factor=0.0, accs=(93.5, 93.6, 93.4))
    (tmp_path / "results").mkdir()
    pd.DataFrame(rows).to_csv(tmp_path / "results" / "a.csv", index=False)
    one = write_report([tmp_path / "results"], tmp_path / "one", figures=False)
    two = write_report([tmp_path / "results"], tmp_path / "two", figures=False)
    for f in ("index.md", "verdicts.csv", "tables/narq2t-V.md", "tables/narq2t-V.csv"):
        assert (one / f).read_bytes() == (two / f).read_bytes(), f
    index = (one / "index.md").read_text()
    assert index.index("## Verdicts") < index.index("## Tables")
    v = (one / "tables" / "narq2t-V.md").read_text()
    assert "| Ranking Loss | 5 |" in v and "not run" in v and "| default |" in v
    assert "**not run**" in (one / "tables" / "nar-6.md").read_text()
    assert not list(tmp_path.glob(".one*"))  # no temporary folder left


def _report_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nar_core.cli", "report", *args], capture_output=True, text=True,
                          timeout=300)


def test_report_cli_bad_input_exit_2(tmp_path: Path):
    proc = _report_cli("--results", str(tmp_path / "nope"), "--out", str(tmp_path / "rep"))
    assert proc.returncode == 2 and "not found" in proc.stderr
    assert not (tmp_path / "rep").exists()


def test_report_refuses_an_empty_or_foreign_folder(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    proc = _report_cli("--results", str(tmp_path / "empty"), "--out", str(tmp_path / "rep"))
    assert proc.returncode == 2, proc.stderr
    assert "holds no results table" in proc.stderr and "expected result tables" in proc.stderr
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "prices.csv").write_text("item,price\napple,1\n")
    proc = _report_cli("--results", str(tmp_path / "foreign"), "--out", str(tmp_path / "rep"))
    assert proc.returncode == 2 and "not a results table" in proc.stderr and "prices.csv" in proc.stderr
    (tmp_path / "unfinished").mkdir()
    pd.DataFrame([dict(r, status="failed") for r in _rows(accs=HI)]).to_csv(tmp_path / "unfinished" / "r.csv", index=False)
    proc = _report_cli("--results", str(tmp_path / "unfinished"), "--out", str(tmp_path / "rep"))
    assert proc.returncode == 2 and "no finished run" in proc.stderr
    assert not (tmp_path / "rep").exists()


@needs_paper
def test_report_cli_shows_progress(tmp_path: Path):
    (tmp_path / "results").mkdir()
    pd.DataFrame(_rows(accs=HI) + _rows(rank_loss_factor=0.0, accs=LO)).to_csv(tmp_path / "results" / "a.csv", index=False)
    proc = _report_cli("--results", str(tmp_path / "results"), "--out", str(tmp_path / "rep"), "--no-figures")
    assert proc.returncode == 0, proc.stderr
    log = proc.stderr.splitlines()  # not a terminal: plain log lines, one per step
    assert log[0].startswith("nar report: [1/") and any("table narq2t-V" in line for line in log)
    assert any(line.endswith("verdicts") for line in log) and "wrote" in proc.stdout


@needs_paper
def test_report_progress_bar_on_a_terminal(tmp_path: Path, monkeypatch):
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    (tmp_path / "results").mkdir()
    pd.DataFrame(_rows(accs=HI)).to_csv(tmp_path / "results" / "a.csv", index=False)
    err = Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    write_report([tmp_path / "results"], tmp_path / "rep", figures=False, progress=True)
    assert "nar report:" in err.getvalue() and "step/s" in err.getvalue()  # a tqdm bar, not log lines
    assert "[1/" not in err.getvalue()


@needs_paper
@pytest.mark.skipif(not (REPO / "report" / "index.md").is_file(), reason="no committed report/")
def test_committed_report_is_what_the_committed_results_give(tmp_path: Path):
    out = write_report([REPO / "results"], tmp_path / "report")
    committed = REPO / "report"
    for f in sorted(committed.rglob("*")):
        if f.suffix in (".md", ".csv"):
            rel = f.relative_to(committed)
            assert (out / rel).is_file(), f"{rel} is committed but no longer generated"
            assert filecmp.cmp(f, out / rel, shallow=False), f"{rel} differs: run `nar report --results results/ --out report/`"
    made = {p.relative_to(out) for p in out.rglob("*") if p.suffix in (".md", ".csv")}
    assert made == {p.relative_to(committed) for p in committed.rglob("*") if p.suffix in (".md", ".csv")}


@needs_paper
def test_nb101_registry_grid_end_to_end_on_the_official_format(tmp_path: Path):
    """The registry's Table IV grid on an official-format nasbench_only108.tfrecord, through the harness, into the report."""
    import os

    from fixtures_nb101 import reader_rows, subset_records
    from nar_core.spaces.nb101.tfrecord import write_nasbench_tfrecord

    data = tmp_path / "nasbench_only108.tfrecord"
    write_nasbench_tfrecord(data, subset_records(reader_rows(400)))
    env = {**os.environ, "NAR_CACHE_DIR": str(tmp_path / "cache")}
    sweep = subprocess.run([sys.executable, "sweeps/tiers.py", "--space", "nb101", "--local", "--num-cpus", "2", "--quick", "--seeds", "0-1",
                            "--num-samples", "2", "--data", str(data), "--storage", str(tmp_path / "runs"), "--name", "t",
                            "--set", "num_threads=1", "-q"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert sweep.returncode == 0, (sweep.stdout + sweep.stderr)[-3000:]
    table = pd.read_csv(tmp_path / "runs" / "t" / "results.csv")
    assert set(table["space"]) == {"nb101"} and len(table) == 4 and set(table["status"]) == {"ok"}
    rep = subprocess.run([sys.executable, "-m", "nar_core.cli", "report", "--results", str(tmp_path / "runs" / "t"),
                          "--out", str(tmp_path / "report"), "--no-figures"], cwd=REPO, capture_output=True, text=True,
                         timeout=300)
    assert rep.returncode == 0, rep.stderr
    iv = (tmp_path / "report" / "tables" / "narq2t-IV.md").read_text()
    # the no-tier and 3-tier rows at top-5 on NB101, beside the paper's; --quick is no budget of the table
    # ("other") and sets no field a preset decides ("default")
    assert re.search(r"\| - \| 5 \| NB101 CIFAR-10 \| [\d-]+ \(other\) \| default \| no_tier \|", iv), iv
    assert re.search(r"\| 3 \| 5 \| NB101 CIFAR-10 \| [\d-]+ \(other\) \| default \| narq2t \|", iv), iv
    assert "n=2" in iv and "93.55" in iv
    verdicts = pd.read_csv(tmp_path / "report" / "verdicts.csv", dtype=str, keep_default_na=False)
    tiers = verdicts[(verdicts["claim"] == "tiers") & (verdicts["run on"] == "NB101 CIFAR-10")]
    assert set(tiers["verdict"]) == {"not run"} and len(tiers) == 6  # 5 and 7 tiers were not run: 3 pairs x 2 protocols


def test_one_config_and_seed_on_two_benchmark_files_are_two_runs(tmp_path: Path):
    """Same config and seed read from two data files (the full NB101 and its subset): never pooled,
    never a duplicate of each other, labelled apart."""
    a = [dict(r, data_fingerprint="aaaaaaaa11") for r in _rows(accs=HI)]
    b = [dict(r, data_fingerprint="bbbbbbbb22", test_acc=r["test_acc"] - 1.0) for r in _rows(accs=HI)]
    res = _load(tmp_path, a + b)
    assert len(res) == 10 and res["ours_bench"].nunique() == 2
    assert all("[data " in x for x in res["ours_bench"])
