"""The full pipeline on an official-format NAS-Bench-101 file (a TFRecord written record by record
with the official JSON-and-protobuf payload, from real subset cells), end to end."""
import numpy as np
import pytest

from fixtures_nb101 import reader_rows, subset_records
from nar_core.benchmarks import load_benchmark
from nar_core.config import ExperimentConfig
from nar_core.experiment import run_experiment
from nar_core.spaces.nb101.tfrecord import write_nasbench_tfrecord

TINY = dict(train_size=200, val_size=56, d_model=32, n_heads=2, d_ff=64, encoder_layers=1, decoder_layers=1,
            epochs=2, batch_size=64, sample_size=64, search_iterations=3, top_k=2, num_threads=1)


@pytest.fixture(scope="module")
def official_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("nb101") / "nasbench_only108.tfrecord"
    write_nasbench_tfrecord(path, subset_records(reader_rows(400)))
    return path


@pytest.mark.parametrize("method", ["narq2t", "nar"])
def test_nb101_pipeline_on_official_tfrecord(official_file, tmp_path, monkeypatch, method):
    monkeypatch.setenv("NAR_CACHE_DIR", str(tmp_path))
    bench = load_benchmark("nb101", official_file)
    assert len(bench) == 400
    # fill a short top tier: this checks the pipeline end to end on the official format, whatever the
    # tiny ranker's tier spread (skipping is tested in test_learns_tiers.py)
    cfg = ExperimentConfig.for_space("nb101", method=method, seed=0, tier_short="fill", **TINY)
    r = run_experiment(cfg, bench)
    test = bench.column("cifar10_test")
    # the found cell is a real row of the file, its accuracy is the file's mean over 3 repeats
    row = bench.row_of_key(r.found_key)
    assert r.test_acc == pytest.approx(test[row]) and r.val_acc == pytest.approx(bench.column("cifar10_val")[row])
    assert r.queries_train == 256 and 0 < r.queries_search <= 3 * 2
    assert r.test_acc >= np.median(test)
    assert -1 <= r.kendall_tau <= 1 and r.heldout_size == 400 - 256
