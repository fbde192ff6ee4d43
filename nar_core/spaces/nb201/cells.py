"""The cells of NAS-Bench-201: 15,625 cells of 4 nodes and 6 edges (the plug-in: :mod:`.space`).

A cell is 6 operations, one per edge, in the official string order
``(1<-0), (2<-0), (2<-1), (3<-0), (3<-1), (3<-2)``; op codes as in the NAR paper (App. A):
0 ``none`` (zeroize), 1 ``skip_connect``, 2 ``nor_conv_1x1``, 3 ``nor_conv_3x3``, 4 ``avg_pool_3x3``.
A batch of cells is ``{"ops": int8 array (n, 6)}``.

The key of a cell is its *official index*: the position of its string in the official API's
``meta_archs``. That order is not an enumeration of the op choices, so it ships with the
package as ``nar_core/spaces/nb201/resources/nb201_order.npy`` (per index, the base-5 code of the 6 ops, edge 0 the
most significant digit; regenerate with ``benchmarks/make_nb201_order.py``).
"""
from __future__ import annotations

import functools
from importlib import resources
from typing import Iterable, Sequence

import numpy as np

from ...errors import UnknownCellError

#: operation names, indexed by op code (NAR paper App. A)
OP_NAMES: tuple[str, ...] = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
NUM_OPS = len(OP_NAMES)
NUM_EDGES = 6
NUM_NODES = 4
NUM_CELLS = NUM_OPS**NUM_EDGES  # 15,625
#: (source, target) node of each edge, in the official string order
EDGES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
_OP_CODE = {name: code for code, name in enumerate(OP_NAMES)}
#: the benchmark's datasets (canonical names) and the other spellings in use (official API, papers)
DATASETS: tuple[str, ...] = ("cifar10", "cifar100", "imagenet16")
DATASET_ALIASES: dict[str, str] = {
    "cifar-10": "cifar10", "cifar10-valid": "cifar10", "cifar-100": "cifar100",
    "imagenet16-120": "imagenet16", "imagenet-16-120": "imagenet16", "imagenet": "imagenet16",
}
# base-5 place value of each edge (edge 0 most significant), as in the shipped resource
_PLACE = NUM_OPS ** np.arange(NUM_EDGES - 1, -1, -1, dtype=np.int64)


@functools.lru_cache(maxsize=1)
def _order_tables() -> tuple[np.ndarray, np.ndarray]:
    """(code of each official index, official index of each code), read-only.

    Cached because it is immutable data read from the package (no state shared between runs).
    """
    with resources.files(__package__).joinpath("resources/nb201_order.npy").open("rb") as f:
        code_of_index = np.load(f).astype(np.int64)
    if code_of_index.shape != (NUM_CELLS,) or len(np.unique(code_of_index)) != NUM_CELLS:
        raise RuntimeError("nar_core/spaces/nb201/resources/nb201_order.npy is corrupt; reinstall nar_core")
    index_of_code = np.empty(NUM_CELLS, dtype=np.int64)
    index_of_code[code_of_index] = np.arange(NUM_CELLS)
    code_of_index.flags.writeable = False
    index_of_code.flags.writeable = False
    return code_of_index, index_of_code


@functools.lru_cache(maxsize=1)
def _all_strings() -> np.ndarray:
    """Official arch string of every index (object array, read-only)."""
    out = _format_many(index_to_ops(np.arange(NUM_CELLS)))
    out.flags.writeable = False
    return out


@functools.lru_cache(maxsize=1)
def _index_of_string() -> dict[str, int]:
    return {s: i for i, s in enumerate(_all_strings())}


def _format_ops(ops: Sequence[int]) -> str:
    n = [OP_NAMES[o] for o in ops]
    return f"|{n[0]}~0|+|{n[1]}~0|{n[2]}~1|+|{n[3]}~0|{n[4]}~1|{n[5]}~2|"


def _format_many(ops: np.ndarray) -> np.ndarray:
    """Official strings of a batch (n, 6) as an object array: elementwise string concatenation."""
    names = np.array(OP_NAMES, dtype=object)[np.asarray(ops, dtype=np.intp)]
    out = np.full(len(names), "|", dtype=object)
    for e, (src, dst) in enumerate(EDGES):  # 6 column operations, not one per cell
        out = out + names[:, e] + f"~{src}|"
        if dst < NUM_NODES - 1 and EDGES[e + 1][1] != dst:
            out = out + "+|"
    return out


def parse_arch_str(text: str) -> np.ndarray:
    """Op codes (6,) of an official arch string, with a clear error for a malformed one.

    Each node's inputs may appear in any order (the official parser allows it); every earlier
    node must feed each node exactly once.
    """
    if not isinstance(text, str):
        raise UnknownCellError(f"NAS-Bench-201 arch string must be a str, got {type(text).__name__}")
    nodes = text.strip().split("+")
    if len(nodes) != NUM_NODES - 1:
        raise UnknownCellError(
            f"malformed NAS-Bench-201 arch string {text!r}: {len(nodes)} node(s), expected 3 separated by '+'"
        )
    ops = np.zeros(NUM_EDGES, dtype=np.int8)
    edge = 0
    for target, node in enumerate(nodes, start=1):
        if not (node.startswith("|") and node.endswith("|")) or len(node) < 2:
            raise UnknownCellError(f"malformed NAS-Bench-201 arch string {text!r}: node {node!r} must be '|op~j|...|'")
        tokens = node[1:-1].split("|")
        if len(tokens) != target:
            raise UnknownCellError(
                f"malformed NAS-Bench-201 arch string {text!r}: node {target} has {len(tokens)} input(s), expected {target}"
            )
        seen: dict[int, int] = {}
        for tok in tokens:
            name, sep, src = tok.partition("~")
            if not sep or name not in _OP_CODE:
                raise UnknownCellError(
                    f"malformed NAS-Bench-201 arch string {text!r}: unknown operation {name!r} in {tok!r}; "
                    f"expected one of {', '.join(OP_NAMES)}"
                )
            if not src.isdigit() or int(src) >= target or int(src) in seen:
                raise UnknownCellError(
                    f"malformed NAS-Bench-201 arch string {text!r}: bad input node {src!r} for node {target} "
                    f"(each of 0..{target - 1} exactly once)"
                )
            seen[int(src)] = _OP_CODE[name]
        for src in range(target):
            ops[edge] = seen[src]
            edge += 1
    return ops


def ops_to_code(ops: np.ndarray) -> np.ndarray:
    """Base-5 code of each cell's ops (n, 6) -> (n,) int64."""
    return np.asarray(ops, dtype=np.int64) @ _PLACE


def code_to_ops(code: np.ndarray) -> np.ndarray:
    """Inverse of :func:`ops_to_code`: (n,) -> (n, 6) int8."""
    code = np.asarray(code, dtype=np.int64)
    return ((code[..., None] // _PLACE) % NUM_OPS).astype(np.int8)


def _check_ops(ops: np.ndarray) -> np.ndarray:
    ops = np.asarray(ops)
    if ops.ndim == 1:
        ops = ops[None, :]
    if ops.ndim != 2 or ops.shape[1] != NUM_EDGES:
        raise UnknownCellError(f"NAS-Bench-201 ops must have shape (n, 6), got {ops.shape}")
    if ops.size and (ops.min() < 0 or ops.max() >= NUM_OPS):
        bad = np.argwhere((ops < 0) | (ops >= NUM_OPS))[0]
        raise UnknownCellError(f"NAS-Bench-201 op code {ops[tuple(bad)]} at cell {bad[0]}, edge {bad[1]}: expected 0..4")
    return ops


def _check_index(index: np.ndarray | int) -> np.ndarray:
    idx = np.asarray(index)
    if idx.size == 0:  # an empty list arrives as float64
        return idx.astype(np.int64)
    if not np.issubdtype(idx.dtype, np.integer):
        raise UnknownCellError(f"NAS-Bench-201 index must be an integer, got {idx.dtype}")
    if idx.size and (idx.min() < 0 or idx.max() >= NUM_CELLS):
        bad = idx.ravel()[(idx.ravel() < 0) | (idx.ravel() >= NUM_CELLS)][0]
        raise UnknownCellError(f"NAS-Bench-201 index {int(bad)} is out of range 0..{NUM_CELLS - 1}")
    return idx.astype(np.int64)


def index_to_ops(index: np.ndarray | int) -> np.ndarray:
    """Official index (scalar or array) -> op codes (..., 6) int8."""
    return code_to_ops(_order_tables()[0][_check_index(index)])


def ops_to_index(ops: np.ndarray) -> np.ndarray:
    """Op codes (n, 6) (or one cell (6,)) -> official index (n,) int64."""
    return _order_tables()[1][ops_to_code(_check_ops(ops))]


def index_to_str(index: np.ndarray | int) -> str | list[str]:
    """Official arch string of an index (a str) or of an array of indices (a list)."""
    idx = _check_index(index)
    strings = _all_strings()
    return strings[int(idx)] if idx.ndim == 0 else strings[idx].tolist()


def str_to_index(text: str | Iterable[str]) -> int | np.ndarray:
    """Official index of an arch string (int) or of many (int64 array); UnknownCellError if malformed."""
    table = _index_of_string()
    if isinstance(text, str):
        hit = table.get(text)
        return hit if hit is not None else int(ops_to_index(parse_arch_str(text))[0])
    texts = list(text)
    out = np.fromiter((table.get(t, -1) if isinstance(t, str) else -1 for t in texts), dtype=np.int64, count=len(texts))
    for i in np.flatnonzero(out < 0):  # not in canonical form: parse (raises on malformed)
        out[i] = ops_to_index(parse_arch_str(texts[i]))[0]
    return out


def op_matrix(ops: np.ndarray) -> np.ndarray:
    """Op codes placed on a (n, 4, 4) matrix: entry [j][i] holds the op of edge i<-j.

    Matches ``cell_adjacency`` of the NAR authors' cell-information files.
    """
    ops = _check_ops(ops)
    out = np.zeros((len(ops), NUM_NODES, NUM_NODES), dtype=np.int8)
    src, dst = np.array(EDGES).T
    out[:, src, dst] = ops
    return out


__all__ = [
    "DATASETS", "DATASET_ALIASES", "EDGES", "NUM_CELLS", "OP_NAMES", "code_to_ops", "index_to_ops", "index_to_str",
    "op_matrix", "ops_to_code", "ops_to_index", "parse_arch_str", "str_to_index",
]
