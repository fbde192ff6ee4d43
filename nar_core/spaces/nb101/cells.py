"""The cells of NAS-Bench-101: pruning, validity, the official module hash (the plug-in: :mod:`.space`).

A cell (module) is a directed acyclic graph of at most 7 vertices and 9 edges: vertex 0 is the
input, the last vertex the output, and every interior vertex one of three operations. As arrays
(``cell_arrays``, the layout :class:`~nar_core.benchmarks.base.Benchmark` stores):

``adjacency``: uint8 ``(n, 7, 7)``, upper-triangular, ``adjacency[b, i, j] = 1`` for an edge i -> j.
``ops``: int8 ``(n, 7)`` with the operation codes of NAR App. A: 0 padding, 1 input, 2 conv1x1,
3 conv3x3, 4 maxpool3x3, 5 output.

Cells are stored *pruned* exactly as the official ``ModelSpec._prune`` does (vertices not on an
input -> output path are deleted, the rest keep their order) and a cell with fewer than 7
vertices is padded with zero rows/columns and op 0 after its output vertex (NAR App. A). The key
of a cell is the official NAS-Bench-101 module hash (``graph_util.hash_module``), so cells can be
looked up in the official data.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Sequence

import numpy as np

from ...errors import UnknownCellError
from ..base import CellArrays

__all__ = [
    "MAX_VERTICES",
    "MAX_EDGES",
    "OP_CODES",
    "CODE_NAMES",
    "OFFICIAL_AVAILABLE_OPS",
    "cells_from_specs",
    "prune_cells",
    "check_cells",
    "module_hash",
    "module_hashes",
]

#: the benchmark's one dataset and its other spellings
DATASETS: tuple[str, ...] = ("cifar10",)
DATASET_ALIASES: dict[str, str] = {"cifar-10": "cifar10", "cifar10-valid": "cifar10"}
MAX_VERTICES = 7
MAX_EDGES = 9
PAD, INPUT, CONV1X1, CONV3X3, MAXPOOL3X3, OUTPUT = 0, 1, 2, 3, 4, 5
#: official op names -> NAR App. A codes
OP_CODES: dict[str, int] = {
    "input": INPUT,
    "conv1x1-bn-relu": CONV1X1,
    "conv3x3-bn-relu": CONV3X3,
    "maxpool3x3": MAXPOOL3X3,
    "output": OUTPUT,
}
CODE_NAMES: dict[int, str] = {v: k for k, v in OP_CODES.items()}
#: the official ``config['available_ops']`` order; an interior op's hash label is its index here
OFFICIAL_AVAILABLE_OPS = ("conv3x3-bn-relu", "conv1x1-bn-relu", "maxpool3x3")
#: the operations of interior vertices, in code order (2, 3, 4): the order of ``op_probs``
INTERIOR_OPS = ("conv1x1-bn-relu", "conv3x3-bn-relu", "maxpool3x3")
# hash label of each code: input -1, output -2, interior ops by OFFICIAL_AVAILABLE_OPS index
_HASH_LABEL = {INPUT: -1, OUTPUT: -2, CONV3X3: 0, CONV1X1: 1, MAXPOOL3X3: 2}


def _num_vertices(ops: np.ndarray) -> np.ndarray:
    return (np.asarray(ops) != PAD).sum(axis=-1)


# --------------------------------------------------------------------------------------------
# Pruning and validity
# --------------------------------------------------------------------------------------------
def prune_cells(adjacency: np.ndarray, ops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Prune a batch of (possibly padded) cells exactly as the official ``ModelSpec._prune``.

    A vertex is kept iff it is reachable from the input and reaches the output; kept vertices
    keep their order and are moved to the front, the rest becomes padding. Vectorised over the
    batch (boolean reachability, 6 steps, instead of a DFS per cell).

    Args:
        adjacency: ``(n, V, V)`` 0/1, V <= 7 (padded vertices have zero rows and columns).
        ops: ``(n, V)`` op codes; the output vertex is the last non-padding vertex.

    Returns:
        ``(adjacency, ops, connected)``: pruned uint8 ``(n, V, V)``, int8 ``(n, V)``, and a bool
        array that is False where the input does not reach the output (official ``valid_spec``).
    """
    adj = np.asarray(adjacency).astype(bool)
    ops = np.asarray(ops).astype(np.int8)
    n, v = ops.shape
    rows = np.arange(n)
    out = np.maximum(_num_vertices(ops) - 1, 0)
    adj = np.triu(adj, k=1)  # pruning is only defined on upper-triangular matrices (checked elsewhere)
    fwd = np.zeros((n, v), dtype=bool)
    fwd[:, 0] = True
    bwd = np.zeros((n, v), dtype=bool)
    bwd[rows, out] = True
    for _ in range(v - 1):
        fwd |= np.any(fwd[:, :, None] & adj, axis=1)
        bwd |= np.any(adj & bwd[:, None, :], axis=2)
    keep = fwd & bwd
    connected = keep[rows, out] & (out > 0)
    keep &= connected[:, None]
    order = np.argsort(~keep, axis=1, kind="stable")
    kept = np.take_along_axis(keep, order, axis=1)
    new_adj = adj[rows[:, None, None], order[:, :, None], order[:, None, :]]
    new_adj &= kept[:, :, None] & kept[:, None, :]
    new_ops = np.where(kept, np.take_along_axis(ops, order, axis=1), PAD).astype(np.int8)
    return new_adj.astype(np.uint8), new_ops, connected


def _cell_batch(cells: CellArrays) -> tuple[np.ndarray, np.ndarray]:
    """``(adjacency (n, V, V), ops (n, V))`` of a batch, or UnknownCellError for other shapes."""
    adj, ops = np.asarray(cells["adjacency"]), np.asarray(cells["ops"])
    if ops.ndim != 2 or adj.shape != ops.shape + ops.shape[-1:]:
        raise UnknownCellError(
            f"NAS-Bench-101 cells need adjacency (n, V, V) and ops (n, V), got {adj.shape} and {ops.shape}"
        )
    return adj, ops


_INTERIOR_CODES = (CONV1X1, CONV3X3, MAXPOOL3X3)


def _problems(adj: np.ndarray, ops: np.ndarray) -> list[tuple[np.ndarray, Callable[[int], str]]]:
    """(bool mask over the batch, message of cell b) per validity rule, in the order of reporting.

    One vectorised pass: :func:`check_cells` reports the first failing rule of the first bad
    cell, :meth:`NB101Space.is_valid` ORs the masks.
    """
    n, v = ops.shape
    nv = _num_vertices(ops)
    pos = np.arange(v)
    live = pos[None, :] < nv[:, None]
    edge = adj != 0
    last = ops[np.arange(n), np.maximum(nv - 1, 0)]
    interior = live & (pos[None, :] > 0) & (pos[None, :] < (nv - 1)[:, None])
    edges = edge.sum(axis=(1, 2))
    p_adj, p_ops, connected = prune_cells(adj, ops)

    def bad_ops_message(b: int) -> str:
        bad = sorted({int(o) for o in ops[b][interior[b]]} - set(_INTERIOR_CODES))
        return f"unknown interior operation code(s) {bad}; allowed: 2 conv1x1, 3 conv3x3, 4 maxpool3x3"

    return [
        (np.any(edge & (adj != 1), axis=(1, 2)), lambda b: "adjacency entries must be 0 or 1"),
        (np.any(np.tril(edge), axis=(1, 2)),
         lambda b: "adjacency must be upper-triangular (zero on and below the diagonal)"),
        (np.any((ops != PAD) != live, axis=1) | np.any(edge & ~(live[:, :, None] & live[:, None, :]), axis=(1, 2)),
         lambda b: "padding (op 0) must follow the output vertex and have no edges"),
        (nv < 2, lambda b: "a cell needs an input and an output vertex"),
        (ops[:, 0] != INPUT, lambda b: "the first operation must be 'input'"),
        (last != OUTPUT, lambda b: "the last operation must be 'output'"),
        (np.any(interior & ~np.isin(ops, _INTERIOR_CODES), axis=1), bad_ops_message),
        (nv > MAX_VERTICES, lambda b: f"{nv[b]} vertices after pruning (at most {MAX_VERTICES})"),
        (edges > MAX_EDGES, lambda b: f"{edges[b]} edges after pruning (at most {MAX_EDGES})"),
        (~connected, lambda b: "the input is not connected to the output"),
        (np.any(p_ops != ops, axis=1) | np.any(p_adj != edge, axis=(1, 2)),
         lambda b: "it is not pruned (a vertex is off every input-output path)"),
    ]


def check_cells(cells: CellArrays, what: str = "cell") -> None:
    """Raise :class:`UnknownCellError` naming the first invalid cell of a batch and why.

    Valid means (the official ``NASBench._check_spec`` on the pruned spec): upper-triangular 0/1
    adjacency, input first, output last, interior ops among the three official ones, at most 7
    vertices and 9 edges, the input connected to the output, and the cell already pruned.
    """
    adj, ops = _cell_batch(cells)
    problems = _problems(adj, ops)
    bad = np.logical_or.reduce([mask for mask, _ in problems])
    if bad.any():
        b = int(np.flatnonzero(bad)[0])
        why = next(message(b) for mask, message in problems if mask[b])
        raise UnknownCellError(f"{what} {b} is not a NAS-Bench-101 cell: {why}")


def cells_from_specs(
    matrices: Sequence[Any], operations: Sequence[Sequence[str]], what: str = "cell"
) -> dict[str, np.ndarray]:
    """Pruned, padded, checked cell arrays from official specs (matrix, op names) of any size.

    Mirrors the official ``ModelSpec`` + ``_check_spec``: a square upper-triangular matrix of
    any size and matching op names, pruned, then checked (so an 8-vertex spec whose pruned form
    has 7 vertices is accepted, as in the official API).

    Raises:
        UnknownCellError: naming the spec (``what`` and its position) and the problem.
    """
    n = len(matrices)
    if len(operations) != n:
        raise UnknownCellError(f"{what}: {n} matrices but {len(operations)} operation lists")
    size = max([MAX_VERTICES] + [len(o) for o in operations])
    adj = np.zeros((n, size, size), dtype=np.int64)
    ops = np.zeros((n, size), dtype=np.int8)
    for b, (m, names) in enumerate(zip(matrices, operations)):
        label = f"{what} {b}"
        try:
            m = np.asarray(m, dtype=np.int64)
        except (TypeError, ValueError):
            raise UnknownCellError(f"{label}: adjacency is not a numeric matrix") from None
        if m.ndim != 2 or m.shape[0] != m.shape[1]:
            raise UnknownCellError(f"{label}: adjacency must be square, got shape {m.shape}")
        if m.shape[0] != len(names):
            raise UnknownCellError(f"{label}: {len(names)} operations for a {m.shape[0]}x{m.shape[0]} adjacency")
        if np.any((m != 0) & (m != 1)):
            raise UnknownCellError(f"{label}: adjacency entries must be 0 or 1")
        if np.any(np.tril(m) != 0):
            raise UnknownCellError(f"{label}: adjacency must be upper-triangular (zero on and below the diagonal)")
        if len(names) < 2:
            raise UnknownCellError(f"{label}: a cell needs an input and an output vertex")
        codes = []
        for i, name in enumerate(names):
            code = OP_CODES.get(str(name).strip().lower())
            if code is None or (code in (INPUT, OUTPUT)) != (i in (0, len(names) - 1)):
                allowed = "input" if i == 0 else "output" if i == len(names) - 1 else ", ".join(INTERIOR_OPS)
                raise UnknownCellError(f"{label}: operation {i} is {name!r}; expected {allowed}")
            codes.append(code)
        k = m.shape[0]
        adj[b, :k, :k] = m
        ops[b, :k] = codes
    p_adj, p_ops, connected = prune_cells(adj, ops)
    if not connected.all():
        b = int(np.flatnonzero(~connected)[0])
        raise UnknownCellError(f"{what} {b}: the input is not connected to the output (official valid_spec is False)")
    if size > MAX_VERTICES:
        nv = _num_vertices(p_ops)
        if (nv > MAX_VERTICES).any():
            b = int(np.flatnonzero(nv > MAX_VERTICES)[0])
            raise UnknownCellError(f"{what} {b}: {nv[b]} vertices after pruning (at most {MAX_VERTICES})")
        p_adj, p_ops = p_adj[:, :MAX_VERTICES, :MAX_VERTICES], p_ops[:, :MAX_VERTICES]
    cells = {"adjacency": p_adj, "ops": p_ops}
    check_cells(cells, what)
    return cells


# --------------------------------------------------------------------------------------------
# Official module hash (graph_util.hash_module)
# --------------------------------------------------------------------------------------------
def module_hash(matrix: np.ndarray | Sequence[Sequence[int]], labeling: Sequence[int]) -> str:
    """The official NAS-Bench-101 module hash of a pruned matrix and its integer labels.

    Same algorithm as ``graph_util.hash_module``: each vertex starts from the md5 of
    ``str((out_degree, in_degree, label))``; then, as many rounds as vertices, a vertex's hash
    becomes md5 of its sorted in-neighbour hashes, ``|``, its sorted out-neighbour hashes, ``|``,
    its own hash; the fingerprint is md5 of ``str(sorted(hashes))``. Labels: input -1, output
    -2, interior ops by their index in :data:`OFFICIAL_AVAILABLE_OPS`.
    """
    m = [[int(x) for x in row] for row in np.asarray(matrix).tolist()]
    v = len(m)
    labels = [int(x) for x in labeling]
    in_deg = [sum(m[w][u] for w in range(v)) for u in range(v)]
    out_deg = [sum(row) for row in m]
    md5 = hashlib.md5
    hashes = [md5(str((out_deg[u], in_deg[u], labels[u])).encode("utf-8")).hexdigest() for u in range(v)]
    preds = [[w for w in range(v) if m[w][u]] for u in range(v)]
    succs = [[w for w in range(v) if m[u][w]] for u in range(v)]
    for _ in range(v):
        hashes = [
            md5(
                (
                    "".join(sorted([hashes[w] for w in preds[u]])) + "|"
                    + "".join(sorted([hashes[w] for w in succs[u]])) + "|"
                    + hashes[u]
                ).encode("utf-8")
            ).hexdigest()
            for u in range(v)
        ]
    return md5(str(sorted(hashes)).encode("utf-8")).hexdigest()


def module_hashes(cells: CellArrays) -> np.ndarray:
    """Official module hashes (``'<U32'`` array) of a batch of pruned, padded cells."""
    adj, ops = _cell_batch(cells)
    n = len(ops)
    # sampled batches repeat cells (App. B sampling: ~30% distinct in 12,800 draws): hash each
    # distinct (adjacency, ops) once, since md5 has no vectorised form (~60 md5 calls per cell)
    packed = np.ascontiguousarray(np.concatenate([adj.reshape(n, adj.shape[1] * adj.shape[2]), ops], axis=1).astype(np.uint8))
    _, first, inverse = np.unique(packed.view(f"V{packed.shape[1]}").ravel(), return_index=True, return_inverse=True)
    nv = _num_vertices(ops)
    distinct = np.empty(len(first), dtype="<U32")
    for u, b in enumerate(first.tolist()):
        k = int(nv[b])
        distinct[u] = module_hash(adj[b, :k, :k], [_HASH_LABEL[int(c)] for c in ops[b, :k]])
    return distinct[inverse.ravel()]


# --------------------------------------------------------------------------------------------
# The space
# --------------------------------------------------------------------------------------------
def _parse_text(text: str) -> tuple[Any, list[str]]:
    s = text.strip()
    if s.startswith("{"):
        try:
            obj = json.loads(s)
        except json.JSONDecodeError as exc:
            raise UnknownCellError(f"NAS-Bench-101 cell text is not valid JSON: {exc}") from None
        if not isinstance(obj, dict):
            raise UnknownCellError("NAS-Bench-101 cell JSON must be an object")
        matrix = next((obj[k] for k in ("adjacency", "module_adjacency", "matrix") if k in obj), None)
        ops = next((obj[k] for k in ("operations", "module_operations", "ops") if k in obj), None)
        if matrix is None or ops is None:
            raise UnknownCellError("NAS-Bench-101 cell JSON needs 'adjacency' and 'operations'")
        if isinstance(ops, str):
            ops = ops.replace(",", "|").split("|")
        return matrix, list(ops)
    # "<adjacency JSON>|op|op|..." (the subset CSV's two columns joined by '|')
    end = s.rfind("]")
    if not s.startswith("[") or end < 0:
        raise UnknownCellError(
            f"cannot read NAS-Bench-101 cell {text!r}: expected JSON "
            '{"adjacency": [[...]], "operations": [...]} or "<adjacency JSON>|input|...|output"'
        )
    try:
        matrix = json.loads(s[: end + 1])
    except json.JSONDecodeError as exc:
        raise UnknownCellError(f"NAS-Bench-101 cell adjacency is not valid JSON: {exc}") from None
    ops = [o for o in s[end + 1 :].strip().strip("|,").replace(",", "|").split("|")]
    return matrix, ops
