"""NAS-Bench-101 space: official hash, pruning, validity, parse/format, sampling."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nar_core.errors import ConfigError, UnknownCellError
from nar_core.spaces import get_space
from nar_core.spaces.nb101 import NB101Space
from nar_core.spaces.nb101.cells import (
    cells_from_specs,
    check_cells,
    module_hash,
    prune_cells,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "nar_cell_info_examples" / "nasbench101_vertice_example.json"
SUBSET = Path(__file__).resolve().parents[2] / "shared" / "data" / "nb101" / "nb101_subset_2500.csv"
space = NB101Space()

C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"


def _example() -> dict:
    if not EXAMPLE.is_file():
        pytest.skip(f"reference example {EXAMPLE} is absent")
    return json.loads(EXAMPLE.read_text())[0]


def test_get_space_returns_nb101():
    sp = get_space("nasbench101")
    assert isinstance(sp, NB101Space) and sp.feature_shape == (19, 7, 7)


def test_official_hash_of_reference_cell():
    ex = _example()
    cells = cells_from_specs([ex["module_adjacency"]], [ex["module_operations"]])
    assert space.key(cells) == ex["unique_hash"] == "00005c142e6f48ac74fdcf73e3439874"
    # the same cell with labels given as the official hash_module expects
    labels = [-1] + [("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3").index(o) for o in ex["module_operations"][1:-1]] + [-2]
    assert module_hash(np.array(ex["module_adjacency"]), labels) == ex["unique_hash"]


def test_hash_is_isomorphism_invariant_and_label_sensitive():
    # two interior vertices in parallel: swapping them is an isomorphism
    a = [[0, 1, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 0, 0]]
    h1 = space.key(cells_from_specs([a], [["input", C3, C1, "output"]]))
    h2 = space.key(cells_from_specs([a], [["input", C1, C3, "output"]]))
    h3 = space.key(cells_from_specs([a], [["input", C3, C3, "output"]]))
    assert h1 == h2 and h1 != h3


def test_subset_csv_cells_are_valid_with_unique_hashes():
    if not SUBSET.is_file():
        pytest.skip(f"shared NAS-Bench-101 subset {SUBSET} is absent")
    import pandas as pd

    df = pd.read_csv(SUBSET).iloc[:400]
    cells = cells_from_specs([json.loads(a) for a in df["adjacency"]], [o.split("|") for o in df["operations"]])
    assert space.is_valid(cells).all()
    keys = space.keys(cells)
    assert len(set(keys.tolist())) == len(keys)
    # the subset holds pruned cells: pruning does not change them
    p_adj, p_ops, ok = prune_cells(cells["adjacency"], cells["ops"])
    assert ok.all() and np.array_equal(p_adj, cells["adjacency"]) and np.array_equal(p_ops, cells["ops"])


def test_pruning_matches_official_rules_and_is_idempotent():
    # vertex 2 has no path to the output, vertex 3 no path from the input -> both removed
    m = [
        [0, 1, 1, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 1, 0, 0],
        [0, 0, 0, 0, 0, 1, 0],
        [0, 0, 0, 0, 0, 0, 1],
        [0, 0, 0, 0, 0, 0, 0],
    ]
    ops = ["input", C3, MP, C1, C1, MP, "output"]
    cells = cells_from_specs([m], [ops])
    assert cells["ops"][0].tolist() == [1, 3, 2, 4, 5, 0, 0]  # padded with op 0 after the output
    expect = np.zeros((7, 7), dtype=np.uint8)
    expect[0, 1] = expect[1, 2] = expect[2, 3] = expect[3, 4] = 1
    assert np.array_equal(cells["adjacency"][0], expect)
    again = prune_cells(cells["adjacency"], cells["ops"])
    assert np.array_equal(again[0], cells["adjacency"]) and np.array_equal(again[1], cells["ops"])
    # same graph as the 5-vertex chain written directly: same official hash
    chain = [[0, 1, 0, 0, 0], [0, 0, 1, 0, 0], [0, 0, 0, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0]]
    assert space.key(cells) == space.key(cells_from_specs([chain], [["input", C3, C1, MP, "output"]]))


def test_parse_format_round_trip_both_text_forms():
    text = '{"adjacency": [[0,1,1],[0,0,1],[0,0,0]], "operations": ["input","maxpool3x3","output"]}'
    cells = space.parse(text)
    assert space.parse(space.format(cells))["ops"].tolist() == cells["ops"].tolist()
    csv_form = "[[0,1,1],[0,0,1],[0,0,0]]|input|maxpool3x3|output"
    other = space.parse(csv_form)
    assert np.array_equal(other["adjacency"], cells["adjacency"]) and space.key(other) == space.key(cells)
    for b in range(3):
        sample = space.sample_uniform(np.random.default_rng(b), 5)
        for i in range(5):
            back = space.parse(space.format(sample, i))
            assert np.array_equal(back["adjacency"][0], sample["adjacency"][i])
            assert np.array_equal(back["ops"][0], sample["ops"][i])


@pytest.mark.parametrize(
    "matrix, ops, message",
    [
        # 8 vertices in a chain: 8 after pruning
        (np.eye(8, k=1, dtype=int).tolist(), ["input"] + [C3] * 6 + ["output"], "8 vertices"),
        # 10 edges on 7 vertices
        ([[0, 1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 0, 0, 0], [0, 0, 0, 1, 0, 0, 0], [0, 0, 0, 0, 1, 0, 0],
          [0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 0, 0, 0, 1], [0] * 7], ["input", C3, C3, C1, MP, C3, "output"], "10 edges"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], ["input", "conv5x5", "output"], "conv5x5"),
        ([[0, 1, 0], [0, 0, 1], [1, 0, 0]], ["input", C3, "output"], "upper-triangular"),
        ([[0, 1, 0], [0, 0, 0], [0, 0, 0]], ["input", C3, "output"], "not connected"),
        ([[0, 1, 0], [0, 0, 1], [0, 0, 0]], [C3, C3, "output"], "operation 0"),
        ([[0, 1], [0, 0]], ["input", "output", "output"], "3 operations"),
    ],
)
def test_invalid_cells_rejected_with_reason(matrix, ops, message):
    with pytest.raises(UnknownCellError, match=message):
        cells_from_specs([matrix], [ops])


def test_eight_vertex_spec_that_prunes_to_seven_is_accepted():
    m = np.eye(8, k=1, dtype=int)
    m[0, 1] = 0
    m[0, 2] = 1  # vertex 1 has no input -> pruned, 7 remain
    cells = cells_from_specs([m.tolist()], [["input", MP] + [C3] * 5 + ["output"]])
    assert (cells["ops"][0] != 0).sum() == 7


def test_check_cells_rejects_unpruned_and_bad_arrays():
    cells = space.sample_uniform(np.random.default_rng(0), 4)
    check_cells(cells)
    bad = {k: v.copy() for k, v in cells.items()}
    bad["ops"][1, 1] = 7
    with pytest.raises(UnknownCellError, match="cell 1"):
        check_cells(bad)
    dangling = {"adjacency": np.zeros((1, 7, 7), np.uint8), "ops": np.array([[1, 3, 3, 5, 0, 0, 0]], np.int8)}
    dangling["adjacency"][0, 0, 1] = dangling["adjacency"][0, 1, 3] = dangling["adjacency"][0, 0, 2] = 1
    with pytest.raises(UnknownCellError, match="not pruned"):
        check_cells(dangling)


def test_sample_uniform_is_valid_seeded_and_varied():
    a = space.sample_uniform(np.random.default_rng(7), 500)
    b = space.sample_uniform(np.random.default_rng(7), 500)
    assert np.array_equal(a["adjacency"], b["adjacency"]) and np.array_equal(a["ops"], b["ops"])
    assert space.is_valid(a).all()
    assert len(set(space.keys(a).tolist())) > 250  # small cells repeat under the official random spec
    counts = space.op_counts(a).sum(axis=0)
    assert np.all(counts > 0.25 * counts.sum() / 3)  # the three ops drawn evenly


def test_app_b_sampler_follows_op_probs_and_edge_budget():
    rng = np.random.default_rng(3)
    cells = space.sample_with_op_probs(rng, 4000, np.array([0.7, 0.2, 0.1]))
    assert cells["valid"].all()
    clean = {"adjacency": cells["adjacency"], "ops": cells["ops"]}
    assert space.is_valid(clean).all()
    edges = cells["adjacency"].sum(axis=(1, 2))
    assert edges.max() <= 9 and edges.min() >= 1
    # before pruning every vertex has an in-edge; the op mix follows op_probs
    frac = space.op_counts(clean).sum(axis=0) / space.op_counts(clean).sum()
    assert frac[0] > 0.55 and frac[2] < 0.2
    for bad in ([1.0, 0.0], [np.inf, 1, 1], [np.nan, 1, 1], [-1, 1, 1], [0, 0, 0]):
        with pytest.raises(ConfigError, match="op_probs"):
            space.sample_with_op_probs(rng, 3, np.array(bad))


def test_is_valid_agrees_with_check_cells_on_every_rule():
    good = space.sample_uniform(np.random.default_rng(11), 3)
    cases = []
    for change in (
        lambda a, o: a.__setitem__((0, 1), 2),                 # entry not 0/1
        lambda a, o: a.__setitem__((3, 1), 1),                 # below the diagonal
        lambda a, o: o.__setitem__(0, 2),                      # first op not input
        lambda a, o: o.__setitem__(slice(None), 0),            # all padding
        lambda a, o: a.__setitem__((0, slice(None)), 0),       # input disconnected
    ):
        a, o = good["adjacency"][0].copy(), good["ops"][0].copy()
        change(a, o)
        cases.append((a, o))
    batch = {
        "adjacency": np.concatenate([good["adjacency"], np.stack([a for a, _ in cases])]),
        "ops": np.concatenate([good["ops"], np.stack([o for _, o in cases])]),
    }
    assert space.is_valid(batch).tolist() == [True] * 3 + [False] * len(cases)
    for b in range(3, 3 + len(cases)):
        with pytest.raises(UnknownCellError, match="cell 0 is not a NAS-Bench-101 cell"):
            check_cells({k: v[b : b + 1] for k, v in batch.items()})
    with pytest.raises(UnknownCellError, match="shape|adjacency"):
        space.is_valid({"adjacency": batch["adjacency"], "ops": batch["ops"][:, :6]})


def test_empty_batches_and_keys_of_one_cell():
    rng = np.random.default_rng(0)
    for cells in (space.sample_uniform(rng, 0), space.sample_with_op_probs(rng, 0)):
        assert cells["adjacency"].shape == (0, 7, 7) and cells["ops"].shape == (0, 7)
        assert space.keys(cells).shape == (0,) and space.encode(cells).shape == (0, 19, 7, 7)
        assert space.is_valid(cells).shape == (0,)
    batch = space.sample_uniform(rng, 5)
    keys = space.keys(batch)
    assert [space.key(batch, i) for i in (0, 4, -1)] == [keys[0], keys[4], keys[4]]


def test_batch_hashes_equal_the_per_cell_official_hash():
    cells = space.sample_with_op_probs(np.random.default_rng(4), 600, np.array([0.1, 0.8, 0.1]))
    keys = space.keys(cells)  # hashes each distinct cell once (this batch repeats cells)
    assert len(set(keys.tolist())) < 600
    for b in range(0, 600, 7):
        matrix, ops = space.spec(cells, b)
        labels = [-1] + [("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3").index(o) for o in ops[1:-1]] + [-2]
        assert keys[b] == module_hash(matrix, labels)
