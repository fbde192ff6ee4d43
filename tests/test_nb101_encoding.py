"""NAS-Bench-101 encoding: per-vertex FLOPs/params against the NAR reference file, 19x7x7 tensor."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nar_core.spaces.nb101 import NB101Space
from nar_core.spaces.nb101.cells import cells_from_specs
from nar_core.spaces.nb101.encoding import (
    MODULE_NAMES,
    encode_cells,
    module_shapes,
    normalization_scales,
    vertex_channels,
    vertex_costs,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "nar_cell_info_examples" / "nasbench101_vertice_example.json"
space = NB101Space()
C3, C1, MP = "conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3"


@pytest.fixture(scope="module")
def example():
    if not EXAMPLE.is_file():
        pytest.skip(f"reference example {EXAMPLE} is absent")
    ex = json.loads(EXAMPLE.read_text())[0]
    return ex, cells_from_specs([ex["module_adjacency"]], [ex["module_operations"]])


def test_vertex_flops_and_params_equal_reference_file(example):
    ex, cells = example
    flops, params = vertex_costs(cells)
    for m, name in enumerate(MODULE_NAMES):
        assert flops[0, m].tolist() == ex["vertex_flops"][name], name
        assert params[0, m].tolist() == ex["vertex_params"][name], name


def test_network_cost_equals_reference_totals(example):
    ex, cells = example
    flops, params = space.network_cost(cells, "cifar10")
    assert int(params[0]) == ex["trainable_parameters"] == 8555530
    assert int(flops[0]) == ex["flops"] == 2527684618


def test_skeleton_shapes():
    assert module_shapes().tolist() == [
        [128, 128, 1024], [128, 128, 1024], [128, 128, 1024],
        [128, 256, 256], [256, 256, 256], [256, 256, 256],
        [256, 512, 64], [512, 512, 64], [512, 512, 64],
    ]


def _official_channels(inp: int, out: int, m: np.ndarray) -> list[int]:
    """compute_vertex_channels written out per vertex, as the official model_builder loops."""
    v = len(m)
    ch = [0] * v
    ch[0], ch[-1] = inp, out
    if v == 2:
        return ch
    deg = int(m[1:, v - 1].sum())
    base, extra = divmod(out, deg)
    for t in range(1, v - 1):
        if m[t, v - 1]:
            ch[t] = base + (1 if extra else 0)
            extra -= 1 if extra else 0
    for t in range(v - 3, 0, -1):
        if not m[t, v - 1]:
            for d in range(t + 1, v - 1):
                if m[t, d]:
                    ch[t] = max(ch[t], ch[d])
    return ch


def test_vectorised_channels_match_the_official_loop():
    cells = space.sample_with_op_probs(np.random.default_rng(0), 300)
    cells2 = space.sample_uniform(np.random.default_rng(1), 300)
    for batch in (cells, cells2):
        for inp, out in ((128, 128), (128, 256), (512, 512)):
            got = vertex_channels(batch["adjacency"], batch["ops"], inp, out)
            for b in range(len(batch["ops"])):
                k = int((batch["ops"][b] != 0).sum())
                assert got[b, :k].tolist() == _official_channels(inp, out, batch["adjacency"][b, :k, :k].astype(int))
                assert not got[b, k:].any()
    # 3 vertices feed the 128-channel output: 43 + 43 + 42
    m = [[0, 1, 1, 1, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 1], [0] * 5]
    c = cells_from_specs([m], [["input", C3, C3, C3, "output"]])
    assert vertex_channels(c["adjacency"], c["ops"], 128, 128)[0, :5].tolist() == [128, 43, 43, 42, 128]


def test_input_to_output_projection_counted_at_the_output_vertex():
    # input -> output only: the module is one 1x1 projection + BN
    c = cells_from_specs([[[0, 1], [0, 0]]], [["input", "output"]])
    flops, params = vertex_costs(c)
    assert params[0, 0, 1] == 128 * 128 + 2 * 128 and flops[0, 0, 1] == 2 * 128 * 128 * 1024
    assert params[0, 3, 1] == 128 * 256 + 2 * 256
    # with an interior vertex also feeding the output, the projection is added (one add per element)
    d = cells_from_specs([[[0, 1, 1], [0, 0, 1], [0, 0, 0]]], [["input", MP, "output"]])
    f2, p2 = vertex_costs(d)
    assert f2[0, 0, 2] == (2 * 128 * 128 + 128) * 1024 and p2[0, 0, 2] == 128 * 128 + 256
    # the maxpool vertex gets a projected input (128 -> 128): projection + pool
    assert p2[0, 0, 1] == 128 * 128 + 256 and f2[0, 0, 1] == (2 * 128 * 128 + 9 * 128) * 1024


def test_feature_tensor_layout(example):
    _, cells = example
    x = space.encode(cells, "cifar10", normalize=False)
    assert x.shape == (1, 19, 7, 7) and x.dtype == np.float32
    adj = cells["adjacency"][0].astype(np.float32)
    # channel 0: O[i, j] = A[i, j] * o[j] (an edge carries the code of the vertex it enters)
    assert np.array_equal(x[0, 0], adj * cells["ops"][0][None, :])
    flops, params = vertex_costs(cells)
    assert np.array_equal(x[0, 1], adj * flops[0, 0][None, :].astype(np.float32))
    assert np.array_equal(x[0, 18], adj * params[0, 8][None, :].astype(np.float32))
    xn = space.encode(cells, "cifar10")
    sf, sp = normalization_scales()
    assert np.allclose(xn[0, 0], x[0, 0] / 5)
    assert np.allclose(xn[0, 1::2], x[0, 1::2] / sf[:, None, None].astype(np.float32), rtol=1e-6)
    assert np.allclose(xn[0, 2::2], x[0, 2::2] / sp[:, None, None].astype(np.float32), rtol=1e-6)


def test_padding_is_zero_and_normalised_values_bounded():
    cells = space.sample_uniform(np.random.default_rng(5), 2000)
    x = encode_cells(cells)
    nv = (cells["ops"] != 0).sum(axis=1)
    pad = np.arange(7)[None, :] >= nv[:, None]
    assert not np.any(x.transpose(0, 2, 3, 1)[pad[:, :, None].repeat(7, 2) | pad[:, None, :].repeat(7, 1)])
    assert x.min() >= 0 and x.max() <= 1.01
    # deterministic and independent of the batch it is in
    assert np.array_equal(encode_cells({k: v[:7] for k, v in cells.items()}), x[:7])


def test_malformed_batches_raise_unknown_cell_error():
    from nar_core.errors import UnknownCellError

    cells = space.sample_uniform(np.random.default_rng(2), 3)
    with pytest.raises(UnknownCellError, match="adjacency"):
        encode_cells({"adjacency": cells["adjacency"], "ops": cells["ops"][:, :6]})
    with pytest.raises(UnknownCellError, match="cell 1"):  # an all-padding row has no output vertex
        vertex_costs({"adjacency": cells["adjacency"], "ops": np.where(np.arange(3)[:, None] == 1, 0, cells["ops"])})
