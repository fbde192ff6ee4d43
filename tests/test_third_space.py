"""Bring your own benchmark: a third search space, built here, runs through the whole pipeline.

The "chain" space (not NB101 or NB201): 5 edges in a chain of 6 nodes, each edge one of 4
operations, 4**5 = 1,024 cells, one dataset ``toy10``. Its benchmark is a CSV made here from a
fixed formula plus seeded noise. It goes through the public plug-in interface only: registered
with ``register_space``, read by ``load_benchmark``, run by ``run_experiment`` with every method,
by ``nar run`` / ``nar data info``, and by a tiny local Ray Tune sweep.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from nar_core.benchmarks import load_benchmark
from nar_core.benchmarks.base import Benchmark, check_column, read_csv_frame
from nar_core.config import METHODS, ExperimentConfig
from nar_core.errors import ConfigError, DataError, UnknownCellError
from nar_core.spaces import SearchSpace, get_space, register_space, space_names

OPS = ("zero", "skip", "conv1x1", "conv3x3")
EDGES = 5
NODES = EDGES + 1
CHANNELS, RES = 16, 8
_PLACE = len(OPS) ** np.arange(EDGES - 1, -1, -1)


class ChainSpace(SearchSpace):
    """A chain of 5 edges with 4 operations each; key = the base-4 number of the ops."""

    name = "chain"
    datasets = ("toy10",)
    dataset_aliases = {"toy-10": "toy10"}
    feature_shape = (3, NODES, NODES)  # op code, FLOPs, parameters on the edge (i, i+1)
    num_cells = len(OPS) ** EDGES
    data_patterns = ("chain_accuracy.csv",)

    # cells
    def parse(self, text):
        names = text.split("-")
        if len(names) != EDGES or any(n not in OPS for n in names):
            raise UnknownCellError(f"not a chain cell: {text!r}")
        return {"ops": np.array([[OPS.index(n) for n in names]], dtype=np.int8)}

    def format(self, cells, i=0):
        return "-".join(OPS[int(o)] for o in np.asarray(cells["ops"])[i])

    def keys(self, cells):
        return np.asarray(cells["ops"], dtype=np.int64) @ _PLACE

    def sample_uniform(self, rng, n):
        return {"ops": rng.integers(0, len(OPS), size=(int(n), EDGES)).astype(np.int8)}

    def sample_with_op_probs(self, rng, n, op_probs=None):
        if op_probs is None:
            return self.sample_uniform(rng, n)
        p = np.asarray(op_probs, dtype=np.float64)
        return {"ops": rng.choice(len(OPS), size=(int(n), EDGES), p=p / p.sum()).astype(np.int8)}

    def op_names(self):
        return OPS

    def op_counts(self, cells):
        ops = np.asarray(cells["ops"], dtype=np.int64)
        return (ops[:, :, None] == np.arange(len(OPS))).sum(axis=1)

    # cost model: per-edge FLOPs and parameters of a 16-channel 8x8 feature map
    def _edge_costs(self, cells):
        ops = np.asarray(cells["ops"], dtype=np.int64)
        kernel = np.array([0, 0, 1, 3])[ops]
        params = kernel**2 * CHANNELS * CHANNELS
        return params * RES * RES, params

    def encode(self, cells, dataset, normalize=True):
        self.canonical_dataset(dataset)
        ops = np.asarray(cells["ops"], dtype=np.float32)
        flops, params = self._edge_costs(cells)
        out = np.zeros((len(ops), *self.feature_shape), dtype=np.float32)
        i = np.arange(EDGES)
        out[:, 0, i, i + 1] = ops / (len(OPS) - 1)
        out[:, 1, i, i + 1] = flops / (flops.max() if normalize and flops.max() else 1)
        out[:, 2, i, i + 1] = params / (params.max() if normalize and params.max() else 1)
        return out

    def network_cost(self, cells, dataset):
        self.canonical_dataset(dataset)
        flops, params = self._edge_costs(cells)
        return flops.sum(axis=1), params.sum(axis=1)

    # plug-in parts
    def defaults(self, dataset, method, preset="paper"):
        return dict(train_size=96, val_size=32, d_model=16, n_heads=2, d_ff=32, encoder_layers=1, decoder_layers=1,
                    epochs=2, batch_size=32, sample_size=32, search_iterations=4, constraint_reuse=2, num_threads=1)

    def read(self, source, *, cache=True):
        frame = read_csv_frame(source)
        missing = {"arch", "toy10_val", "toy10_test"} - set(frame.columns)
        if missing:
            raise DataError(source, f"missing column(s) {', '.join(sorted(missing))}")
        ops = np.concatenate([self.parse(a)["ops"] for a in frame["arch"]])
        columns = {c: frame[c].to_numpy(np.float64) for c in ("toy10_val", "toy10_test")}
        for c, v in columns.items():
            check_column(source, c, v)
        flops, params = self.network_cost({"ops": ops}, "toy10")
        columns.update(toy10_flops=flops.astype(np.float64), toy10_params=params.astype(np.float64))
        order = np.argsort(self.keys({"ops": ops}))
        return Benchmark(self.name, self.keys({"ops": ops})[order], {k: v[order] for k, v in columns.items()},
                         {"ops": ops[order]}, source=str(source), meta={"format": "chain csv"})

    def mutate(self, cells, rng):
        ops = np.array(cells["ops"], dtype=np.int8).reshape(1, EDGES)
        e = int(rng.integers(EDGES))
        ops[0, e] = (ops[0, e] + rng.integers(1, len(OPS))) % len(OPS)
        return {"ops": ops}


register_space(ChainSpace())  # at import: a Ray worker that unpickles the space imports this module too


def write_chain_benchmark(folder: Path) -> Path:
    """The chain benchmark as a CSV: accuracy grows with 3x3 convs, falls with zero ops, plus noise."""
    space = get_space("chain")
    ops = ((np.arange(space.num_cells)[:, None] // _PLACE) % len(OPS)).astype(np.int8)
    counts = space.op_counts({"ops": ops})
    rng = np.random.default_rng(0)
    base = 60 + 6 * counts[:, 3] + 3 * counts[:, 2] + 1 * counts[:, 1] - 8 * counts[:, 0]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "chain_accuracy.csv"
    pd.DataFrame({"arch": [space.format({"ops": ops}, i) for i in range(len(ops))],
                  "toy10_val": np.clip(base + rng.normal(0, 1.5, len(ops)), 0, 100).round(4),
                  "toy10_test": np.clip(base + rng.normal(0, 1.5, len(ops)), 0, 100).round(4)}).to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_chain_benchmark(tmp_path_factory.mktemp("data") / "chain").parent


@pytest.fixture(scope="module")
def bench(data):
    return load_benchmark("chain", data)


def test_the_space_is_registered_and_configured_by_itself(bench):
    assert "chain" in space_names() and get_space("Chain") is get_space("chain")
    cfg = ExperimentConfig.for_space("chain", dataset="TOY-10")
    assert (cfg.dataset, cfg.train_size, cfg.epochs) == ("toy10", 96, 2)  # its datasets, aliases, defaults
    assert len(bench) == 1024 and bench.space == "chain" and bench.keys.tolist() == list(range(1024))
    with pytest.raises(ConfigError, match="unknown dataset 'cifar10' for space chain; expected one of toy10"):
        ExperimentConfig.for_space("chain", dataset="cifar10")
    with pytest.raises(ConfigError, match="no latency labels"):
        ExperimentConfig.for_space("chain", latency_loss_factor=1.0)


@pytest.mark.parametrize("method", METHODS)
def test_every_method_runs_on_the_third_space(bench, method):
    from nar_core.experiment import run_experiment

    cfg = ExperimentConfig.for_space("chain", method=method, seed=1)
    res = run_experiment(cfg, bench)
    val, test = bench.column("toy10_val"), bench.column("toy10_test")
    row = bench.row_of_key(res.found_key)
    assert res.space == "chain" and res.found_arch == get_space("chain").format(bench.cell_arrays, row)
    assert (res.val_acc, res.test_acc) == (val[row], test[row])
    budget = cfg.train_size + cfg.val_size + cfg.search_iterations * cfg.top_k
    assert cfg.train_size + cfg.val_size < res.queries_total <= budget  # a repeated query costs nothing new
    assert res.rank_test <= np.sum(test >= np.median(test))  # better than the median cell
    again = run_experiment(cfg, bench)
    curve = lambda r: r.to_dict()["best_so_far_val"]  # noqa: E731  (JSON: NaN before the first query compares equal)
    assert (again.found_key, again.val_acc, curve(again)) == (res.found_key, res.val_acc, curve(res))


def test_cli_runs_on_the_third_space(data, tmp_path, capsys):
    from nar_core.cli import main

    assert main(["data", "info", "--space", "chain", "--data", str(data), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    best = {b["metric"]: b for b in info["best"]}
    assert info["cells"] == 1024 and best["toy10_test"]["arch"].count("conv3x3") >= 4
    out = tmp_path / "run"
    assert main(["run", "--space", "chain", "--method", "evolution", "--seeds", "0-1", "--data", str(data),
                 "--out", str(out)]) == 0
    rows = pd.read_csv(out / "results.csv")
    assert sorted(rows.seed) == [0, 1] and set(rows.space) == {"chain"} and set(rows.dataset) == {"toy10"}


def test_a_local_sweep_on_the_third_space(bench, tmp_path):
    ray_cloudpickle = pytest.importorskip("ray.cloudpickle")
    from nar_core.sweep import SweepOptions, SweepSpec, run_sweep

    spec = SweepSpec(name="chain_topk", space="chain", dataset="toy10", method="narq2t",
                     grid=[{"top_k": 1}, {"top_k": 3}], seeds=(0,))
    # A plug-in must be importable where trials run (an installed package, an entry point); this
    # test module is not on the Ray workers' path, so the space travels by value instead.
    module = sys.modules[__name__]
    ray_cloudpickle.register_pickle_by_value(module)
    try:
        out = run_sweep(spec, SweepOptions(local=True, num_cpus=1, max_concurrent=1, storage=str(tmp_path),
                                           verbose=0), benchmark=bench)
    finally:
        ray_cloudpickle.unregister_pickle_by_value(module)
    df = out.table
    assert out.complete and len(df) == 2 and (df.status == "ok").all(), df.get("error")
    assert set(df.space) == {"chain"} and sorted(df.top_k) == [1, 3]
    assert df.found_key.isin(bench.keys).all()


def test_the_core_names_no_space():
    import io
    import tokenize

    import nar_core

    root = Path(nar_core.__file__).parent
    core = [*root.glob("ranker/*.py"), *(root / m for m in ("tiers.py", "sampler.py", "search.py", "baselines.py",
                                                            "experiment.py", "sweep/runner.py", "sweep/trainable.py"))]
    for path in core:
        strings = [t.string for t in tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
                   if t.type == tokenize.STRING and not t.string.startswith(('"""', "'''"))]
        assert not [s for s in strings if "nb201" in s or "nb101" in s], path  # dispatch goes through the space


def test_a_space_declared_as_an_entry_point_is_found(tmp_path, monkeypatch):
    import nar_core.spaces as registry

    # an installed distribution's metadata, as pip writes it: entry point group nar_core.spaces
    dist = tmp_path / "chain_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: chain-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[nar_core.spaces]\nlongchain = chain_plugin:LongChainSpace\n")
    (tmp_path / "chain_plugin.py").write_text(
        "from test_third_space import ChainSpace\n\n\n"
        "class LongChainSpace(ChainSpace):\n    name = 'longchain'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(registry, "_entry_points_read", False)
    monkeypatch.setattr(registry, "_registry", dict(registry._registry))  # restored after the test
    assert "longchain" in space_names()
    space = get_space("longchain")
    assert type(space).__name__ == "LongChainSpace" and ExperimentConfig.for_space("longchain").space == "longchain"


def test_sample_uniform_is_optional_for_a_space():
    from nar_core.spaces import SearchSpace

    assert "sample_uniform" not in SearchSpace.__abstractmethods__
    stubs = {m: (lambda self, *a, **k: None) for m in SearchSpace.__abstractmethods__}
    bare = type("Bare", (SearchSpace,), {"name": "bare", **stubs})()  # every required method, no sample_uniform
    with pytest.raises(NotImplementedError, match="space bare has no sample_uniform"):
        bare.sample_uniform(np.random.default_rng(0), 3)
