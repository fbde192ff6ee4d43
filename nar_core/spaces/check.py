"""``nar space check``: does a search space plug-in keep the contract the pipeline relies on?

Each check is run on a sample of the benchmark's cells and reports passed / failed with what it
saw; a failed check names the method to fix. The checks:

* **shape**: :meth:`~SearchSpace.encode` gives ``(n, *feature_shape)`` float32, finite; one
  ``channel_kinds()`` entry per channel; ``input_scale()`` (if any) one positive divisor per channel;
* **batch independence**: a cell encodes to the same tensor alone and inside a batch (an encoding
  scaled by its batch's own maximum fails: the ranker would see one cell differently by what it
  is batched with). Both scalings (``normalize`` True / False) are checked;
* **text round trip**: ``parse(format(cell))`` gives the cell back (same key);
* **unique keys**: the benchmark's keys are unique and ``keys(cells)`` gives them back;
* **costs**: ``network_cost`` is non-negative, and equals any ``{dataset}_flops`` /
  ``{dataset}_params`` columns the benchmark carries;
* **values**: accuracy columns lie in [0, 100] and are not fractions (all within [0, 1]);
* **sampling**: ``sample_with_op_probs`` gives cells of the space (valid cells round-trip and, when
  the benchmark holds the whole space, are found in it); ``op_counts`` has one column per op;
* **mutation**: ``mutate`` gives None or a cell of the space that differs from its parent.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .base import SearchSpace

SAMPLE = 64


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


def _take(cells, rows) -> dict[str, np.ndarray]:
    return {k: np.asarray(v)[rows] for k, v in cells.items()}


def check_space(space: SearchSpace, bench, *, seed: int = 0, sample: int = SAMPLE) -> list[Check]:
    """Run every check of the module doc on ``space`` and its benchmark ``bench``."""
    rng = np.random.default_rng(seed)
    n = len(bench)
    rows = np.sort(rng.choice(n, size=min(sample, n), replace=False))
    cells = _take(bench.cell_arrays, rows)
    ds = space.datasets[0]
    out: list[Check] = []

    def run(name: str, fn: Callable[[], str]) -> None:
        try:
            out.append(Check(name, True, fn()))
        except AssertionError as exc:
            out.append(Check(name, False, str(exc)))
        except Exception as exc:  # a plug-in's own error is a failed check, not a crash of the checker
            out.append(Check(name, False, f"{type(exc).__name__}: {exc}"))

    def shape() -> str:
        x = space.encode(cells, ds)
        assert x.shape == (len(rows), *space.feature_shape), \
            f"encode gave shape {x.shape}, feature_shape says {(len(rows), *space.feature_shape)}"
        assert x.dtype == np.float32, f"encode gave {x.dtype}, expected float32"
        assert np.isfinite(x).all(), "encode gave NaN or infinite values"
        kinds = space.channel_kinds()
        assert len(kinds) == space.feature_shape[0], \
            f"channel_kinds() names {len(kinds)} channels, feature_shape has {space.feature_shape[0]}"
        scale = space.input_scale()
        if scale is not None:
            scale = np.asarray(scale, dtype=np.float64)
            assert scale.shape == (space.feature_shape[0],) and (scale > 0).all(), \
                "input_scale() must give one positive divisor per channel"
        return f"{x.shape[1:]} float32, channels {', '.join(sorted(set(kinds)))}"

    def batch_independence() -> str:
        k = min(8, len(rows))
        for normalize in (True, False):
            together = space.encode(cells, ds, normalize=normalize)
            for i in range(k):
                alone = space.encode(_take(cells, [i]), ds, normalize=normalize)[0]
                assert np.array_equal(alone, together[i]), (
                    f"cell {space.format(cells, i)!r} encodes differently alone and in a batch of {len(rows)} "
                    f"(normalize={normalize}): encode must not depend on the other cells (scale by fixed "
                    "divisors, e.g. the largest cost one node can have, never by the batch's own maximum)")
        return f"{k} cells alone = in a batch of {len(rows)}, both scalings"

    def round_trip() -> str:
        keys = space.keys(cells)
        for i in range(len(rows)):
            text = space.format(cells, i)
            back = space.key(space.parse(text))
            assert back == (keys[i].item() if hasattr(keys[i], "item") else keys[i]), \
                f"parse(format(cell)) changed the cell: {text!r} -> key {back!r}, expected {keys[i]!r}"
        return f"{len(rows)} cells, e.g. {space.format(cells, 0)!r}"

    def unique_keys() -> str:
        keys = np.asarray(bench.keys)
        uniq, counts = np.unique(keys, return_counts=True)
        dup = uniq[counts > 1]
        assert dup.size == 0, f"{dup.size} key(s) appear more than once, e.g. {dup[0]!r}"
        got = np.asarray(space.keys(cells))
        assert np.array_equal(got.astype(keys.dtype), keys[rows]), "keys(cells) differs from the benchmark's keys"
        return f"{n} unique keys"

    def costs() -> str:
        f, p = space.network_cost(cells, ds)
        f, p = np.asarray(f, np.float64), np.asarray(p, np.float64)
        assert f.shape == p.shape == (len(rows),), "network_cost must give two arrays of length n"
        assert (f >= 0).all() and (p >= 0).all(), "network_cost gave negative FLOPs or parameters"
        said = []
        for col, mine in ((f"{ds}_flops", f), (f"{ds}_params", p)):
            if col in bench.columns:
                theirs = np.asarray(bench.column(col), np.float64)[rows]
                assert np.allclose(mine, theirs, rtol=1e-6), \
                    f"network_cost differs from the benchmark column {col!r} (e.g. {mine[0]:g} vs {theirs[0]:g})"
                said.append(col)
        return "non-negative" + (f", equal to {', '.join(said)}" if said else " (no cost columns to compare)")

    def values() -> str:
        seen = []
        for col, v in bench.columns.items():
            if not col.endswith(("_val", "_test")):
                continue
            v = np.asarray(v, np.float64)
            v = v[np.isfinite(v)]
            if not v.size:
                continue
            assert v.min() >= 0 and v.max() <= 100, f"{col}: values outside [0, 100] ({v.min():g} to {v.max():g})"
            assert v.max() > 1, f"{col}: every value is within [0, 1]: fractions where percentages are expected " \
                                "(multiply by 100)"
            seen.append(f"{col} {v.min():.1f}-{v.max():.1f}")
        assert seen, f"no accuracy column ({ds}_val / {ds}_test) in the benchmark"
        return "; ".join(seen)

    def sampling() -> str:
        drawn = space.sample_with_op_probs(np.random.default_rng(seed), 32)
        valid = np.asarray(drawn.pop("valid", np.ones(32, dtype=bool)), dtype=bool)
        assert valid.any(), "sample_with_op_probs gave no valid cell in 32 draws"
        good = _take(drawn, np.flatnonzero(valid))
        for i in range(min(8, int(valid.sum()))):
            space.key(space.parse(space.format(good, i)))
        found = ""
        if n >= space.num_cells:
            index = {(k.item() if hasattr(k, "item") else k) for k in np.asarray(bench.keys)}
            missing = [k for k in np.asarray(space.keys(good)).tolist() if k not in index]
            assert not missing, f"sampled cells not in the benchmark, e.g. key {missing[0]!r}"
            found = ", all found in the benchmark"
        counts = np.asarray(space.op_counts(good))
        assert counts.shape == (len(good[next(iter(good))]), len(space.op_names())), \
            "op_counts must give one column per op_names() entry"
        return f"{int(valid.sum())} of 32 valid{found}"

    def mutation() -> str:
        m_rng = np.random.default_rng(seed)
        changed = none = 0
        for i in range(min(16, len(rows))):
            child = space.mutate(_take(cells, [i]), m_rng)
            if child is None:
                none += 1
                continue
            key = space.key(space.parse(space.format(child, 0)))
            assert key != space.key(cells, i), f"mutate returned its parent {space.format(cells, i)!r} unchanged"
            changed += 1
        assert changed, "mutate returned None for every cell"
        return f"{changed} children in the space" + (f", {none} left it (None)" if none else "")

    for name, fn in (("shape", shape), ("batch independence", batch_independence), ("text round trip", round_trip),
                     ("unique keys", unique_keys), ("costs", costs), ("values", values), ("sampling", sampling),
                     ("mutation", mutation)):
        run(name, fn)
    return out
