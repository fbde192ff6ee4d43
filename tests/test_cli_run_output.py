"""``nar run --out``: nothing lost, nothing silently changed, every problem found before any work (exit 2)."""
from __future__ import annotations

import os
import stat

import pandas as pd
import pytest
import torch

from nar_core.cli import main

FAST = ["--set", "num_threads=1", "--set", "search_iterations=4", "--set", "train_size=100", "--set", "val_size=20"]


def _run(out, method="random_search", seeds="0-1", *extra):
    return main(["run", "--method", method, "--seeds", seeds, "--out", str(out), *FAST, *extra])


def test_other_configs_rows_are_never_deleted_or_replaced(tmp_path):
    out = tmp_path / "runs"
    assert _run(out, "random_search", "0-1") == 0
    first = pd.read_csv(out / "results.csv", dtype={"config_hash": str})
    assert _run(out, "evolution", "1-2") == 0  # overlapping seed 1, another config
    both = pd.read_csv(out / "results.csv", dtype={"config_hash": str})
    assert len(both) == 4 and both.groupby("method").seed.apply(sorted).to_dict() == {
        "evolution": [1, 2], "random_search": [0, 1]}
    kept = both[both.method == "random_search"].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept[first.columns], first)  # the finished rows, unchanged
    assert _run(out, "random_search", "0-2") == 0  # resumes: only seed 2 is new
    again = pd.read_csv(out / "results.csv", dtype={"config_hash": str})
    assert len(again) == 5 and not again.duplicated(["config_hash", "seed"]).any()
    summary = pd.read_csv(out / "summary.csv", dtype={"config_hash": str})
    assert sorted(summary.method) == ["evolution", "random_search"] and summary.config_hash.is_unique
    assert summary.set_index("method").runs.to_dict() == {"evolution": 2, "random_search": 3}
    assert {p.stem for p in (out / "configs").glob("*.yaml")} == set(summary.config_hash)


def test_out_that_is_a_file_is_refused_before_any_work(tmp_path, capsys):
    target = tmp_path / "results"
    target.write_text("mine\n")
    assert _run(target) == 2
    err = capsys.readouterr().err
    assert "is a file, not a directory" in err and str(target) in err and err.count("\n") == 1
    assert target.read_text() == "mine\n"
    assert _run(target / "sub") == 2
    assert "is a file" in capsys.readouterr().err


def test_read_only_out_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    import nar_core.experiment

    calls = []
    monkeypatch.setattr(nar_core.experiment, "run_experiments", lambda *a, **k: calls.append(a) or iter(()))
    out = tmp_path / "ro"
    out.mkdir()
    os.chmod(out, stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert _run(out) == 2
        assert _run(out / "deeper") == 2  # its parent is the read-only one
    finally:
        os.chmod(out, 0o755)
    err = capsys.readouterr().err
    assert "is read-only" in err and calls == [] and list(out.iterdir()) == []


def test_foreign_results_csv_is_refused_and_kept(tmp_path, capsys):
    out = tmp_path / "theirs"
    out.mkdir()
    (out / "results.csv").write_text("model,score\nresnet,0.9\n")
    assert _run(out) == 2
    err = capsys.readouterr().err
    assert "results.csv: not a results table of nar run" in err and "use another --out" in err
    assert (out / "results.csv").read_text() == "model,score\nresnet,0.9\n" and sorted(os.listdir(out)) == ["results.csv"]
    (out / "results.csv").write_text("")
    assert _run(out) == 2 and "is empty" in capsys.readouterr().err


def test_missing_data_leaves_no_out(tmp_path, capsys):
    out = tmp_path / "new" / "run"
    assert _run(out, "random_search", "0", "--data", str(tmp_path / "nowhere")) == 2
    assert "nowhere" in capsys.readouterr().err and not (tmp_path / "new").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_cuda_leaves_no_out(tmp_path, capsys):
    out = tmp_path / "gpu"
    assert _run(out, "random_search", "0", "--device", "cuda") == 2
    assert "CUDA is not available" in capsys.readouterr().err and not out.exists()


def _nb101_csv(path, n, edit=None):
    """The first ``n`` rows of the shared NB101 subset CSV; ``edit`` replaces row 0's accuracy."""
    from tests.fixtures_nb101 import subset_csv_path

    src = subset_csv_path()
    if src is None:
        pytest.skip("no NAS-Bench-101 subset CSV in the data directory")
    df = pd.read_csv(src).iloc[:n]
    if edit is not None:
        df.loc[0, "accuracy"] = edit
    df.to_csv(path, index=False)
    return path


def test_resume_never_reuses_rows_computed_on_other_data(tmp_path):
    out = tmp_path / "runs"
    data = _nb101_csv(tmp_path / "a.csv", 400)
    run101 = lambda d, seeds="0-1": _run(out, "random_search", seeds, "--space", "nb101", "--data", str(d))  # noqa: E731
    assert run101(data) == 0
    first = pd.read_csv(out / "results.csv", dtype={"config_hash": str, "data_fingerprint": str})
    assert len(first) == 2 and first.data_fingerprint.nunique() == 1 and (first.data_source == str(data)).all()
    assert run101(data) == 0 and len(pd.read_csv(out / "results.csv")) == 2  # same data: both seeds skipped
    _nb101_csv(data, 400, edit=0.5)  # the same path, one value edited
    assert run101(data) == 0
    _nb101_csv(tmp_path / "b.csv", 350)  # another file
    assert run101(tmp_path / "b.csv", "1") == 0
    res = pd.read_csv(out / "results.csv", dtype={"config_hash": str, "data_fingerprint": str})
    assert len(res) == 5 and res.config_hash.nunique() == 1 and res.data_fingerprint.nunique() == 3
    kept = res[res.data_fingerprint == first.data_fingerprint[0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept[first.columns], first)  # the old rows, unchanged
    summary = pd.read_csv(out / "summary.csv", dtype={"config_hash": str, "data_fingerprint": str})
    assert len(summary) == 3 and sorted(summary.runs) == [1, 2, 2]


def test_concurrent_runs_into_one_out_keep_each_others_rows(tmp_path, monkeypatch):
    import nar_core.experiment

    out = tmp_path / "runs"
    real = nar_core.experiment._run_group
    other = []

    def interleaved(group, *a, **k):
        if group[0].method == "random_search" and group[0].seed == 1 and not other:
            # another config's run writes into --out while this one holds its rows in memory
            other.append(_run(out, "evolution", "0"))
        yield from real(group, *a, **k)

    monkeypatch.setattr(nar_core.experiment, "_run_group", interleaved)
    assert _run(out, "random_search", "0-1") == 0 and other == [0]
    res = pd.read_csv(out / "results.csv")
    assert sorted(zip(res.method, res.seed)) == [("evolution", 0), ("random_search", 0), ("random_search", 1)]
    assert len(pd.read_parquet(out / "results.parquet")) == 3
    assert sorted(pd.read_csv(out / "summary.csv").method) == ["evolution", "random_search"]


@pytest.mark.parametrize("name, text", [("summary.csv", "model,score\nresnet,0.9\n"),
                                        ("results.parquet", "not parquet")])
def test_foreign_summary_or_parquet_is_refused_before_any_work(tmp_path, capsys, name, text):
    out = tmp_path / "theirs"
    out.mkdir()
    (out / name).write_text(text)
    assert _run(out) == 2
    err = capsys.readouterr().err
    assert name in err and "use another --out" in err and err.count("\n") == 1
    assert sorted(os.listdir(out)) == [name] and (out / name).read_text() == text


def test_table_writes_wait_for_the_out_lock(tmp_path):
    import threading

    from nar_core import cli_run

    row = {"config_hash": "abc", "seed": 0, "space": "nb201", "dataset": "cifar10", "method": "m", "found_key": 1}
    with cli_run._locked(tmp_path):  # another run is merging its rows
        t = threading.Thread(target=cli_run._add_rows, args=(tmp_path, [row]))
        t.start()
        t.join(0.5)
        assert t.is_alive() and not (tmp_path / "results.csv").exists()
    t.join(10)
    assert len(pd.read_csv(tmp_path / "results.csv")) == 1


def test_the_result_lines_name_both_protocols_and_never_print_nan():
    from nar_core.cli_run import format_summary, summarise

    row = dict(val_acc=91.0, test_acc=94.0, val_acc_valpick=91.2, test_acc_valpick=93.9, rank_test=5,
               kendall_tau=0.6, tier_accuracy=0.5, tier_chance=0.2, queries_train=1256, queries_search=240,
               queries_total=1496, total_seconds=700.0, train_seconds=600.0, search_seconds=50.0, health="ok")
    one = format_summary(summarise([row]), "cifar10", "narq2t", num_cells=15625)
    assert "nan" not in one and "±" not in one and "1 seed" in one
    assert "test-pick  val 91.00  test 94.00" in one and "val-pick   val 91.20  test 93.90" in one
    assert "1256 labelled for training + 240 new in the search = 1496 distinct cells" in one
    assert "test rank of the returned cell 5 of 15,625 cells (1 = best)" in one
    two = format_summary(summarise([row, {**row, "test_acc": 94.2, "health": "tiers at chance"}]), "cifar10", "narq2t")
    assert "test 94.10 ± 0.14" in two and "1 of 2 seeds flagged as not learned" in two
