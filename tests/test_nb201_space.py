"""NAS-Bench-201 search space: official order, string round trips, validation, sampling."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nar_core.errors import NarError, UnknownCellError
from nar_core.paths import default_data_dir
from nar_core.spaces import get_space
from nar_core.spaces.nb201 import NB201Space
from nar_core.spaces.nb201.cells import (
    NUM_CELLS, OP_NAMES, index_to_ops, index_to_str, op_matrix, ops_to_index,
    parse_arch_str, str_to_index,
)

INDEX0 = "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|"
ACC_CSV = default_data_dir() / "nb201" / "nb201_accuracy.csv"


@pytest.fixture(scope="module")
def space() -> NB201Space:
    return get_space("nb201")


def test_index0_is_the_official_first_cell(space):
    assert index_to_str(0) == INDEX0
    assert index_to_ops(0).tolist() == [4, 2, 1, 2, 1, 1]
    assert str_to_index(INDEX0) == 0
    # the example's cell_adjacency layout: entry [j][i] = op of edge i<-j
    assert op_matrix(index_to_ops(0))[0].tolist() == [[0, 4, 2, 2], [0, 0, 1, 1], [0, 0, 0, 1], [0, 0, 0, 0]]


def test_round_trip_over_all_cells(space):
    idx = np.arange(NUM_CELLS)
    ops = index_to_ops(idx)
    assert ops.shape == (NUM_CELLS, 6) and ops.dtype == np.int8
    assert len(np.unique(ops @ (5 ** np.arange(6)))) == NUM_CELLS  # a permutation of all 5^6 cells
    np.testing.assert_array_equal(ops_to_index(ops), idx)
    strings = index_to_str(idx)
    np.testing.assert_array_equal(str_to_index(strings), idx)
    # parse/format agree with the vectorised path on a spread of cells
    for i in range(0, NUM_CELLS, 997):
        cell = space.parse(strings[i])
        assert space.format(cell) == strings[i]
        assert space.key(cell) == i
        np.testing.assert_array_equal(parse_arch_str(strings[i]), ops[i])


def test_the_order_is_not_a_plain_enumeration():
    codes = index_to_ops(np.arange(NUM_CELLS)).astype(np.int64) @ (5 ** np.arange(5, -1, -1))
    assert not np.array_equal(codes, np.arange(NUM_CELLS))


@pytest.mark.skipif(not ACC_CSV.is_file(), reason=f"NAS-Bench-201 CSV not found at {ACC_CSV} (set NAR_DATA)")
def test_shipped_order_matches_the_official_csv():
    import pandas as pd

    frame = pd.read_csv(ACC_CSV, usecols=["index", "arch_str"])
    assert frame["index"].tolist() == list(range(NUM_CELLS))
    assert frame["arch_str"].tolist() == index_to_str(np.arange(NUM_CELLS))


def test_inputs_in_any_order_parse_to_the_same_cell():
    permuted = "|avg_pool_3x3~0|+|skip_connect~1|nor_conv_1x1~0|+|skip_connect~2|nor_conv_1x1~0|skip_connect~1|"
    assert str_to_index(permuted) == 0
    assert str_to_index([INDEX0, permuted]).tolist() == [0, 0]


@pytest.mark.parametrize(
    "text, why",
    [
        ("|avg_pool_5x5~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|", "unknown operation"),
        ("|avg_pool_3x3~1|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|", "bad input node"),
        ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~0|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|", "bad input node"),
        ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|", "2 node(s)"),
        ("|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|a~0|b~1|c~2|+|none~0|", "4 node(s)"),
        ("|avg_pool_3x3~0|+|nor_conv_1x1~0|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|", "node 2 has 1 input"),
        ("|avg_pool_3x3|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|", "unknown operation"),
        ("", "node(s)"),
    ],
)
def test_malformed_strings_raise_unknown_cell_error(space, text, why):
    with pytest.raises(UnknownCellError) as info:
        space.parse(text)
    assert why in str(info.value)
    assert isinstance(info.value, NarError)
    with pytest.raises(UnknownCellError):
        str_to_index([INDEX0, text])


def test_bad_indices_and_ops_raise():
    with pytest.raises(UnknownCellError, match="15625"):
        index_to_ops(NUM_CELLS)
    with pytest.raises(UnknownCellError, match="-1"):
        index_to_str(np.array([0, -1]))
    with pytest.raises(UnknownCellError, match="op code 5"):
        ops_to_index(np.array([[0, 1, 2, 3, 4, 5]]))
    with pytest.raises(UnknownCellError, match="shape"):
        ops_to_index(np.zeros((2, 5), dtype=int))


def test_uniform_sampling_is_seeded_and_uniform(space):
    a = space.sample_uniform(np.random.default_rng(7), 20000)["ops"]
    b = space.sample_uniform(np.random.default_rng(7), 20000)["ops"]
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.int8 and a.shape == (20000, 6)
    freq = np.bincount(a.ravel(), minlength=5) / a.size
    np.testing.assert_allclose(freq, 0.2, atol=0.01)
    # every sampled cell is a key of the benchmark
    keys = space.keys({"ops": a})
    assert keys.min() >= 0 and keys.max() < NUM_CELLS


def test_sampling_with_op_probs_follows_the_probabilities(space):
    p = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    ops = space.sample_with_op_probs(np.random.default_rng(1), 20000, p)["ops"]
    freq = np.bincount(ops.ravel(), minlength=5) / ops.size
    np.testing.assert_allclose(freq, p, atol=0.01)
    assert (ops != 0).all()
    # unnormalised weights are accepted; same seed, same cells
    again = space.sample_with_op_probs(np.random.default_rng(1), 20000, p * 10)["ops"]
    np.testing.assert_array_equal(ops, again)
    for bad in ([0.5, 0.5], [-1, 1, 1, 1, 1], [0, 0, 0, 0, 0], [np.nan, 1, 1, 1, 1]):
        with pytest.raises(ValueError):
            space.sample_with_op_probs(np.random.default_rng(0), 3, bad)


def test_describe_and_op_names(space):
    assert space.op_names() == OP_NAMES == ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
    assert space.describe()["feature_shape"] == (31, 4, 4)
    assert space.cells_of_keys([0, 1])["ops"].tolist() == index_to_ops(np.array([0, 1])).tolist()
    assert len(space.all_cells()["ops"]) == NUM_CELLS


def test_empty_batches_and_single_cells(space):
    assert index_to_ops([]).shape == (0, 6) and index_to_str([]) == []
    assert space.cells_of_keys([])["ops"].shape == (0, 6)
    assert ops_to_index(np.zeros((0, 6), np.int8)).shape == (0,) and str_to_index([]).shape == (0,)
    empty = space.sample_uniform(np.random.default_rng(0), 0)
    assert space.encode(empty, "cifar10").shape == (0, 31, 4, 4)
    assert space.network_cost(empty, "cifar100")[0].shape == (0,)
    # one cell of a batch: key, format and the last cell by a negative position
    cells = space.cells_of_keys([15624, 3, 0])
    assert space.key(cells, 1) == 3 and space.key(cells, -1) == 0
    assert space.format(cells, 2) == INDEX0
    assert (space.key(cells), index_to_str(15624)) == (15624, space.format(cells))


def test_op_counts(space):
    cells = space.cells_of_keys(np.arange(0, NUM_CELLS, 7))
    counts = space.op_counts(cells)
    assert counts.shape == (len(cells["ops"]), 5) and (counts.sum(axis=1) == 6).all()
    assert space.op_counts(space.cells_of_keys([0])).tolist() == [[0, 3, 2, 0, 1]]  # index 0's ops


@pytest.mark.skipif(not ACC_CSV.is_file(), reason=f"NAS-Bench-201 CSV not found at {ACC_CSV} (set NAR_DATA)")
def test_make_nb201_order_rebuilds_the_shipped_table(tmp_path):
    import sys
    from importlib import resources

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from make_nb201_order import order_codes

    with resources.files("nar_core.spaces.nb201").joinpath("resources/nb201_order.npy").open("rb") as f:
        shipped = np.load(f)
    np.testing.assert_array_equal(order_codes(ACC_CSV), shipped)
    bad = tmp_path / "order.csv"
    bad.write_text("index,arch_str\n0,|none~0|\n")
    with pytest.raises(NarError, match="official index order"):
        order_codes(bad)


def test_a_fresh_builtin_instance_registers_as_the_same_space():
    """What a Ray worker does with the space it was sent: the registry names the built-in by its
    package (``nar_core.spaces.nb201:NB201Space``, defined in ``.space``), and that is the same class."""
    from nar_core.spaces import SearchSpace, register_space, unregister_space

    unregister_space("nb201")  # back to the registry's "module:Class" entry
    try:
        assert register_space(NB201Space()).name == "nb201"

        class Other(NB201Space):
            pass

        with pytest.raises(NarError, match="already registered"):
            register_space(Other())
    finally:
        unregister_space("nb201")
    assert isinstance(get_space("nb201"), SearchSpace)


def test_flops_and_params_order_the_cells_alike():
    """A benchmark fact behind NARQ2T Table VIII on NB201: the network's FLOPs and #params take 28
    values each and order the 15,625 cells the same way (both count the 1x1 and 3x3 convolutions),
    so the FLOPs-only and #params-only constrained samplers draw the same cells there (the
    committed sampling_constraints rows agree seed for seed); only NB101 can separate them."""
    space = get_space("nb201")
    for ds in ("cifar10", "cifar100", "imagenet16"):
        flops, params = (np.asarray(v) for v in space.network_cost(space.all_cells(), ds))
        assert len(np.unique(flops.round(6))) == len(np.unique(params.round(9))) == 28
        assert len(set(zip(flops.round(6), params.round(9)))) == 28  # one params value per FLOPs value
        order = np.argsort(flops, kind="stable")
        assert np.all(np.diff(params[order]) >= 0)  # and params never fall as FLOPs rise
