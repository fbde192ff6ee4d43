"""Each claim of the papers judged over seeds: reproduced, refuted, inconclusive or not run.

The test: Welch's t-test (unequal variances), one-sided, alpha 0.05, on the per-seed test
accuracy of the returned cell (``test_acc``, the papers' protocol), between two rows of a table
run on the same benchmark, at the same budget, with the same settings (each such group gets its
own verdict, so where the default and ``--preset authors`` disagree both are shown).

* ``beats`` (A beats B, C, ...): *reproduced* when A's mean is higher than each other row's with
  p < alpha; *refuted* when some other row is higher than A with p < alpha; else *inconclusive*.
* ``not_better`` (B does not beat A: a latency head costs nothing, more queries no longer help):
  *refuted* when B is higher than A with p < alpha; *reproduced* when not and B's mean gain is below
  :data:`MARGIN` percentage points; else *inconclusive* (a gain too large to dismiss, too noisy to show).
* ``chosen_best`` (the chosen factor beats the others): A = the chosen (default) value, B = the
  other value with the highest mean; then as ``beats``.

Effect size: the difference of means (percentage points) and Hedges' g (pooled, bias-corrected);
with n seeds per row. Seeds that all give the same accuracy (zero variance on both sides) cannot
be tested: equal means are inconclusive, unequal ones are taken as significant (p = 0). A row
that was not run makes the claim *not run* for that group.

Rows a verdict never uses (:mod:`.aggregation`):

* superseded rows (settings ``superseded``: no ``settings_version``, or an older one than
  :data:`nar_core.config.SETTINGS_VERSION`; produced before issue 17 changed the defaults): left
  out before grouping. A claim with only superseded rows is *not run*, and says so.
* flagged rows (``health`` present and not ``ok``: the ranker did not learn): left out of their
  group's comparison; the ``flagged`` column says how many and why ("2 flagged rows left out: tiers
  at chance"). A compared row left with fewer than 2 seeds makes the group *not run*.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..errors import NarError
from .aggregation import GROUP_COLUMNS, SUPERSEDED, flags_of, labelled_rows
from .registry import ABLATIONS, Claim, TableSpec, get_table

ALPHA = 0.05
MARGIN = 0.1  # percentage points: a mean gain below this is "no better" (saturation, no cost)
MIN_SEEDS = 2
TEST = "Welch's t-test, one-sided, alpha 0.05"

VERDICTS = ("reproduced", "refuted", "inconclusive", "not run")


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    n_a: int
    n_b: int
    mean_a: float
    mean_b: float
    p_a_gt_b: float     # one-sided p of "A's mean > B's mean"
    p_b_gt_a: float
    hedges_g: float

    @property
    def diff(self) -> float:
        return self.mean_a - self.mean_b


def welch_one_sided(a: Sequence[float], b: Sequence[float]) -> tuple[float, float]:
    """(p of mean(a) > mean(b), p of mean(b) > mean(a)) by Welch's t-test.

    t = (mean a - mean b) / sqrt(va/na + vb/nb) with the Welch-Satterthwaite degrees of freedom;
    the one-sided p is the Student t tail (``scipy.special.stdtr``: scipy.stats takes seconds to
    import, and the report must stay fast; the test suite checks the two agree).
    """
    from scipy.special import stdtr

    a, b = np.asarray(a, float), np.asarray(b, float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va == 0 and vb == 0:  # no spread: the test is undefined; equal means show nothing
        if a.mean() == b.mean():
            return 1.0, 1.0
        return (0.0, 1.0) if a.mean() > b.mean() else (1.0, 0.0)
    t = (a.mean() - b.mean()) / math.sqrt(va + vb)
    dof = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return float(stdtr(dof, -t)), float(stdtr(dof, t))


def hedges_g(a: Sequence[float], b: Sequence[float]) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    na, nb = len(a), len(b)
    pooled = math.sqrt(((na - 1) * a.var(ddof=1) + (nb - 1) * b.var(ddof=1)) / (na + nb - 2))
    if pooled == 0:
        return math.nan
    return float((a.mean() - b.mean()) / pooled * (1 - 3 / (4 * (na + nb) - 9)))


def compare(a_name: str, a: Sequence[float], b_name: str, b: Sequence[float]) -> Comparison:
    p_gt, p_lt = welch_one_sided(a, b)
    return Comparison(a_name, b_name, len(a), len(b), float(np.mean(a)), float(np.mean(b)), p_gt, p_lt,
                      hedges_g(a, b))


def _label(sel: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sel.items())


def _mask(rows: pd.DataFrame, sel: Mapping[str, str]) -> pd.Series:
    mask = pd.Series(True, index=rows.index)
    for k, v in sel.items():
        mask &= rows[k].astype(str) == str(v)
    return mask


def _pick(rows: pd.DataFrame, sel: Mapping[str, str], metric: str) -> np.ndarray:
    return rows.loc[_mask(rows, sel), metric].dropna().to_numpy(float)


def same_cell(rows: pd.DataFrame, a: Mapping[str, str], b: Mapping[str, str]) -> str:
    """``k/n``: of the n seeds both rows ran, k returned the very same cell (``found_key``).

    Equal cells mean the compared setting did not change what the search returned: at small
    budgets the result can come from the sampler or the labelled cells rather than the ranker.
    """
    if "_found_key" not in rows.columns or "_seed" not in rows.columns:
        return ""
    ka = rows[_mask(rows, a)].drop_duplicates("_seed").set_index("_seed")["_found_key"].astype(str)
    kb = rows[_mask(rows, b)].drop_duplicates("_seed").set_index("_seed")["_found_key"].astype(str)
    both = ka.index.intersection(kb.index)
    return f"{int((ka[both] == kb[both]).sum())}/{len(both)}" if len(both) else ""


def flagged_note(rows: pd.DataFrame) -> str:
    """``k flagged rows left out: flag, flag`` for the flagged rows among ``rows`` ("" when none)."""
    if "_health" not in rows.columns or rows.empty:
        return ""
    flags = flags_of(rows["_health"].astype(str))
    k = int(flags.map(bool).sum())
    if not k:
        return ""
    names = sorted({f for fl in flags for f in fl})
    return f"{k} flagged row{'s' if k > 1 else ''} left out: {', '.join(names)}"


def _judge(kind: str, comps: list[Comparison]) -> str:
    if kind in ("beats", "chosen_best"):
        if any(c.p_b_gt_a < ALPHA for c in comps):
            return "refuted"
        if all(c.p_a_gt_b < ALPHA for c in comps):
            return "reproduced"
        return "inconclusive"
    # not_better: B must not beat A
    if any(c.p_b_gt_a < ALPHA for c in comps):
        return "refuted"
    if all(-c.diff < MARGIN for c in comps):
        return "reproduced"
    return "inconclusive"


def _within(claim: Claim, spec: TableSpec) -> list[str]:
    """Row keys a claim leaves open: it is judged within each of their values (e.g. per top-k)."""
    named = set(claim.better) | {k for o in claim.others for k in o} | ({claim.choice_key} - {""})
    return [k for k in spec.keys if k not in named]


def judge_claim(claim: Claim, results: pd.DataFrame | None, labelled: dict | None = None) -> list[dict]:
    """One verdict row per group (benchmark, budget, settings, open row keys) that ran a compared row.

    A group holding only one of the compared rows (say the default config, run for another table or
    at another budget) is left out. With no group left: a single ``not run`` row. ``labelled``: table name ->
    :func:`~nar_core.ablations.aggregation.labelled_rows` (or the error it raised), shared by callers.
    Superseded rows are never used; flagged rows are left out of their group, and its ``flagged``
    column says so.
    """
    spec = get_table(claim.table)
    base = {"claim": claim.name, "text": claim.text, "table": claim.table, "metric": claim.metric}
    not_run = [{**base, "run on": "", "budget": "", "settings": "", "within": "", "verdict": "not run",
                "n seeds": "", "effect": "", "p": "", "flagged": "", "detail": "no results of the compared rows"}]
    if results is None or results.empty:
        return not_run
    if labelled is not None and spec.name in labelled:
        rows = labelled[spec.name]
    else:
        try:
            rows = labelled_rows(spec, results)
        except NarError as exc:
            rows = exc
        if labelled is not None:
            labelled[spec.name] = rows
    if isinstance(rows, Exception):
        return not_run
    if claim.space:
        rows = rows[(rows["_space"] == claim.space) & (rows["_dataset"] == claim.dataset)]
    old = (rows["ours_settings"] == SUPERSEDED).to_numpy(bool)
    if old.any():  # before issue 17: history in the tables, never a verdict
        rows = rows[~old]
        not_run = [{**not_run[0], "detail": f"no current results of the compared rows: {int(old.sum())} superseded "
                                            f"rows of the table (before issue 17) left out, to be re-run"}]
    open_keys = _within(claim, spec)
    out = []
    for gkey, all_rows in rows.groupby(list(GROUP_COLUMNS) + open_keys, sort=True):
        gkey = gkey if isinstance(gkey, tuple) else (gkey,)
        group = dict(zip(list(GROUP_COLUMNS) + open_keys, gkey))
        head = {**base, "run on": group["ours_bench"], "budget": group["ours_budget"],
                "settings": group["ours_settings"], "within": _label({k: group[k] for k in open_keys})}
        # the group's unflagged rows are compared; whether a row was run at all counts every row
        bad = flags_of(all_rows["_health"].astype(str)).map(bool).to_numpy(bool) if "_health" in all_rows.columns \
            else np.zeros(len(all_rows), bool)
        g = all_rows[~bad]
        if claim.kind == "chosen_best":
            chosen_values = g["_" + claim.choice_column].dropna()
            # the chosen factor is the default of the row's settings (config.for_space)
            from .aggregation import held_defaults

            src = results.loc[all_rows.index]
            chosen = float(pd.to_numeric(held_defaults(src)[claim.choice_column], errors="coerce").iloc[0])
            label = f"{chosen:g}"
            ran = sum(len(_pick(all_rows, {claim.choice_key: v}, claim.metric)) > 0
                      for v in set(all_rows[claim.choice_key].astype(str)))
            if ran < 2:  # one compared value only
                continue
            head["flagged"] = flagged_note(all_rows[bad])
            a = _pick(g, {claim.choice_key: label}, claim.metric)
            others = sorted(set(g[claim.choice_key].astype(str)) - {label})
            means = {o: _pick(g, {claim.choice_key: o}, claim.metric) for o in others}
            if len(a) < MIN_SEEDS or chosen_values.empty:
                out.append({**head, "verdict": "not run", "n seeds": str(len(a)), "effect": "", "p": "",
                            "detail": f"need the chosen {claim.choice_key}={label} and another value"})
                continue
            best = max((o for o in others if len(means[o]) >= MIN_SEEDS), key=lambda o: means[o].mean(), default=None)
            if best is None:
                out.append({**head, "verdict": "not run", "n seeds": str(len(a)), "effect": "", "p": "",
                            "detail": "no other value with 2 or more seeds"})
                continue
            comps = [compare(f"{claim.choice_key}={label}", a, f"{claim.choice_key}={best}", means[best])]
            same = [same_cell(g, {claim.choice_key: label}, {claim.choice_key: best})]
        else:
            compared = [claim.better, *claim.others]
            if sum(len(_pick(all_rows, sel, claim.metric)) > 0 for sel in compared) < 2:
                continue  # one compared row only (a default of another table)
            in_claim = np.zeros(len(all_rows), bool)
            for sel in compared:
                in_claim |= _mask(all_rows, sel).to_numpy(bool)
            head["flagged"] = flagged_note(all_rows[bad & in_claim])
            a = _pick(g, claim.better, claim.metric)
            bs = [(o, _pick(g, o, claim.metric)) for o in claim.others]
            missing = [_label(o) for o, b in bs if len(b) < MIN_SEEDS] + ([_label(claim.better)] if len(a) < MIN_SEEDS else [])
            if missing:
                out.append({**head, "verdict": "not run", "n seeds": "", "effect": "", "p": "",
                            "detail": "not run (fewer than 2 seeds): " + "; ".join(missing)})
                continue
            comps = [compare(_label(claim.better), a, _label(o), b) for o, b in bs]
            same = [same_cell(g, claim.better, o) for o, _ in bs]
        verdict = _judge(claim.kind, comps)
        p_of = (lambda c: c.p_b_gt_a) if claim.kind == "not_better" else (lambda c: c.p_a_gt_b)
        out.append({
            **head, "verdict": verdict,
            "n seeds": " / ".join(f"{c.n_a} vs {c.n_b}" for c in comps),
            "effect": "; ".join(f"{c.diff:+.2f} pp (g {c.hedges_g:+.2f})" if not math.isnan(c.hedges_g)
                                else f"{c.diff:+.2f} pp" for c in comps),
            "p": "; ".join(f"{p_of(c):.3f}" for c in comps),
            "same cell": "; ".join(same),
            "detail": "; ".join(f"{c.a} {c.mean_a:.2f} vs {c.b} {c.mean_b:.2f}" for c in comps),
        })
    return out or not_run


def verdict_table(results: pd.DataFrame | None, labelled: dict | None = None) -> pd.DataFrame:
    """Every claim of every ablation in the registry, judged (registry order, then group)."""
    labelled = {} if labelled is None else labelled
    rows = [r for a in ABLATIONS.values() for c in a.claims for r in judge_claim(c, results, labelled)]
    return pd.DataFrame(rows, columns=["claim", "text", "table", "run on", "budget", "settings", "within",
                                       "verdict", "n seeds", "effect", "p", "same cell", "flagged", "metric",
                                       "detail"])
