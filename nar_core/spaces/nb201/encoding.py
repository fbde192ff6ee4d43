"""NAS-Bench-201 cost model and feature tensor (NAR paper, Appendix A).

Macro skeleton of every NAS-Bench-201 network (Dong & Yang 2020):
stem (3x3 conv 3->16 + BN) -> 5 cells at C=16 -> residual reduction block 16->32 ->
5 cells at C=32 -> reduction 32->64 -> 5 cells at C=64 -> BN+ReLU -> global average pool ->
linear classifier. Inputs are 32x32 (CIFAR) or 16x16 (ImageNet16-120); 10 / 100 / 120 classes.
In the official naming the 17 blocks are ``cells0..cells16`` with the reductions at 5 and 11,
so the 15 searched cells are ``cells0-4, 6-10, 12-16``.

Counting rules, fixed so that the numbers equal, integer for integer, the NAR authors'
cell-information file (``nasbench201_vertice_example.json``, per-edge values and totals):

* conv k x k, Cin -> Cout, output HxW: FLOPs ``k*k*Cin*Cout*H*W`` (multiply-accumulates, no
  bias), params ``k*k*Cin*Cout``;
* BatchNorm (affine): FLOPs ``2*C*H*W``, params ``2*C``;
* ReLU, ``skip_connect``, ``none``, the cells' ``avg_pool_3x3`` and the reduction block's
  2x2 shortcut pooling: 0 FLOPs, 0 params;
* global average pool: ``C*H*W`` FLOPs; linear classifier: ``Cin*classes`` FLOPs,
  ``Cin*classes + classes`` params.

An edge's op ``nor_conv_kxk`` is ReLU-Conv-BN (C->C, stride 1), so its cost depends only on
the op and the cell's stage. A reduction block is ReLU-Conv3x3(s2)-BN, ReLU-Conv3x3-BN and an
AvgPool(2)-Conv1x1 shortcut.

Feature tensor ``(31, 4, 4)`` per cell: channel 0 the operation matrix (entry [j][i] = op code
of edge i<-j, the authors' ``cell_adjacency``), then for each of the 15 cells in network order
its FLOPs matrix and its params matrix (channels 1+2c and 2+2c), values at the same edge
positions.

Normalisation (``normalize=True``, the ranker's input) is fixed in advance and independent of
any training set: the op channel is divided by 4 (largest code), and each cell's FLOPs/params
matrix by the largest value one edge can take at that depth (a ``nor_conv_3x3`` edge), so every
entry lies in [0, 1]. ``normalize=False`` gives the raw integers (as float32).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ..base import resolve_dataset
from .cells import DATASET_ALIASES, DATASETS, EDGES, NUM_EDGES, NUM_NODES, NUM_OPS, _check_ops

STEM_CHANNELS = 16
STAGE_CHANNELS = (16, 32, 64)
CELLS_PER_STAGE = 5
NUM_SEARCH_CELLS = 15
#: names of the 15 searched cells in the official network (reductions are cells5, cells11)
CELL_NAMES: tuple[str, ...] = tuple(f"cells{i}" for i in range(17) if i not in (5, 11))
#: dataset -> (input resolution, number of classes)
DATASET_SHAPE: dict[str, tuple[int, int]] = {"cifar10": (32, 10), "cifar100": (32, 100), "imagenet16": (16, 120)}
#: dataset names used as key prefixes in the NAR authors' cell-information files
CELL_INFO_NAMES: dict[str, str] = {"cifar10": "cifar10-valid", "cifar100": "cifar100", "imagenet16": "ImageNet16-120"}
FEATURE_SHAPE = (1 + 2 * NUM_SEARCH_CELLS, NUM_NODES, NUM_NODES)
_KERNEL = {2: 1, 3: 3}  # op code -> conv kernel size (nor_conv_1x1, nor_conv_3x3)


def _conv(k: int, cin: int, cout: int, hw: int) -> tuple[int, int]:
    return k * k * cin * cout * hw * hw, k * k * cin * cout


def _bn(c: int, hw: int) -> tuple[int, int]:
    return 2 * c * hw * hw, 2 * c


def _relu_conv_bn(k: int, cin: int, cout: int, hw_out: int) -> tuple[int, int]:
    f1, p1 = _conv(k, cin, cout, hw_out)
    f2, p2 = _bn(cout, hw_out)
    return f1 + f2, p1 + p2


@dataclass(frozen=True)
class CostTables:
    """Integer cost tables of one dataset.

    Attributes:
        edge_flops, edge_params: ``(15, 5)``: cost of op ``o`` on one edge of search cell ``c``.
        fixed_flops, fixed_params: cost of everything that is not a searched edge (stem,
            reduction blocks, final BN, pooling, classifier).
    """

    dataset: str
    edge_flops: np.ndarray
    edge_params: np.ndarray
    fixed_flops: int
    fixed_params: int


def cost_tables(dataset: str) -> CostTables:
    """Per-(cell, op) edge costs and the fixed cost of the skeleton for ``dataset``."""
    return _cost_tables(resolve_dataset(dataset, DATASETS, DATASET_ALIASES, "nb201"))


@functools.lru_cache(maxsize=None)
def _cost_tables(ds: str) -> CostTables:
    # cached: immutable (frozen dataclass, read-only arrays), a pure function of the dataset
    hw0, classes = DATASET_SHAPE[ds]
    edge_flops = np.zeros((NUM_SEARCH_CELLS, NUM_OPS), dtype=np.int64)
    edge_params = np.zeros_like(edge_flops)
    fixed_f, fixed_p = _relu_conv_bn(3, 3, STEM_CHANNELS, hw0)  # stem: conv + BN (no ReLU before)
    hw = hw0
    for stage, c in enumerate(STAGE_CHANNELS):
        if stage > 0:  # residual reduction block, halves the resolution
            cin, hw = STAGE_CHANNELS[stage - 1], hw // 2
            for k, a, b in ((3, cin, c), (3, c, c)):
                f, p = _relu_conv_bn(k, a, b, hw)
                fixed_f, fixed_p = fixed_f + f, fixed_p + p
            f, p = _conv(1, cin, c, hw)  # shortcut: AvgPool(2) (free) + 1x1 conv, no BN
            fixed_f, fixed_p = fixed_f + f, fixed_p + p
        for code, k in _KERNEL.items():
            f, p = _relu_conv_bn(k, c, c, hw)
            rows = slice(stage * CELLS_PER_STAGE, (stage + 1) * CELLS_PER_STAGE)
            edge_flops[rows, code], edge_params[rows, code] = f, p
    c = STAGE_CHANNELS[-1]
    f, p = _bn(c, hw)  # last BN + ReLU
    fixed_f, fixed_p = fixed_f + f + c * hw * hw, fixed_p + p  # + global average pool
    fixed_f, fixed_p = fixed_f + c * classes, fixed_p + c * classes + classes  # classifier
    for a in (edge_flops, edge_params):
        a.flags.writeable = False
    return CostTables(ds, edge_flops, edge_params, int(fixed_f), int(fixed_p))


def edge_costs(ops: np.ndarray, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-edge FLOPs and params of every searched cell: two int64 arrays ``(n, 15, 6)``.

    ``[:, c, e]`` is edge ``e`` (official order) of cell ``CELL_NAMES[c]``: the authors'
    ``*_opt_flops`` / ``*_opt_params`` lists.
    """
    ops = _check_ops(ops).astype(np.intp)
    t = cost_tables(dataset)
    # gather: table (15, 5) indexed by op -> (n, 15, 6)
    return t.edge_flops[:, ops].transpose(1, 0, 2), t.edge_params[:, ops].transpose(1, 0, 2)


def network_cost(ops: np.ndarray, dataset: str) -> tuple[np.ndarray, np.ndarray]:
    """Whole-network FLOPs and params (int64, length n), the authors' ``*_total_flops/params``."""
    ops = _check_ops(ops).astype(np.intp)
    t = cost_tables(dataset)
    # every search cell has the same ops: sum the per-cell table over cells first, then gather
    per_op_f, per_op_p = t.edge_flops.sum(axis=0), t.edge_params.sum(axis=0)
    return per_op_f[ops].sum(axis=1) + t.fixed_flops, per_op_p[ops].sum(axis=1) + t.fixed_params


def encode(ops: np.ndarray, dataset: str, normalize: bool = True) -> np.ndarray:
    """Feature tensors ``(n, 31, 4, 4)`` float32 of NAR App. A (see the module docstring)."""
    ops = _check_ops(ops).astype(np.intp)
    t = cost_tables(dataset)
    n = len(ops)
    ef, ep = t.edge_flops.astype(np.float64), t.edge_params.astype(np.float64)
    if normalize:  # divide by the largest value an edge can take at that depth
        ef = ef / ef.max(axis=1, keepdims=True)
        ep = ep / ep.max(axis=1, keepdims=True)
    # per-edge values (n, 15, 6) for FLOPs and params, interleaved per cell -> (n, 30, 6)
    per_edge = np.empty((n, 2 * NUM_SEARCH_CELLS, NUM_EDGES), dtype=np.float32)
    per_edge[:, 0::2] = ef[:, ops].transpose(1, 0, 2)
    per_edge[:, 1::2] = ep[:, ops].transpose(1, 0, 2)
    out = np.zeros((n,) + FEATURE_SHAPE, dtype=np.float32)
    src, dst = np.array(EDGES).T
    out[:, 0, src, dst] = ops / (NUM_OPS - 1) if normalize else ops
    out[:, 1:, src, dst] = per_edge
    return out


def cell_info_costs(ops: np.ndarray, dataset: str) -> dict[str, object]:
    """One cell's costs in the NAR authors' cell-information layout (for comparisons and export).

    Returns ``{"<name>_total_flops": int, "<name>_total_params": int, "<name>_opt_flops":
    {"cells0": [6 ints], ...}, "<name>_opt_params": {...}}`` with ``<name>`` the authors' dataset
    name (``cifar10-valid``, ``cifar100``, ``ImageNet16-120``).
    """
    ops = _check_ops(ops)[:1]
    ds = resolve_dataset(dataset, DATASETS, DATASET_ALIASES, "nb201")
    name = CELL_INFO_NAMES[ds]
    f, p = edge_costs(ops, ds)
    tf, tp = network_cost(ops, ds)
    return {
        f"{name}_total_flops": int(tf[0]),
        f"{name}_total_params": int(tp[0]),
        f"{name}_opt_flops": {c: f[0, i].tolist() for i, c in enumerate(CELL_NAMES)},
        f"{name}_opt_params": {c: p[0, i].tolist() for i, c in enumerate(CELL_NAMES)},
    }


__all__ = [
    "CELL_INFO_NAMES", "CELL_NAMES", "DATASET_SHAPE", "FEATURE_SHAPE", "CostTables",
    "cell_info_costs", "cost_tables", "edge_costs", "encode", "network_cost",
]
