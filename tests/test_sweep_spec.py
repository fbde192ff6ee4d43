"""Sweep specs: the papers' grids, validation errors naming the field, YAML round trip, CLI exit codes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from nar_core.cli_common import seeds_text
from nar_core.errors import ConfigError
from nar_core.sweep import QUICK_SETTINGS, Param, SweepSpec, load_spec, parse_seeds
from nar_core.sweep.runner import SweepOptions, prepare, run_sweep

ROOT = Path(__file__).resolve().parents[1]
PAPER = ROOT.parent / "shared" / "reference" / "paper_results"
sys.path.insert(0, str(ROOT / "sweeps"))

import kl_thresholds  # noqa: E402
import loss_factors  # noqa: E402
import random_proportion  # noqa: E402
import tiers  # noqa: E402

ALL_SPECS = [tiers.SPEC, random_proportion.SPEC, kl_thresholds.SPEC, *loss_factors.SPECS.values()]


def _paper(name: str) -> pd.DataFrame:
    path = PAPER / name
    if not path.exists():
        pytest.skip(f"paper tables not found at {PAPER} (shared reference data absent)")
    return pd.read_csv(path)


# --- the grids reproduce the tables' rows ------------------------------------------------------------
def test_tiers_grid_matches_table_iv():
    t = _paper("narq2t_table4_num_tiers.csv")
    paper_rows = {(("no_tier" if pd.isna(r.num_tiers) else int(r.num_tiers)), int(r.top_k))
                  for r in t.itertuples()}
    grid_rows = {(r.get("num_tiers", "no_tier") if r.get("method") != "no_tier" else "no_tier", r["top_k"])
                 for r in tiers.SPEC.grid}
    assert grid_rows == paper_rows and len(tiers.SPEC.grid) == 8
    assert tiers.SPEC.space == "nb101" and len(tiers.SPEC.seeds) == int(t.n_runs.iloc[0]) == 5
    # beta = num_tiers - 1 keeps the paper's beta = 4 at 5 tiers and stays valid for 3 tiers.
    cfg5 = tiers.SPEC.trial_config({"num_tiers": 5, "top_k": 1})
    cfg3 = tiers.SPEC.trial_config({"num_tiers": 3, "top_k": 5})
    assert (cfg5.tier_index, cfg3.tier_index, cfg3.num_tiers, cfg3.top_k) == (4, 2, 3, 5)
    assert tiers.SPEC.trial_config({"method": "no_tier", "top_k": 1}).method == "no_tier"


def test_rank_loss_grids_match_table_vi():
    t = _paper("narq2t_table6_rank_loss_factor.csv")
    names = {"CIFAR-10": "rank_cifar10", "CIFAR-100": "rank_cifar100", "ImageNet-16-120": "rank_imagenet16"}
    for (bench, ds), grp in t.groupby(["benchmark", "dataset"]):
        key = "rank_nb101" if bench == "NAS-Bench-101" else names[ds]
        spec = loss_factors.SPECS[key]
        assert sorted(r["rank_loss_factor"] for r in spec.grid) == sorted(grp.loss_factor.unique().astype(float))
        assert len(spec.seeds) == int(grp.n_runs.iloc[0])
        bold = float(grp[grp.selected_in_paper == "yes"].loss_factor.iloc[0])
        # The bold (chosen) factor of each benchmark is the config default of that dataset.
        assert spec.trial_config({}).rank_loss_factor == bold


def test_latency_and_losses_grids():
    t9 = _paper("narq2t_table9_latency_loss_factor.csv")
    lat = loss_factors.SPECS["latency"]
    assert sorted(r["latency_loss_factor"] for r in lat.grid) == sorted(t9.loss_factor.unique().astype(float))
    assert lat.method == "nar" and lat.space == "nb201"  # latency labels exist only on NB201
    t5 = _paper("narq2t_table5_losses.csv")
    losses = loss_factors.SPECS["losses"]
    got = set()
    for r in losses.grid:
        cfg = losses.trial_config(r)
        got.add(("yes" if cfg.cls_loss_factor > 0 else "no", "yes" if cfg.rank_loss_factor > 0 else "no", cfg.top_k))
    assert got == {(r.cls_loss, r.ranking_loss, int(r.top_k)) for r in t5.itertuples()}


def test_random_proportion_grid_matches_table_vii():
    t = _paper("narq2t_table7_random_proportion.csv")
    assert sorted(r["random_proportion"] for r in random_proportion.SPEC.grid) == sorted(t.p.unique())


@pytest.mark.parametrize("spec", ALL_SPECS, ids=lambda s: s.name)
@pytest.mark.parametrize("mode", ["grid", "optuna"])
@pytest.mark.parametrize("quick", [False, True])
def test_every_shipped_spec_validates(spec, mode, quick):
    spec.validate(mode)
    spec.resolved(quick=quick, mode=mode)
    assert SweepSpec.from_dict(spec.to_dict()) == spec.replace(grid=tuple(dict(r) for r in spec.grid),
                                                               seeds=tuple(spec.seeds))


# --- validation errors name the field ------------------------------------------------------------------
def _base(**kw) -> SweepSpec:
    d = dict(name="t", space="nb201", dataset="cifar10", method="random_search", grid=[{"top_k": 1}],
             search_space={"top_k": Param.int(1, 5)}, seeds=(0, 1))
    d.update(kw)
    return SweepSpec(**d)


@pytest.mark.parametrize("kw, mode, field", [
    ({"grid": [{"top_k": 1}, {"num_teirs": 3}]}, "grid", "spec.grid[1].num_teirs"),
    ({"fixed": {"lr": 0.1}}, "grid", "spec.fixed.lr"),
    ({"grid": []}, "grid", "spec.grid"),
    ({"grid": [{"top_k": 0}]}, "grid", "spec.grid[0]: top_k"),
    ({"grid": [{"top_k": 1}, {"top_k": 1}]}, "grid", "spec.grid: duplicate"),
    ({"grid": [{"space": "nb101"}]}, "grid", "spec.grid[0].space"),
    ({"grid": [{"seed": 3}]}, "grid", "spec.grid[0].seed"),
    ({"search_space": {"random_proportion": Param.float(0.7, 0.7)}}, "optuna", "spec.search_space.random_proportion: empty range"),
    ({"search_space": {"random_proportion": Param.float(0.0, 2.0)}}, "optuna", "random_proportion: must be in [0, 1]"),
    ({"search_space": {"top_k": Param.choice()}}, "optuna", "spec.search_space.top_k.values: empty"),
    ({"search_space": {"nope": Param.int(1, 2)}}, "optuna", "spec.search_space.nope: unknown parameter"),
    ({"search_space": {}}, "optuna", "spec.search_space: empty"),
    ({"seeds": ()}, "grid", "spec.seeds"),
    ({"seeds": (0, 0)}, "grid", "spec.seeds: duplicate"),
    ({"seeds": (-1,)}, "grid", "spec.seeds"),
    ({"metric": "accuracy"}, "grid", "spec.metric"),
    ({"mode": "maximize"}, "grid", "spec.mode"),
    ({"dataset": "mnist"}, "grid", "dataset"),
    ({"name": "a b"}, "grid", "spec.name"),
])
def test_invalid_spec_is_refused_naming_the_field(kw, mode, field):
    with pytest.raises(ConfigError) as err:
        _base(**kw).validate(mode)
    assert field in str(err.value)


def test_did_you_mean_hint():
    with pytest.raises(ConfigError, match="did you mean 'num_tiers'"):
        _base(grid=[{"num_teirs": 3}]).validate("grid")


@pytest.mark.parametrize("text, seeds", [("0-3", (0, 1, 2, 3)), ("0,3,5", (0, 3, 5)), ("0-2,7", (0, 1, 2, 7)), ("4", (4,))])
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds
    assert seeds_text(seeds) == text  # written back as it was read


@pytest.mark.parametrize("seeds, text", [((0, 1), "0-1"), ((5, 4, 3), "5,4,3"), ((0, 1, 2, 4, 5, 6, 7, 9), "0-2,4-7,9")])
def test_seeds_text_round_trips(seeds, text):
    assert seeds_text(seeds) == text and parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["", "a", "3-1", "0,0", "1-", "-1"])
def test_parse_seeds_refuses(text):
    with pytest.raises(ConfigError, match="seeds"):
        parse_seeds(text)


def test_descending_seed_range_says_how_to_write_it():
    with pytest.raises(ConfigError, match="^seeds: range 5-2 is descending; write 2-5$"):
        parse_seeds("5-2")


def test_quick_and_set_are_validated():
    # The spec as written is checked before --quick replaces its values.
    with pytest.raises(ConfigError, match=r"spec.fixed: epochs: must be >= 1"):
        _base(fixed={"epochs": -3}).resolved(quick=True)
    # --quick, then --set on top; the result is what every trial runs.
    spec = _base(fixed={"epochs": 9, "top_k": 2}, grid=[{"num_tiers": 6}])
    r = spec.resolved(quick=True, overrides={"epochs": 2}, dataset="cifar100")
    assert r.fixed["epochs"] == 2 and r.fixed["d_model"] == QUICK_SETTINGS["d_model"] and r.fixed["top_k"] == 2
    cfg = r.trial_config(r.grid[0], seed=1)
    assert (cfg.epochs, cfg.dataset, cfg.num_tiers, cfg.seed) == (2, "cifar100", 6, 1)
    with pytest.raises(ConfigError, match="--set epochz: unknown parameter .did you mean 'epochs'"):
        spec.resolved(overrides={"epochz": 2})
    with pytest.raises(ConfigError, match="--set num_tiers: the grid of this spec varies it"):
        spec.resolved(overrides={"num_tiers": 4})
    with pytest.raises(ConfigError, match="epochs: must be >= 1"):
        spec.resolved(overrides={"epochs": 0})
    with pytest.raises(ConfigError, match="latency_loss_factor"):
        _base(grid=[{"latency_loss_factor": 1.0}]).resolved(space="nb101")


def test_bad_options_refused_before_anything_starts(tmp_path):
    spec = _base()
    for opts, field in [(SweepOptions(num_samples=0), "num_samples"), (SweepOptions(cpus_per_trial=0), "cpus_per_trial"),
                        (SweepOptions(gpus_per_trial=1.5), "gpus_per_trial"), (SweepOptions(max_failures=-1), "max_failures"),
                        (SweepOptions(early_stop=True), "early_stop"), (SweepOptions(mode="random"), "mode")]:
        opts.storage = str(tmp_path)
        with pytest.raises(ConfigError, match=field):
            run_sweep(spec, opts)
    assert not any(tmp_path.iterdir())  # nothing was created


def test_resume_with_changed_settings_is_refused(tmp_path):
    spec = _base()
    _, state = prepare(spec, SweepOptions())
    exp = tmp_path / "t"
    exp.mkdir()
    import json

    (exp / "sweep.json").write_text(json.dumps(state))
    with pytest.raises(ConfigError, match="already exists"):
        run_sweep(spec, SweepOptions(storage=str(tmp_path)))
    with pytest.raises(ConfigError, match="seeds"):
        run_sweep(spec, SweepOptions(storage=str(tmp_path), resume=True, seeds=(0, 1, 2)))


# --- YAML -------------------------------------------------------------------------------------------------
def test_yaml_round_trip_and_errors(tmp_path):
    import yaml

    spec = loss_factors.SPECS["losses"]
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(spec.to_dict()))
    loaded = load_spec(path)
    assert loaded.to_dict() == spec.to_dict()
    loaded.validate("grid")
    loaded.validate("optuna")
    bad = spec.to_dict()
    bad["grid"][2]["top_kk"] = 3
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match=r"spec.grid\[2\].top_kk"):
        load_spec(path).validate("grid")
    bad = spec.to_dict()
    bad["search_space"]["cls_loss_factor"] = {"kind": "float", "low": 1.0, "high": 0.0}
    path.write_text(yaml.safe_dump(bad))
    with pytest.raises(ConfigError, match="spec.search_space.cls_loss_factor: empty range"):
        load_spec(path).validate("optuna")
    path.write_text(yaml.safe_dump({**spec.to_dict(), "budget": 3}))
    with pytest.raises(ConfigError, match="budget"):
        load_spec(path)
    with pytest.raises(ConfigError, match="not found"):
        load_spec(tmp_path / "missing.yaml")


def test_param_to_optuna_distributions():
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    f = Param.float(0.1, 10, log=True).to_optuna()
    assert isinstance(f, FloatDistribution) and (f.low, f.high, f.log) == (0.1, 10, True)
    i = Param.int(3, 9, step=2).to_optuna()
    assert isinstance(i, IntDistribution) and (i.low, i.high, i.step) == (3, 9, 2)  # both bounds inclusive
    assert Param.choice("flops", "params").to_optuna() == CategoricalDistribution(["flops", "params"])


# --- the scripts' command line ----------------------------------------------------------------------------------
def _script(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_script_exit_codes_and_dry_run(tmp_path):
    r = _script("sweeps/tiers.py", "--dry-run", "--quick", "--seeds", "0-1", "--num-samples", "3", "--storage", str(tmp_path))
    assert r.returncode == 0, r.stderr
    assert "would run 3 trial(s) x 2 seed(s)" in r.stdout and "no_tier" in r.stdout
    r = _script("sweeps/tiers.py", "--dry-run", "--seeds", "5-2")
    assert r.returncode == 2 and r.stderr.strip() == "sweeps/tiers.py: error: seeds: range 5-2 is descending; write 2-5"
    r = _script("-m", "nar_core.cli", "run", "--seeds", "5-2", "--out", str(tmp_path / "run"))
    assert r.returncode == 2 and r.stderr.strip() == "nar run: error: seeds: range 5-2 is descending; write 2-5"
    r = _script("sweeps/tiers.py", "--dry-run", "--set", "top_kk=3")
    assert r.returncode == 2 and "--set top_kk: unknown parameter (did you mean 'top_k'?)" in r.stderr
    r = _script("sweeps/tiers.py", "--dry-run", "--space", "nb201", "--dataset", "cifar100", "--set", "epochs=2",
                "--num-samples", "1")
    assert r.returncode == 0 and "would run 1 trial(s) x 5 seed(s)" in r.stdout, r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nspace: nb201\ngrid:\n  - {num_teirs: 3}\n")
    r = _script("sweeps/tiers.py", "--spec", str(bad), "--dry-run")
    assert r.returncode == 2 and "spec.grid[0].num_teirs" in r.stderr
    r = _script("sweeps/loss_factors.py", "--help")
    assert r.returncode == 0 and "--table" in r.stdout and "--resume" in r.stdout
    assert not any(tmp_path.glob("tiers*")) and not (tmp_path / "run").exists()



def test_default_space_is_the_readme_main_jobs_and_the_header_names_it(tmp_path):
    r = _script("sweeps/tiers.py", "--dry-run", "--num-samples", "1", "--storage", str(tmp_path))
    assert r.returncode == 0 and "settings: space nb201, dataset cifar10, preset default" in r.stdout, r.stdout + r.stderr
    r = _script("sweeps/tiers.py", "--dry-run", "--num-samples", "1", "--space", "nb101", "--storage", str(tmp_path))
    assert r.returncode == 0 and "settings: space nb101," in r.stdout
    r = _script("sweeps/loss_factors.py", "--table", "rank_nb101", "--dry-run", "--num-samples", "1")
    assert r.returncode == 0 and "settings: space nb101," in r.stdout  # the table names its space
    from nar_core.sweep.cli import DEFAULT_SPACE, default_space

    assert DEFAULT_SPACE == "nb201" and default_space("queries_vs_accuracy", None) == "nb201"
    assert default_space("rank_nb101", None) == "nb101" and default_space("narq2t", None) == "nb201"


def test_console_lines_and_final_table():
    from nar_core.sweep.console import final_table, header_line, paper_table_commands, trial_line
    from nar_core.sweep.runner import SweepOptions, prepare

    recs = [{"test_acc": 93.0, "test_acc_valpick": 92.0, "val_acc": 90.0, "node_ip": "10.0.0.11", "total_seconds": 4.0},
            {"test_acc": 94.0, "test_acc_valpick": 92.5, "val_acc": 91.0, "node_ip": "10.0.0.12", "total_seconds": 5.0}]
    line = trial_line(1, 3, "grid-0002", {"num_tiers": 5, "top_k": 1.0}, recs)
    assert line == ("[1/3] grid-0002  num_tiers=5 top_k=1  test-pick 93.50 ± 0.71  val-pick 92.25 ± 0.35  "
                    "(2 seeds, 10.0.0.11, 10.0.0.12, 9 s)")
    nb101 = [{**r, "val_acc": float("nan")} for r in recs[:1]]  # no validation split: no val-pick
    assert "test-pick 93.00  val-pick n/a  (1 seed, 10.0.0.11, 4 s)" in trial_line(2, 3, "grid-0000", {}, nb101)
    df = pd.DataFrame([
        {"trial_id": "grid-0001", "seed": s, "status": "ok", "params": '{"top_k": 1}', **recs[s]} for s in (0, 1)]
        + [{"trial_id": "grid-0000", "seed": s, "status": st, "params": '{"method": "no_tier", "top_k": 5}',
            "test_acc": 95.0, "test_acc_valpick": 94.0, "val_acc": 93.0} for s, st in ((0, "ok"), (1, "pending"))])
    text = final_table(df).splitlines()
    assert text[1].split() == ["trial", "method", "top_k", "seeds", "test_acc", "(test-pick)", "test_acc_valpick",
                               "(val-pick)", "status"]
    assert text[2].split() == ["grid-0000", "no_tier", "5", "1/2", "95.00", "94.00", "ok", "1,", "pending", "1"]
    assert text[3].split() == ["grid-0001", "-", "1", "2/2", "93.50", "±", "0.71", "92.25", "±", "0.35", "ok"]
    assert paper_table_commands("loss_factors_rank_cifar10", "/r/x") == ["nar tables table narq2t-VI --results /r/x"]
    assert paper_table_commands("my_own_spec", "/r/x") == []
    from nar_core.ablations import script_specs

    spec = script_specs("tiers")["narq2t"]
    opts = SweepOptions(space="nb201", quick=True, seeds=(0, 1), num_samples=3)
    resolved, state = prepare(spec, opts)
    head = header_line(resolved, opts, state, "/runs/tiers", resumed=False)
    assert head == ("sweep tiers (grid): space nb201 (NAS-Bench-201), dataset cifar10, budget 289 queries (--quick), "
                    "preset default, 3 trials x 2 seeds, storage /runs/tiers")
    opts = SweepOptions(space="nb201", budget=150, seeds=(0,), num_samples=1)
    resolved, state = prepare(spec, opts)
    assert ", budget 150 queries, preset default, 1 trial x 1 seed," in header_line(resolved, opts, state, "/r/t", False)
