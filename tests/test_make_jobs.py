"""The job list of issue 19's runs (results/specs/make_jobs.py): each line, as `nar run` reads it
from `results/specs/gpu_batch.sh`, must build the very config the sweep builds for its grid rows,
or the GPU's rows would never pair with the sweeps' and the verdicts would compare other configs.
No run here: configs and hashes only.
"""
from __future__ import annotations

import argparse
import functools
import importlib.util
import shlex
import sys
from pathlib import Path

import pytest

from nar_core.ablations.registry import ABLATIONS
from nar_core.cli_run import add_parser, build_config
from nar_core.config import config_hash

REPO = Path(__file__).resolve().parents[1]
LIST = REPO / "results" / "specs" / "issue19_nb201_cifar10_q150.tsv"


@functools.cache
def _module():
    """results/specs/make_jobs.py, a script outside the package (registered first: its dataclass needs it)."""
    spec = importlib.util.spec_from_file_location("make_jobs", REPO / "results" / "specs" / "make_jobs.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def _batch_hash(parser: argparse.ArgumentParser, line: str) -> tuple[str, str]:
    """(config hash, method) of one job line, with the arguments gpu_batch.sh puts around it."""
    name, ds, method, seeds, total, *extra = line.split("\t")
    args = parser.parse_args(["run", "--space", "nb201", "--dataset", ds, "--method", method, "--seeds", seeds,
                              "--pack", "4", "--budget", total, "--set", "num_threads=1", *shlex.split(" ".join(extra)),
                              "--device", "cuda", "--no-progress", "--out", "unused"])
    cfg = build_config(args)
    return config_hash(cfg), cfg.method


def _sweep_rows(space: str = "nb201", dataset: str = "cifar10", budget: int = 150) -> dict[tuple[str, int], str]:
    """(ablation, grid row) -> config hash, as the sweep builds it, for every ablation with a claim
    that judges runs of ``space`` / ``dataset``."""
    out = {}
    for a in ABLATIONS.values():
        if not any(c.space in ("", space) and c.dataset in ("", dataset) for c in a.claims):
            continue
        spec = a.sweep.resolved(budget=budget, dataset=dataset, space=space)
        for i, row in enumerate(spec.grid_rows()):
            out[(a.name, i)] = config_hash(spec.trial_config(row, seed=0))
    return out


def test_issue19_list_builds_the_sweeps_configs_once_each():
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    lines = LIST.read_text().splitlines()
    want = _sweep_rows()
    by_line = {}
    for line in lines:
        name, ds, method, seeds, total = line.split("\t")[:5]
        assert (ds, seeds, total) == ("cifar10", "0-19", "150"), line
        h, built_method = _batch_hash(parser, line)
        assert built_method == method
        assert h not in by_line, f"{name} and {by_line.get(h)} run the same config"
        by_line[h] = name
        # the name is the first ablation and row that uses the config
        ablation = name.split(".")[0]
        assert any(a == ablation and want[(a, i)] == h for a, i in want), name
    assert set(by_line) == set(want.values())  # every (ablation, row) pair has its line; no line is extra
    # the rows issue 19 names: NARQ2T Tables III-XI and Fig. 10, NAR Tables 3-8 (6, and 8 without the ranking loss)
    names = {a for a, _ in want}
    assert {"tiers", "losses", "random_proportion", "sampling_constraints", "building_block", "selected_queries",
            "rank_factor_rank_cifar10", "latency_head", "encoding_attributes"} <= names
    assert {f"{n}_nar" for n in ("tiers", "losses", "random_proportion", "sampling_constraints", "building_block",
                                 "selected_queries")} <= names
    assert "rank_factor_rank_cifar100" not in names and "rank_factor_rank_nb101" not in names
    no_rank = [i for i, r in enumerate(ABLATIONS["selected_queries_nar"].sweep.grid) if r.get("rank_loss_factor") == 0]
    assert len(no_rank) == 3 and all(want[("selected_queries_nar", i)] in by_line for i in no_rank)
    assert len(want) == 106 and len(lines) == 67  # 106 grid rows, 67 distinct configs


def test_committed_list_is_what_the_script_writes():
    """The registry changed and the list did not: rerun the script (the command in its docstring)."""
    mod = _module()
    jobs, skipped = mod.make_jobs()
    assert not skipped
    assert LIST.read_text() == "".join(j.line() + "\n" for j in jobs)
    assert sum(len(j.rows) for j in jobs) == 106


def test_make_jobs_arguments(capsys):
    """Bad arguments exit 2 with one line naming the fix; another space is written so that
    gpu_batch.sh runs it there."""
    mod = _module()
    for argv, message in ((["--dataset", "c100"], "did you mean 'cifar100'"), (["--seeds", "3-1"], "write 1-3")):
        assert mod.main(argv) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:  # argparse's own refusal, also exit 2
        mod.main(["--budget", "149"])
    assert exc.value.code == 2 and "did you mean 150" in capsys.readouterr().err
    # gpu_batch.sh says --space nb201 first, so a line of another space names its own; an ablation
    # the space cannot run (the latency head: nb101 has no latency labels) is left out with a note
    jobs, skipped = mod.make_jobs(space="nb101", seeds=(0, 2, 3))
    assert jobs[0].seeds == "0,2-3" and all(j.extra[:2] == ("--space", "nb101") for j in jobs)
    assert len(skipped) == 1 and skipped[0].startswith("latency_head") and "latency labels" in skipped[0]
    assert "rank_factor_rank_nb101" in {a for j in jobs for a, _ in j.rows}


def test_done_seeds_are_left_out_and_their_commit_named(tmp_path: Path, capsys):
    """`--done results/` drops the seeds a current CPU fp32 row holds (matched on the config as today's
    code builds it, so a row written before the `precision` field still counts); a line partly done
    goes to a list of its own named after the commit to run the rest at; `--per-seed` writes a line
    per seed. Rows on another device or precision, or superseded, are not done."""
    import pandas as pd

    from nar_core.config import SETTINGS_VERSION

    mod = _module()
    jobs, _ = mod.make_jobs(seeds=(0, 1, 2, 3, 4, 5))
    job = next(j for j in jobs if j.name == "tiers.num_tiers3.top_k5")
    parser = mod._run_parser()
    rows = []
    for seed, change in ((0, {}), (1, {"precision": None}), (2, {"device": "cuda"}), (3, {"precision": "bf16"}),
                         (4, {"settings_version": 1}), (9, {})):
        cfg = mod.run_config(parser, job.dataset, job.method, seed, job.budget, job.extra).to_dict()
        cfg.pop("data_dir")
        cfg["seed"] = seed  # `nar run --seeds` sets each run's seed, not the config it builds
        row = {**cfg, "status": "ok", "test_acc": 94.0, "val_acc": 91.0, "settings_version": SETTINGS_VERSION,
               "code_version": "0.2.0+gabc1234", **change}
        rows.append({k: v for k, v in row.items() if v is not None})  # seed 1: a row from before the field
    pd.DataFrame(rows).to_csv(tmp_path / "r.csv", index=False)
    out = tmp_path / "left.tsv"
    assert mod.main(["--seeds", "0-5", "--done", str(tmp_path), "--per-seed", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "tiers.num_tiers3.top_k5: 2 of its seeds done at abc1234; the other 4 must run at that commit" in err
    assert job.name not in out.read_text()
    lines = [line.split("\t") for line in (tmp_path / "left.abc1234.tsv").read_text().splitlines()]
    assert [(n, s) for n, _, _, s, *_ in lines] == [(job.name, s) for s in ("2", "3", "4", "5")]
    assert len(out.read_text().splitlines()) == 6 * (len(jobs) - 1)
    # without --out, a partly done line has nowhere to go but a list run at the wrong commit: refused
    assert mod.main(["--seeds", "0-5", "--done", str(tmp_path)]) == 2
    assert "give --out FILE" in capsys.readouterr().err
