"""NAS-Bench-101 cell encoding (NAR App. A): per-vertex FLOPs / parameters and the 19x7x7 tensor.

The network is the official NAS-Bench-101 skeleton (``model_builder``): a 3x3 conv-BN-ReLU stem
with 128 channels on the 32x32 CIFAR-10 input, 3 stacks of 3 modules (the cell), a 2x2 stride-2
max-pool before stacks 1 and 2 that also doubles the module channels (128, 256, 512), global
average pooling and a 10-way dense layer. Inside a module (official ``build_module``):

* vertex channels come from ``compute_vertex_channels`` (the module's output channels are split
  evenly over the vertices feeding the output, the first ones get the remainder; other vertices
  take the max over their successors);
* a vertex adds its inputs: interior inputs truncated (free), the module input through a 1x1
  conv-BN-ReLU projection; then applies its op (conv3x3/conv1x1-BN-ReLU, or a 3x3 max-pool);
* the output concatenates its interior inputs (free) and, if the input feeds it, adds a 1x1
  projection of the module input.

Counting convention (it reproduces the NAR cell-information files integer for integer):
convolutions 2 FLOPs per multiply-add, no bias; BN and ReLU no FLOPs, BN 2 parameters per
channel; an addition of k tensors (k-1) FLOPs per element; max-pool one per window element;
global average pooling one per input element; dense 2*in*out + out FLOPs. A vertex's FLOPs and
parameters include its input projection and its additions; the input vertex is 0; the output
vertex carries the output projection and addition (0 when the input does not feed the output).
"""
from __future__ import annotations

import numpy as np

from ...errors import UnknownCellError
from ..base import CellArrays
from .cells import CONV1X1 as _CONV1X1
from .cells import CONV3X3 as _CONV3X3
from .cells import MAXPOOL3X3 as _MAXPOOL
from .cells import OUTPUT as _OUTPUT
from .cells import PAD as _PAD
from .cells import _cell_batch

__all__ = [
    "NUM_MODULES",
    "MODULE_NAMES",
    "module_shapes",
    "vertex_channels",
    "vertex_costs",
    "network_cost",
    "encode_cells",
    "normalization_scales",
]

STEM_CHANNELS = 128
NUM_STACKS = 3
MODULES_PER_STACK = 3
NUM_MODULES = NUM_STACKS * MODULES_PER_STACK
IMAGE_SIZE = 32
IN_CHANNELS = 3
NUM_CLASSES = 10
MODULE_NAMES = tuple(f"stack{s}/module{m}" for s in range(NUM_STACKS) for m in range(MODULES_PER_STACK))


def module_shapes() -> np.ndarray:
    """``(9, 3)`` int64: (input channels, output channels, spatial H*W) of every module in order."""
    rows = []
    channels, size = STEM_CHANNELS, IMAGE_SIZE
    prev = STEM_CHANNELS
    for s in range(NUM_STACKS):
        if s > 0:
            channels, size = channels * 2, size // 2
        for _ in range(MODULES_PER_STACK):
            rows.append((prev, channels, size * size))
            prev = channels
    return np.asarray(rows, dtype=np.int64)


def _fixed_cost() -> tuple[int, int]:
    """FLOPs and parameters outside the modules: stem, downsampling pools, pooling, classifier."""
    flops = 2 * 9 * IN_CHANNELS * STEM_CHANNELS * IMAGE_SIZE**2
    params = 9 * IN_CHANNELS * STEM_CHANNELS + 2 * STEM_CHANNELS
    channels, size = STEM_CHANNELS, IMAGE_SIZE
    for _ in range(1, NUM_STACKS):
        size //= 2
        flops += 4 * channels * size * size  # 2x2 max-pool, output has the input's channels
        channels *= 2
    flops += channels * size * size  # global average pooling
    flops += 2 * channels * NUM_CLASSES + NUM_CLASSES
    params += channels * NUM_CLASSES + NUM_CLASSES
    return flops, params


def _layout(adjacency: np.ndarray, ops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(adj bool (n, V, V), ops (n, V), output vertex (n,), interior mask (n, V))`` of a batch."""
    adjacency, ops = _cell_batch({"adjacency": adjacency, "ops": ops})
    adj = adjacency.astype(bool)
    out = (ops != _PAD).sum(axis=1) - 1
    if (out < 1).any():  # an all-padding row would index vertex -1 below
        raise UnknownCellError(f"cell {int(np.flatnonzero(out < 1)[0])} has no input and output vertex (all padding?)")
    pos = np.arange(ops.shape[1])
    interior = (pos[None, :] > 0) & (pos[None, :] < out[:, None])
    return adj, ops, out, interior


def vertex_channels(adjacency: np.ndarray, ops: np.ndarray, in_channels: int, out_channels: int) -> np.ndarray:
    """Official ``compute_vertex_channels`` for a batch of pruned, padded cells: ``(n, 7)`` int64.

    Padding vertices get 0. Vectorised over the batch; the backward pass over vertices is a
    loop of at most 5 steps.
    """
    adj, ops, out, interior = _layout(adjacency, ops)
    n, v = ops.shape
    rows = np.arange(n)
    feeds_out = adj[rows, :, out] & interior  # (n, v): interior vertex -> output
    deg = feeds_out.sum(axis=1)
    safe_deg = np.maximum(deg, 1)
    base = out_channels // safe_deg
    extra = out_channels % safe_deg
    rank = np.cumsum(feeds_out, axis=1)  # 1-based order among the output's interior inputs
    ch = np.where(feeds_out, base[:, None] + (rank <= extra[:, None]), 0).astype(np.int64)
    for t in range(v - 2, 0, -1):  # backwards: a vertex takes the max over its interior successors
        todo = interior[:, t] & ~feeds_out[:, t]
        succ = adj[:, t, :] & interior
        best = np.max(np.where(succ, ch, 0), axis=1)
        ch[:, t] = np.where(todo, best, ch[:, t])
    ch[:, 0] = in_channels
    ch[rows, out] = out_channels
    return ch


def vertex_costs(cells: CellArrays) -> tuple[np.ndarray, np.ndarray]:
    """Per-vertex FLOPs and parameters of every module: two int64 arrays ``(n, 9, 7)``.

    Module order is network order (``stack0/module0`` ... ``stack2/module2``, see
    :data:`MODULE_NAMES`); vertex order is the pruned cell's, padding vertices are 0.
    """
    adj, ops, out, interior = _layout(cells["adjacency"], cells["ops"])
    n, v = ops.shape
    rows = np.arange(n)
    proj = adj[:, 0, :] & interior                                        # input -> vertex (projected)
    n_int_in = (adj & interior[:, :, None]).sum(axis=1)                   # interior inputs per vertex
    n_add = np.maximum(n_int_in + proj - 1, 0) * interior                 # tensors added - 1
    is3, is1, ismp = ops == _CONV3X3, ops == _CONV1X1, ops == _MAXPOOL
    in_to_out = adj[rows, 0, out]
    any_int_to_out = (adj[rows, :, out] & interior).any(axis=1)

    flops = np.zeros((n, NUM_MODULES, v), dtype=np.int64)
    params = np.zeros((n, NUM_MODULES, v), dtype=np.int64)
    channel_cache: dict[tuple[int, int], np.ndarray] = {}  # per call only: (cin, cout) -> channels
    for m, (cin, cout, hw) in enumerate(module_shapes().tolist()):
        if (cin, cout) not in channel_cache:
            channel_cache[(cin, cout)] = vertex_channels(adj, ops, cin, cout)
        c = channel_cache[(cin, cout)] * interior
        op_macs = is3 * 9 * c * c + is1 * c * c
        p = proj * (cin * c + 2 * c) + op_macs + (is3 | is1) * 2 * c
        f = (2 * proj * cin * c + 2 * op_macs + ismp * 9 * c + n_add * c) * hw
        # output vertex: 1x1 projection of the module input, added to the concatenation
        p[rows, out] = in_to_out * (cin * cout + 2 * cout)
        f[rows, out] = in_to_out * (2 * cin * cout + any_int_to_out * cout) * hw
        flops[:, m] = f
        params[:, m] = p
    return flops, params


def network_cost(cells: CellArrays) -> tuple[np.ndarray, np.ndarray]:
    """Whole-network (FLOPs, trainable parameters) per cell, int64 arrays of length n.

    Parameters equal the official ``trainable_parameters``; FLOPs follow the convention of the
    module docstring (they equal the ``flops`` of the NAR cell-information files).
    """
    flops, params = vertex_costs(cells)
    fixed_flops, fixed_params = _fixed_cost()
    return flops.sum(axis=(1, 2)) + fixed_flops, params.sum(axis=(1, 2)) + fixed_params


def normalization_scales() -> tuple[np.ndarray, np.ndarray]:
    """Fixed per-module divisors ``(9,)`` for the FLOPs and parameter channels.

    The cost of one conv3x3-BN-ReLU vertex at the module's full width fed by a projection of the
    module input (the largest single-vertex cost up to additions): depends only on the skeleton,
    never on the training set, so encoded values are comparable across runs (mostly in [0, 1]).
    """
    shp = module_shapes()
    cin, cout, hw = shp[:, 0], shp[:, 1], shp[:, 2]
    flops = 2 * (9 * cout * cout + cin * cout) * hw
    params = 9 * cout * cout + cin * cout + 4 * cout
    return flops.astype(np.float64), params.astype(np.float64)


def encode_cells(cells: CellArrays, normalize: bool = True) -> np.ndarray:
    """The NAR App. A feature tensor ``(n, 19, 7, 7)`` float32 of a batch of cells.

    Channel 0 is the operation matrix ``O[i, j] = A[i, j] * o[j]``: the op vector is broadcast
    along rows (numpy's broadcasting of a vector against a matrix), so an edge carries the code
    of the vertex it enters. Channels ``1 + 2m`` and ``2 + 2m`` are the FLOPs and parameter
    matrices of module ``m`` (network order) formed the same way. With ``normalize`` the op
    codes are divided by 5 and the costs by :func:`normalization_scales`.
    """
    adjacency, ops_all = _cell_batch(cells)
    n, v = ops_all.shape
    out = np.empty((n, 1 + 2 * NUM_MODULES, v, v), dtype=np.float32)
    sf, sp = normalization_scales() if normalize else (np.ones(NUM_MODULES), np.ones(NUM_MODULES))
    sf = sf.astype(np.float32)[None, :, None]
    sp = sp.astype(np.float32)[None, :, None]
    step = 2048  # chunks keep the intermediates in cache (>= 50k cells/s on one core)
    for s in range(0, n, step):
        chunk = {"adjacency": adjacency[s : s + step], "ops": ops_all[s : s + step]}
        flops, params = vertex_costs(chunk)
        vec = np.empty((len(flops), 1 + 2 * NUM_MODULES, v), dtype=np.float32)
        vec[:, 0] = chunk["ops"] * np.float32(1.0 / _OUTPUT if normalize else 1.0)
        np.divide(flops, sf, out=vec[:, 1::2], casting="unsafe")
        np.divide(params, sp, out=vec[:, 2::2], casting="unsafe")
        adj = chunk["adjacency"].astype(np.float32)
        np.multiply(adj[:, None, :, :], vec[:, :, None, :], out=out[s : s + step])
    return out
