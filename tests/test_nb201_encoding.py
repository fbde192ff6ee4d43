"""NAS-Bench-201 encoding (NAR App. A): exact per-edge FLOPs/params against the authors' file."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nar_core.errors import NarError
from nar_core.spaces import get_space
from nar_core.spaces.nb201.cells import NUM_CELLS, index_to_ops
from nar_core.spaces.nb201.encoding import (
    CELL_INFO_NAMES, CELL_NAMES, cell_info_costs, cost_tables, edge_costs, encode, network_cost,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "nar_cell_info_examples" / "nasbench201_vertice_example.json"
DATASETS = ("cifar10", "cifar100", "imagenet16")


@pytest.fixture(scope="module")
def example() -> dict:
    if not EXAMPLE.is_file():
        pytest.skip(f"test vector {EXAMPLE} not found (shared/reference absent)")
    return json.loads(EXAMPLE.read_text())["0"]


@pytest.mark.parametrize("dataset", DATASETS)
def test_per_edge_costs_equal_the_authors_values(example, dataset):
    ops = index_to_ops(np.array([0]))
    name = CELL_INFO_NAMES[dataset]
    flops, params = edge_costs(ops, dataset)
    for c, cell in enumerate(CELL_NAMES):
        assert flops[0, c].tolist() == example[f"{name}_opt_flops"][cell], cell
        assert params[0, c].tolist() == example[f"{name}_opt_params"][cell], cell
    got = cell_info_costs(ops, dataset)
    assert got == {k: example[k] for k in got}


@pytest.mark.parametrize("dataset", DATASETS)
def test_whole_network_totals_equal_the_authors_values(example, dataset):
    name = CELL_INFO_NAMES[dataset]
    f, p = network_cost(index_to_ops(np.array([0])), dataset)
    assert (int(f[0]), int(p[0])) == (example[f"{name}_total_flops"], example[f"{name}_total_params"])


def test_known_totals_and_cost_model():
    # hand-derived: stem 3x3 conv+BN, 3 stages x 5 cells, 2 residual reductions, BN, GAP, FC
    t = cost_tables("cifar10")
    assert t.edge_flops[0].tolist() == [0, 0, 16 * 16 * 1024 + 2 * 16 * 1024, 9 * 16 * 16 * 1024 + 2 * 16 * 1024, 0]
    assert t.edge_params[14].tolist() == [0, 0, 64 * 64 + 128, 9 * 64 * 64 + 128, 0]
    # the all-"none" cell costs only the skeleton; all-conv3x3 cell is the most expensive
    ops = np.array([[0] * 6, [3] * 6])
    f, p = network_cost(ops, "cifar10")
    assert f[0] == t.fixed_flops and p[0] == t.fixed_params
    all_f, all_p = network_cost(index_to_ops(np.arange(NUM_CELLS)), "cifar10")
    assert all_f.max() == f[1] and all_p.max() == p[1]
    # whole-network cost = skeleton + sum of the per-edge costs
    ef, ep = edge_costs(index_to_ops(np.arange(NUM_CELLS)), "cifar100")
    nf, np_ = network_cost(index_to_ops(np.arange(NUM_CELLS)), "cifar100")
    t100 = cost_tables("cifar100")
    np.testing.assert_array_equal(ef.sum((1, 2)) + t100.fixed_flops, nf)
    np.testing.assert_array_equal(ep.sum((1, 2)) + t100.fixed_params, np_)
    # the largest NB201 network has 1.53 M params on CIFAR-10 (NAS-Bench-201 paper, Fig. 3 range)
    assert 1.5e6 < all_p.max() < 1.6e6


def test_encoding_of_index0(example):
    ops = index_to_ops(np.array([0]))
    raw = encode(ops, "cifar10", normalize=False)
    assert raw.shape == (1, 31, 4, 4) and raw.dtype == np.float32
    assert raw[0, 0].tolist() == example["cell_adjacency"]
    name = CELL_INFO_NAMES["cifar10"]
    edges = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]
    for c, cell in enumerate(CELL_NAMES):
        for e, (j, i) in enumerate(edges):
            assert raw[0, 1 + 2 * c, j, i] == example[f"{name}_opt_flops"][cell][e]
            assert raw[0, 2 + 2 * c, j, i] == example[f"{name}_opt_params"][cell][e]
    # nothing below or on the diagonal
    assert not np.tril(raw[0]).any()
    norm = encode(ops, "cifar10")
    np.testing.assert_allclose(norm[0, 0], raw[0, 0] / 4)
    # a 1x1 conv edge at 16 channels: (256 + 32) / (2304 + 32) of a 3x3 conv
    assert norm[0, 1, 0, 2] == pytest.approx(294912 / (9 * 16 * 16 * 1024 + 2 * 16 * 1024))
    assert norm[0, 2, 0, 2] == pytest.approx(288 / (9 * 256 + 32))


def test_encoding_all_cells_is_bounded_and_distinct():
    # speed is measured by benchmarks/encoding_speed.py, never asserted here (noisy machines)
    ops = index_to_ops(np.arange(NUM_CELLS))
    for ds in DATASETS:

        x = encode(ops, ds)
        assert x.shape == (NUM_CELLS, 31, 4, 4)
        assert x.min() == 0.0 and x.max() == 1.0
        # every encoding is distinct (the op channel alone identifies the cell)
        assert len(np.unique(x[:, 0].reshape(NUM_CELLS, -1), axis=0)) == NUM_CELLS
    # the dispatcher gives the same tensor
    np.testing.assert_array_equal(get_space("nb201").encode({"ops": ops[:50]}, "cifar10"), encode(ops[:50], "cifar10"))


def test_dataset_aliases_and_unknown_dataset():
    ops = index_to_ops(np.array([5]))
    np.testing.assert_array_equal(encode(ops, "ImageNet16-120"), encode(ops, "imagenet16"))
    np.testing.assert_array_equal(network_cost(ops, "cifar10-valid")[0], network_cost(ops, "cifar10")[0])
    with pytest.raises(NarError, match="unknown dataset 'mnist'"):
        encode(ops, "mnist")
