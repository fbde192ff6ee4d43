"""A plug-in whose architectures are digit strings ("01230"): keys stay text, leading zeros and all.

The "digits" space: 5 positions, each one of 4 operations written as its digit, 4**5 = 1,024
cells; a cell's text and its key are the same digit string, a third of them with a leading zero.
Such a key looks like a number to every CSV reader: here it must come back as the same text
from results.csv, results.parquet and summary.csv of ``nar run`` (two runs into one ``--out``),
from a sweep's tables, and from the report's loader.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nar_core.benchmarks import load_benchmark
from nar_core.benchmarks.base import Benchmark, check_column, read_csv_frame
from nar_core.errors import DataError, UnknownCellError
from nar_core.spaces import SearchSpace, get_space, register_space

DIGITS = 5
OPS = ("0", "1", "2", "3")


class DigitSpace(SearchSpace):
    """5 positions x 4 operations; cell text = key = the digit string, e.g. ``"01230"``."""

    name = "digits"
    datasets = ("toy",)
    feature_shape = (2, DIGITS + 1, DIGITS + 1)
    num_cells = len(OPS) ** DIGITS
    data_patterns = ("digits_accuracy.csv",)

    def parse(self, text):
        if len(text) != DIGITS or any(c not in OPS for c in text):
            raise UnknownCellError(f"not a digits cell: {text!r}")
        return {"ops": np.array([[int(c) for c in text]], dtype=np.int8)}

    def format(self, cells, i=0):
        return "".join(str(int(o)) for o in np.asarray(cells["ops"])[i])

    def keys(self, cells):
        ops = np.asarray(cells["ops"])
        return np.array([self.format(cells, i) for i in range(len(ops))], dtype=f"U{DIGITS}")

    def sample_with_op_probs(self, rng, n, op_probs=None):
        p = None if op_probs is None else np.asarray(op_probs, dtype=np.float64) / np.sum(op_probs)
        return {"ops": rng.choice(len(OPS), size=(int(n), DIGITS), p=p).astype(np.int8)}

    sample_uniform = sample_with_op_probs

    def op_names(self):
        return OPS

    def op_counts(self, cells):
        return (np.asarray(cells["ops"], dtype=np.int64)[:, :, None] == np.arange(len(OPS))).sum(axis=1)

    def encode(self, cells, dataset, normalize=True):
        self.canonical_dataset(dataset)
        ops = np.asarray(cells["ops"], dtype=np.float32)
        out = np.zeros((len(ops), *self.feature_shape), dtype=np.float32)
        i = np.arange(DIGITS)
        out[:, 0, i, i + 1] = ops / (len(OPS) - 1)
        out[:, 1, i, i + 1] = ops**2 / (9 if normalize else 1)
        return out

    def network_cost(self, cells, dataset):
        ops = np.asarray(cells["ops"], dtype=np.float64)
        return 1000 * (ops**2).sum(axis=1), 100 * ops.sum(axis=1)

    def defaults(self, dataset, method, preset="default"):
        return dict(train_size=96, val_size=32, d_model=16, n_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1,
                    epochs=2, batch_size=32, sample_size=32, search_iterations=4, constraint_reuse=2, num_threads=1)

    def read(self, source, *, cache=True):
        frame = read_csv_frame(source, dtype={"arch": str})  # the keys as written: "01230", not 1230
        if {"arch", "toy_val", "toy_test"} - set(frame.columns):
            raise DataError(source, "expected the columns arch, toy_val, toy_test")
        ops = np.concatenate([self.parse(a)["ops"] for a in frame["arch"]])
        keys = self.keys({"ops": ops})
        columns = {c: frame[c].to_numpy(np.float64) for c in ("toy_val", "toy_test")}
        for c, v in columns.items():
            check_column(source, c, v, row_name=lambda r: f"architecture {keys[r]}")
        flops, params = self.network_cost({"ops": ops}, "toy")
        columns.update(toy_flops=flops, toy_params=params)
        return Benchmark(self.name, keys, columns, {"ops": ops}, source=str(source))

    def mutate(self, cells, rng):
        ops = np.array(cells["ops"], dtype=np.int8).reshape(1, DIGITS)
        d = int(rng.integers(DIGITS))
        ops[0, d] = (ops[0, d] + rng.integers(1, len(OPS))) % len(OPS)
        return {"ops": ops}


register_space(DigitSpace())  # at import: a Ray worker that unpickles the space imports this module too


def write_digits_benchmark(folder: Path) -> Path:
    """Accuracy is best with a leading 0 and many 3s after it: the cells found start with "0"."""
    space = get_space("digits")
    ops = ((np.arange(space.num_cells)[:, None] // len(OPS) ** np.arange(DIGITS - 1, -1, -1)) % len(OPS))
    base = 60 + 15 * (ops[:, 0] == 0) + 4 * (ops[:, 1:] == 3).sum(axis=1)
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "digits_accuracy.csv"
    pd.DataFrame({"arch": space.keys({"ops": ops}),
                  "toy_val": (base + rng.normal(0, 1, len(ops))).round(3),
                  "toy_test": (base + rng.normal(0, 1, len(ops))).round(3)}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_digits_benchmark(tmp_path_factory.mktemp("data") / "digits").parent


@pytest.fixture(scope="module")
def bench(data):
    return load_benchmark("digits", data)


def test_the_keys_are_digit_text_with_leading_zeros(bench):
    assert len(bench) == 1024 and bench.keys.dtype.kind == "U" and bench.keys[0] == "00000"
    assert bench.row_of_key("01230") == int("01230", 4)


def test_two_runs_into_one_out_keep_the_keys_as_text(data, tmp_path, capsys):
    import pyarrow.parquet as pq

    from nar_core.cli import main
    from nar_core.cli_run import read_results

    out = tmp_path / "run"
    for seed in ("0", "1"):  # the second run reads the first one's tables back, then rewrites them
        args = ["run", "--space", "digits", "--method", "random_search", "--seeds", seed, "--data", str(data),
                "--out", str(out)]
        assert main(args) == 0, capsys.readouterr().err
    rows = read_results(out / "results.csv")
    archs = [r["found_arch"] for r in rows]
    assert len(rows) == 2 and all(isinstance(a, str) and len(a) == DIGITS and a[0] == "0" for a in archs)
    assert [r["found_key"] for r in rows] == archs  # a cell's key is its text
    parquet = pq.read_table(out / "results.parquet").to_pandas()
    assert parquet.found_arch.tolist() == archs and parquet.found_key.tolist() == archs
    for name in ("found_arch", "found_key", "config_hash", "data_fingerprint"):
        assert str(pq.read_schema(out / "results.parquet").field(name).type) in ("string", "large_string"), name
    summary = pd.read_csv(out / "summary.csv", dtype=str)  # written: the second run did not fail
    assert len(summary) == 1 and summary.seeds.tolist() == ["1"] and summary.runs.tolist() == ["1"]


def test_sweep_tables_write_identifiers_as_text(tmp_path):
    """A pending row (no result yet) beside an NB201 index: 541, not 541.0; digits keep their zeros."""
    import pyarrow.parquet as pq

    from nar_core.sweep.ledger import write_table

    df = pd.DataFrame({"trial_id": ["grid-0000", "grid-0001", "grid-0002"], "seed": [0, 0, 0],
                       "found_key": [541, None, 7], "found_arch": ["00123", None, "01000"],
                       "status": ["ok", "pending", "ok"], "best_so_far_val": [[1.0, 2.0], None, [3.0]]})
    csv_path, pq_path = write_table(df, tmp_path)
    assert csv_path.read_text().splitlines()[1].startswith("grid-0000,0,541,00123,ok,")
    back = pq.read_table(pq_path)
    assert str(back.schema.field("found_key").type) in ("string", "large_string")
    assert back.column("found_key").to_pylist() == ["541", None, "7"]
    assert back.column("found_arch").to_pylist() == ["00123", None, "01000"]
    assert df.found_key.tolist()[0] == 541  # the caller's table is left as it was


def test_a_sweep_and_the_report_loader_keep_the_keys_as_text(bench, data, tmp_path):
    ray_cloudpickle = pytest.importorskip("ray.cloudpickle")
    from nar_core.ablations.aggregation import load_results
    from nar_core.cli import main
    from nar_core.sweep import SweepOptions, SweepSpec, run_sweep

    spec = SweepSpec(name="digits_topk", space="digits", dataset="toy", method="random_search",
                     grid=[{"top_k": 1}, {"top_k": 3}], seeds=(0,))
    module = sys.modules[__name__]  # the space travels to the Ray workers by value (see test_third_space)
    ray_cloudpickle.register_pickle_by_value(module)
    try:
        outcome = run_sweep(spec, SweepOptions(local=True, num_cpus=1, max_concurrent=1, storage=str(tmp_path / "sw"),
                                               verbose=0), benchmark=bench)
    finally:
        ray_cloudpickle.unregister_pickle_by_value(module)
    assert outcome.complete and (outcome.table.status == "ok").all(), outcome.table.get("error")
    archs = outcome.table.found_arch.tolist()
    assert all(isinstance(a, str) and a[0] == "0" for a in archs)
    table = pd.read_csv(outcome.results_csv, dtype={"found_arch": str})
    assert table.found_arch.tolist() == archs
    assert pd.read_parquet(outcome.results_parquet).found_arch.tolist() == archs
    assert main(["run", "--space", "digits", "--method", "random_search", "--seeds", "0", "--data", str(data),
                 "--out", str(tmp_path / "run")]) == 0
    loaded = load_results([tmp_path / "sw", tmp_path / "run" / "results.csv"])  # the report's loader, both kinds
    assert len(loaded) == 3
    for col in ("found_arch", "found_key"):
        assert all(isinstance(a, str) and len(a) == DIGITS and a[0] == "0" for a in loaded[col]), loaded[col]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split(" | ")]


def test_tables_and_report_show_the_plug_ins_runs(data, tmp_path, capsys):
    """`nar run` twice into one folder, then `nar tables` and `nar report` on that folder: the plug-in's
    rows are in the tables that take any space, beside no paper number (the papers ran nothing on
    it). Before issue 21 the folder was refused (its summary.csv is no results table) and the
    tables took NB201 and NB101 rows only, dropping a plug-in's without a word."""
    from nar_core.ablations.aggregation import paper_results_dir
    from nar_core.cli import main
    from nar_core.errors import DataError

    try:
        paper_results_dir()  # the tables are laid out from the papers' (../shared/reference)
    except DataError as exc:
        pytest.skip(f"paper tables absent: {exc}")

    out = tmp_path / "run"
    for seed in ("0", "1"):
        assert main(["run", "--space", "digits", "--method", "narq2t", "--seeds", seed, "--data", str(data),
                     "--out", str(out)]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert main(["tables", "table", "queries", "--results", str(out)]) == 0, capsys.readouterr().err
    lines = capsys.readouterr().out.splitlines()
    head = _cells(next(x for x in lines if x.startswith("| method |")))
    rows = [dict(zip(head, _cells(x))) for x in lines if "| digits toy |" in x]
    assert {r["metric"] for r in rows} == {"test_acc", "test_acc_valpick"} and "paper" not in head
    assert all(r["method"] == "narq2t" and r["ours"].endswith("n=2") for r in rows), rows
    assert main(["tables", "table", "narq2t-IV", "--results", str(out)]) == 0, capsys.readouterr().err
    lines = capsys.readouterr().out.splitlines()
    head = _cells(next(x for x in lines if x.startswith("| tiers |")))
    ours = [dict(zip(head, _cells(x))) for x in lines if "| digits toy |" in x]
    assert ours and all(r["paper"] == "-" and r["delta"] == "" and r["ours"].endswith("n=2") for r in ours), ours
    paper = [dict(zip(head, _cells(x))) for x in lines if "| not run |" in x]
    assert paper and all(r["paper"] not in ("", "-") for r in paper)  # the paper's rows stay, as printed

    report = tmp_path / "report"
    assert main(["report", "--results", str(out), "--out", str(report)]) == 0, capsys.readouterr().err
    index = (report / "index.md").read_text()
    assert "[Queries vs accuracy" in index and "Rows in no table" not in index
    assert "**Runs on other benchmarks: digits.**" in index
    assert "digits toy" in (report / "tables" / "queries.md").read_text()
    assert (report / "figures" / "anytime_regret.png").is_file()

    from nar_core.spaces import unregister_space

    unregister_space("digits")  # a report made where the plug-in is not installed lists its rows, naming why
    try:
        assert main(["report", "--results", str(out), "--out", str(tmp_path / "bare"), "--no-figures"]) == 0
    finally:
        register_space(DigitSpace())
    index = (tmp_path / "bare" / "index.md").read_text()
    assert "## Rows in no table" in index and "digits are not registered" in index
    assert "| run/results.csv | digits | toy | narq2t | custom | 2 |" in index


def test_the_plug_in_reader_refuses_a_cell_twice_and_fractions(data, tmp_path):
    frame = pd.read_csv(data / "digits_accuracy.csv", dtype={"arch": str})
    folder = tmp_path / "digits"
    folder.mkdir()
    pd.concat([frame.head(3), frame.iloc[[1]]]).to_csv(folder / "digits_accuracy.csv", index=False)
    with pytest.raises(DataError, match=r"key '00001' appears twice \(row 1 and row 3\)"):
        load_benchmark("digits", folder)
    frame.assign(toy_val=frame.toy_val / 100).to_csv(folder / "digits_accuracy.csv", index=False)
    with pytest.raises(DataError, match=r"column 'toy_val': every value is between 0 and 1 \(the largest, at "
                                        r"architecture 0\d{4}, .*multiply the column by 100"):
        load_benchmark("digits", folder)
