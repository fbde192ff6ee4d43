"""Each claim of the papers judged over seeds: reproduced, refuted, inconclusive or not run.

**Paired on common seeds.** A seed fixes the labelled cells, the ranker's initialisation and the
sampler's streams for every row of an ablation, so two rows of one group are compared seed by seed:
``d_s = A_s - B_s`` over the seeds both ran (A: the row the claim says is better, or not worse; B:
a row it is compared with). For each compared pair (:func:`paired_stats`):

* the mean difference with a 95% **paired t** interval and a 95% **bootstrap percentile** interval
  (:data:`N_BOOT` resamples of the seeds, ``numpy`` generator seeded with :data:`BOOT_SEED`, the
  same for every pair: the report is deterministic);
* the **p-value**: the paired t-test's two-sided p for the claims "A beats B" (``beats``,
  ``chosen_best``; p < 0.05 exactly when the 95% t interval excludes 0); for "B does not beat A"
  (``not_better``: top-10 saturates, the latency head costs nothing) a **non-inferiority** test at
  the margin :data:`MARGIN` (0.1 points): H0 ``mean d <= -margin``, one-sided alpha 0.05, with its
  90% t interval (p < 0.05 exactly when the interval's lower bound is above ``-margin``);
* the **minimum detectable effect** (MDE): the smallest true mean difference (beyond the tested
  boundary, 0 or ``-margin``) that the test finds with power 0.8 at its alpha, from the paired
  differences' sample std and n (noncentral t: ``scipy.special.nctdtrinc``).

**Groups.** A claim is judged within each group of rows run on the same benchmark and device
(``run on``: ``NB201 CIFAR-10``, ``NB201 CIFAR-10 (cuda)``; precision too), budget-table row,
settings and settings version (and each value of the row keys the claim leaves open, e.g. top-k):
a comparison never mixes devices, precisions or code versions. A group with every compared row
(two or more seeds paired each) is one **test**: for ``beats`` A must beat every B
(intersection-union: the group's p is the largest pair p, all differences positive), and it is
refuted when some B beats A (Bonferroni over the group's pairs: k times the smallest p of the
pairs whose difference is negative); ``not_better`` the same with the non-inferiority p and,
against it, the p of inferiority (H0 ``mean d >= -margin``). A **partial group** (some compared
row missing, or fewer than 2 seeds paired) is judged comparison by comparison: each pair that
could be paired is a test of its own; the missing ones read ``not run``.

**Holm.** The family is every test the report makes under one selection protocol: each complete
claim group and each pair of a partial group, over all claims (:func:`verdict_table`;
:func:`judge_claim` alone adjusts over the one claim's tests). The Holm-adjusted p decides: below
:data:`ALPHA`, *reproduced* when the effect points the claim's way, *refuted* when it points
against it; else *inconclusive*. Hence a non-inferiority claim is reproduced only when its 90%
interval's lower bound is above ``-margin`` (the adjusted p is never below the raw one).

**Both selection protocols** are judged, each its own family: *test-pick* (``test_acc``: the
returned cell is the queried one with the best test accuracy, the papers' protocol) and *val-pick*
(``test_acc_valpick``: the best queried validation accuracy; never looks at test labels).

Rows a verdict never uses (:mod:`.aggregation`): superseded rows (an older settings version: left
out before grouping; a claim with only those is *not run* and says so) and flagged rows (``health``
present and not ``ok``: judged with the rest, since leaving out the seeds where a setting failed to
learn would favour it; the ``flagged`` column says how many and why).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ..cli_common import seeds_text
from ..errors import NarError
from .aggregation import SUPERSEDED, col_or, flags_of, held_defaults, labelled_rows
from .registry import ABLATIONS, Claim, TableSpec, get_table

ALPHA = 0.05
POWER = 0.8
MARGIN = 0.1  # percentage points: the non-inferiority margin ("no better", "costs nothing")
MIN_SEEDS = 2
N_BOOT = 10_000
BOOT_SEED = 20_240_719
#: (protocol, metric) judged for a claim on ``test_acc``; another metric is judged alone
PROTOCOLS = (("test-pick", "test_acc"), ("val-pick", "test_acc_valpick"))
#: the columns a verdict line groups by: benchmark and device, budget-table row, settings and settings
#: version, data. Not the code version: each config is judged at the newest code it ran at (older
#: code is superseded: aggregation._rerun_of), and the compared configs may have run at different
#: commits; the line's ``code`` names them
VERDICT_GROUP = ("ours_bench", "_budget_row", "ours_settings", "_version", "_data")
TEST = ("paired t-test on common seeds (two-sided, 95% t and bootstrap intervals) for \"A beats B\"; "
        f"non-inferiority at a margin of {MARGIN} points (one-sided alpha 0.05, 90% interval) for \"B does not "
        f"beat A\"; Holm-adjusted across every test of the report, alpha {ALPHA}")

VERDICTS = ("reproduced", "refuted", "inconclusive", "not run")
COLUMNS = ["claim", "text", "table", "kind", "run on", "budget", "settings", "code", "within", "protocol", "metric",
           "A", "B", "seeds", "queries", "mean A", "mean B", "diff", "ci95 t", "ci95 boot", "ci90 t", "p", "mde",
           "test", "test p", "holm p", "verdict", "same cell", "flagged", "detail"]


# ------------------------------------------------------------------------------------------------
# the statistics of one pair
# ------------------------------------------------------------------------------------------------
def _t_quantile(df: float, q: float) -> float:
    from scipy.special import stdtrit  # scipy.stats takes seconds to import; the report must stay fast

    return float(stdtrit(df, q))


def _t_sf(df: float, t: float) -> float:
    """P(T > t) for Student's t with ``df`` degrees of freedom."""
    from scipy.special import stdtr

    return float(stdtr(df, -t))


def paired_t_interval(d: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """The ``level`` two-sided Student t interval of the mean of the paired differences ``d``."""
    d = np.asarray(d, float)
    n, mean = len(d), float(d.mean())
    se = float(d.std(ddof=1)) / math.sqrt(n)
    half = _t_quantile(n - 1, 0.5 + level / 2) * se
    return mean - half, mean + half


def bootstrap_interval(d: Sequence[float], level: float = 0.95, n_boot: int = N_BOOT,
                       seed: int = BOOT_SEED) -> tuple[float, float]:
    """The ``level`` percentile interval of the mean of ``d`` over ``n_boot`` resamples of its seeds.

    The generator is seeded with ``seed`` on every call: the same differences give the same interval."""
    d = np.asarray(d, float)
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
    lo, hi = np.percentile(means, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def paired_p(d: Sequence[float], shift: float = 0.0) -> tuple[float, float]:
    """One-sided p-values of the paired t-test of ``mean d`` against ``shift``:
    ``(p of mean d > shift, p of mean d < shift)``. The two-sided p is twice the smaller.

    All differences equal (no spread): the test is undefined; a mean on the boundary shows nothing
    (1, 1), one off it is taken as shown (0 on its side)."""
    d = np.asarray(d, float)
    n, mean = len(d), float(d.mean())
    sd = float(d.std(ddof=1))
    if not np.isfinite(sd) or sd <= 1e-9 * max(1.0, abs(mean)):
        # no spread (seeds returning the same cells, identical differences up to float noise): the t
        # statistic is undefined or huge. Such a pair shows what the exact sign-flip permutation test
        # shows when every sign agrees, one-sided p = 2^-n, and no more
        if math.isclose(mean, shift, abs_tol=1e-9):
            return 1.0, 1.0
        return (0.5 ** n, 1.0) if mean > shift else (1.0, 0.5 ** n)
    t = (mean - shift) / (sd / math.sqrt(n))
    return _t_sf(n - 1, t), _t_sf(n - 1, -t)


def mde(sd: float, n: int, alpha: float = ALPHA, power: float = POWER, two_sided: bool = True) -> float:
    """The smallest true mean difference a paired t-test on ``n`` seeds detects with ``power``.

    From the noncentral t: the noncentrality ``nc`` with ``P(T'(n-1, nc) > t_crit) = power``
    (``t_crit`` the test's critical value), times the standard error ``sd / sqrt(n)``."""
    from scipy.special import nctdtrinc

    if n < 2 or not np.isfinite(sd):
        return math.nan
    if sd == 0:
        return 0.0
    crit = _t_quantile(n - 1, 1 - alpha / 2 if two_sided else 1 - alpha)
    nc = float(nctdtrinc(n - 1, 1 - power, crit))
    return nc * sd / math.sqrt(n)


@dataclass(frozen=True)
class PairStats:
    """A paired comparison of A and B over ``n`` common seeds (``d = A - B``)."""

    kind: str              # "superiority" (beats, chosen_best) or "noninferiority" (not_better)
    n: int
    mean_a: float
    mean_b: float
    diff: float            # mean of d
    sd: float              # sample std of d
    ci95_t: tuple[float, float]
    ci95_boot: tuple[float, float]
    ci90_t: tuple[float, float] | None    # non-inferiority only
    p_for: float           # p of the claim's direction: A > B (two-sided p), or A >= B - margin
    p_against: float       # p of the other direction: B > A (two-sided), or A < B - margin
    mde: float

    @property
    def points_for(self) -> bool:
        """Whether the mean difference points the claim's way (above 0, or above ``-margin``)."""
        return self.diff > (-MARGIN if self.kind == "noninferiority" else 0.0)

    @property
    def p(self) -> float:
        """The pair's p in the direction its mean difference points."""
        return self.p_for if self.points_for else self.p_against


def paired_stats(a: Sequence[float], b: Sequence[float], noninferiority: bool = False,
                 margin: float = MARGIN) -> PairStats:
    """The statistics of one pair: ``a`` and ``b`` are aligned by seed (same length, >= 2)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    d = a - b
    n = len(d)
    if n < MIN_SEEDS:
        raise NarError(f"a paired comparison needs {MIN_SEEDS} or more common seeds, got {n}")
    sd = float(d.std(ddof=1))
    if noninferiority:
        gt, lt = paired_p(d, -margin)
        p_for, p_against = gt, lt
        ci90 = paired_t_interval(d, 0.90)
    else:
        gt, lt = paired_p(d, 0.0)
        p_for, p_against = min(1.0, 2 * gt), min(1.0, 2 * lt)
        ci90 = None
        if gt == lt == 1.0:  # no spread, no difference
            p_for = p_against = 1.0
    return PairStats("noninferiority" if noninferiority else "superiority", n, float(a.mean()), float(b.mean()),
                     float(d.mean()), sd, paired_t_interval(d, 0.95), bootstrap_interval(d, 0.95), ci90,
                     p_for, p_against, mde(sd, n, two_sided=not noninferiority))


def group_test(pairs: Sequence[PairStats]) -> tuple[float, bool]:
    """One test of a claim over its pairs: ``(p, points the claim's way)``.

    The claim's way: every pair points for it, and the p is the largest pair p (intersection-union:
    A beats every B). Against: some pair points against it, and the p is the smallest p of those
    pairs times the number of pairs (Bonferroni: any B beating A refutes)."""
    if all(s.points_for for s in pairs):
        return max(s.p_for for s in pairs), True
    return min(1.0, len(pairs) * min(s.p_against for s in pairs if not s.points_for)), False


def holm(p: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values (same order as ``p``; ties keep their order)."""
    p = [float(x) for x in p]
    m = len(p)
    order = sorted(range(m), key=lambda i: p[i])
    out = [1.0] * m
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out


# ------------------------------------------------------------------------------------------------
# rows of a claim
# ------------------------------------------------------------------------------------------------
def _label(sel: Mapping[str, str]) -> str:
    return ", ".join(f"{k.removeprefix('ours_').lstrip('_')}={v}" for k, v in sel.items())


def _mask(rows: pd.DataFrame, sel: Mapping[str, str]) -> pd.Series:
    mask = pd.Series(True, index=rows.index)
    for k, v in sel.items():
        mask &= rows[k].astype(str) == str(v)
    return mask


def _by_seed(rows: pd.DataFrame, sel: Mapping[str, str], metric: str) -> pd.Series | str:
    """The metric of the selected rows by seed, or why they cannot be paired: several configs among
    them (``_config``: the config less its seed), whether they share a seed or ran on disjoint seeds
    (two settings pooled as one row would be paired seed by seed with the other side)."""
    r = rows[_mask(rows, sel)]
    if metric not in r.columns:
        return pd.Series(dtype=float)
    r = r[r[metric].notna()]
    seeds = pd.to_numeric(r["_seed"], errors="coerce")
    if "_config" in r.columns and r["_config"].nunique() > 1:
        return f"{_label(sel)}: {r['_config'].nunique()} configs in this group ({_how_configs_differ(r)}): cannot pair them as one row"
    if seeds.duplicated().any():
        return f"{_label(sel)}: several runs share a seed in this group: cannot pair"
    return pd.Series(r[metric].to_numpy(float), index=seeds.to_numpy())


def _how_configs_differ(rows: pd.DataFrame) -> str:
    """``dropout 0.1 / 0.2; seeds 0-9 / 10-19; r.csv / more.csv``: the fields in which the configs
    of ``rows`` differ, then each config's seeds and files, configs in the order of their first seed."""
    seed = pd.to_numeric(rows["_seed"], errors="coerce")
    order = rows.assign(_s=seed).sort_values("_s", kind="stable", na_position="last")["_config"].drop_duplicates()
    first = rows.drop_duplicates("_config").set_index("_config")
    fields = [json.loads(t) if t else {} for t in col_or(first, "_config_text", "").reindex(order).astype(str)]
    names = sorted({k for f in fields for k in f if len({g.get(k, "") for g in fields}) > 1})
    what = "; ".join(f"{k} {' / '.join(g.get(k, '-') for g in fields)}" for k in names) or "unrecorded fields"
    seeds, files = [], []
    for c in order:
        mine = rows["_config"] == c
        s = seed[mine]
        seeds.append(seeds_text(sorted(s.dropna().astype(int))) + (f" (+{int(s.isna().sum())} unreadable)" if s.isna().any() else ""))
        files.append(", ".join(sorted(set(rows.loc[mine, "_file"].astype(str)))) if "_file" in rows.columns else "")
    return f"{what}; seeds {' / '.join(seeds)}" + (f"; {' / '.join(files)}" if any(files) else "")


def _natural(v: str) -> tuple:
    try:
        return (0, float(v), "")
    except ValueError:
        return (1, 0.0, v)


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
    """``k flagged rows judged with the rest: flag, flag`` for the flagged rows among ``rows`` ("" when none)."""
    if "_health" not in rows.columns or rows.empty:
        return ""
    flags = flags_of(rows["_health"].astype(str))
    k = int(flags.map(bool).sum())
    if not k:
        return ""
    names = sorted({f for fl in flags for f in fl})
    return f"{k} flagged row{'s' if k > 1 else ''} judged with the rest: {', '.join(names)}"


def _within(claim: Claim, spec: TableSpec) -> list[str]:
    """Row keys a claim leaves open: it is judged within each of their values (e.g. per top-k)."""
    named = set(claim.better) | {k for o in claim.others for k in o} | ({claim.choice_key} - {""})
    return [k for k in spec.keys if k not in named]


def protocols(claim: Claim) -> tuple[tuple[str, str], ...]:
    return PROTOCOLS if claim.metric == "test_acc" else ((claim.metric, claim.metric),)


def _fmt(x: float, sign: bool = True) -> str:
    return "" if x is None or not np.isfinite(x) else (f"{x:+.2f}" if sign else f"{x:.2f}")


def _interval(ci: tuple[float, float] | None) -> str:
    return "" if ci is None else f"[{ci[0]:+.2f}, {ci[1]:+.2f}]"


def _p(p: float) -> str:
    if p is None or not np.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _queries(rows: pd.DataFrame, sel: Mapping[str, str], seeds) -> str:
    """The queries the selected rows made on ``seeds``: ``150``, ``129-130`` ("" when not recorded)."""
    r = rows[_mask(rows, sel)]
    if "queries_total" not in r.columns:
        return ""
    made = r.loc[pd.to_numeric(r["_seed"], errors="coerce").isin(list(seeds)), "queries_total"].dropna()
    if made.empty:
        return ""
    lo, hi = int(made.min()), int(made.max())
    return f"{lo}" if lo == hi else f"{lo}-{hi}"


def _selections(claim: Claim, g: pd.DataFrame, all_rows: pd.DataFrame, results: pd.DataFrame):
    """(A, [B...]) row selectors of a group, or None when the group compares nothing."""
    if claim.kind == "chosen_best":
        src = results.loc[all_rows.index]
        chosen = float(pd.to_numeric(held_defaults(src)[claim.choice_column], errors="coerce").iloc[0])
        label = f"{chosen:g}"
        values = sorted(set(all_rows[claim.choice_key].astype(str)) - {label}, key=_natural)
        if len(values) + (label in set(all_rows[claim.choice_key].astype(str))) < 2:
            return None  # one compared value only
        return {claim.choice_key: label}, [{claim.choice_key: v} for v in values]
    compared = [claim.better, *claim.others]
    if sum(bool(_mask(all_rows, sel).any()) for sel in compared) < 2:
        return None  # one compared row only (a default of another table)
    return claim.better, list(claim.others)


def judge_claim(claim: Claim, results: pd.DataFrame | None, labelled: dict | None = None) -> list[dict]:
    """The lines of one claim: one per compared pair, group and selection protocol (:data:`COLUMNS`).

    A group holding only one of the compared rows (say the default config, run for another table or
    at another budget) is left out. With no group left: one ``not run`` line per protocol.
    ``labelled``: table name -> :func:`~nar_core.ablations.aggregation.labelled_rows` (or the error
    it raised), shared by callers. The Holm adjustment here is over this claim's tests alone;
    :func:`verdict_table` adjusts over every claim's.
    """
    lines = _claim_lines(claim, results, labelled)
    _adjust(lines)
    return lines


def current_rows(table: str, results: pd.DataFrame | None, labelled: dict | None = None, space: str = "",
                 dataset: str = "") -> tuple[pd.DataFrame, int] | None:
    """``(rows, n superseded)``: a table's labelled rows (of ``space`` / ``dataset`` when named) less
    the superseded ones (an older settings or code version: history in the tables, never judged),
    or None when the table has no row of ours. ``labelled``: table name ->
    :func:`~nar_core.ablations.aggregation.labelled_rows` (or the error it raised), a cache shared
    by callers and filled here."""
    if results is None or results.empty:
        return None
    if labelled is not None and table in labelled:
        rows = labelled[table]
    else:
        try:
            rows = labelled_rows(table, results)
        except NarError as exc:
            rows = exc
        if labelled is not None:
            labelled[table] = rows
    if isinstance(rows, Exception):
        return None
    if space:
        rows = rows[(rows["_space"] == space) & (rows["_dataset"] == dataset)]
    old = (rows["_superseded"].astype(bool) if "_superseded" in rows.columns
           else rows["ours_settings"] == SUPERSEDED).to_numpy(bool)
    return rows[~old], int(old.sum())


def _claim_lines(claim: Claim, results: pd.DataFrame | None, labelled: dict | None) -> list[dict]:
    spec = get_table(claim.table)
    base = {"claim": claim.name, "text": claim.text, "table": claim.table, "kind": claim.kind}
    blank = {c: "" for c in COLUMNS}

    def not_run(detail: str) -> list[dict]:
        return [{**blank, **base, "protocol": proto, "metric": metric, "verdict": "not run", "detail": detail}
                for proto, metric in protocols(claim)]

    got = current_rows(spec.name, results, labelled, claim.space, claim.dataset)
    if got is None:
        return not_run("no results of the compared rows")
    rows, n_old = got
    detail = "no results of the compared rows"
    if n_old:
        detail = (f"no current results of the compared rows: {n_old} superseded rows of the table "
                  f"(an older settings or code version) left out, to be re-run")
    open_keys = _within(claim, spec)
    by = list(VERDICT_GROUP) + open_keys
    out: list[dict] = []
    for gkey, all_rows in rows.groupby(by, sort=True, dropna=False):
        gkey = gkey if isinstance(gkey, tuple) else (gkey,)
        group = dict(zip(by, gkey))
        bad = flags_of(all_rows["_health"].astype(str)).map(bool).to_numpy(bool) if "_health" in all_rows.columns \
            else np.zeros(len(all_rows), bool)
        # every row is judged, flagged ones too: leaving out the seeds where a setting failed to learn
        # would favour that setting; the "flagged" column says how many took part and why
        g = all_rows
        sel = _selections(claim, g, all_rows, results)
        if sel is None:
            continue
        a_sel, b_sels = sel
        in_claim = np.zeros(len(all_rows), bool)
        for s in [a_sel, *b_sels]:
            in_claim |= _mask(all_rows, s).to_numpy(bool)
        head = {**base, "run on": group["ours_bench"], "budget": group["_budget_row"], "settings": group["ours_settings"],
                "code": _codes(all_rows[in_claim]), "within": _label({k: group[k] for k in open_keys}), "flagged": flagged_note(all_rows[bad & in_claim])}
        gid = f"{claim.name}|" + "|".join(str(v) for v in gkey)
        for proto, metric in protocols(claim):
            out += _group_lines(claim, g, a_sel, b_sels, {**blank, **head, "protocol": proto, "metric": metric}, gid)
    return out or not_run(detail)


def _codes(rows: pd.DataFrame) -> str:
    """The code versions a verdict line's rows ran at (``" / "``-joined, ``unrecorded`` for none)."""
    codes = sorted({str(c) for c in rows["_code"]}) if "_code" in rows.columns else []
    return " / ".join(c or "unrecorded" for c in codes)


def _group_lines(claim: Claim, g: pd.DataFrame, a_sel, b_sels, head: dict, gid: str) -> list[dict]:
    metric = head["metric"]
    ni = claim.kind == "not_better"
    a = _by_seed(g, a_sel, metric)
    lines, stats = [], []
    for b_sel in b_sels:
        b = _by_seed(g, b_sel, metric)
        why = a if isinstance(a, str) else b if isinstance(b, str) else ""
        common = [] if why else sorted(set(a.index) & set(b.index))
        if not why and len(common) < MIN_SEEDS:
            why = (f"fewer than {MIN_SEEDS} common seeds ({_label(a_sel)}: {len(a)}, {_label(b_sel)}: {len(b)}, "
                   f"both: {len(common)})")
        line = {**head, "A": _label(a_sel), "B": _label(b_sel), "same cell": "" if why else same_cell(g, a_sel, b_sel)}
        if why:
            lines.append({**line, "seeds": str(len(common)) if common else "", "verdict": "not run",
                          "detail": f"not run: {why}"})
            stats.append(None)
            continue
        s = paired_stats(a[common].to_numpy(), b[common].to_numpy(), noninferiority=ni)
        unpaired = (len(a) - len(common), len(b) - len(common))
        seeds = f"{s.n}" + (f" (+{unpaired[0]} A, +{unpaired[1]} B unpaired)" if any(unpaired) else "")
        lines.append({**line, "seeds": seeds, "queries": f"{_queries(g, a_sel, common)} vs {_queries(g, b_sel, common)}",
                      "mean A": _fmt(s.mean_a, False), "mean B": _fmt(s.mean_b, False), "diff": _fmt(s.diff),
                      "ci95 t": _interval(s.ci95_t), "ci95 boot": _interval(s.ci95_boot), "ci90 t": _interval(s.ci90_t),
                      "p": _p(s.p), "mde": _fmt(s.mde, False), "_stats": s,
                      "detail": f"{_label(a_sel)} {s.mean_a:.2f} vs {_label(b_sel)} {s.mean_b:.2f} on {s.n} seeds"
                                + (f"; non-inferiority margin {MARGIN}" if ni else "")})
        stats.append(s)
    judged = [s for s in stats if s is not None]
    if judged and len(judged) == len(stats):  # every compared row paired: the group is one test
        p, way = group_test(judged)
        for line in lines:
            line.update({"test": "group", "_unit": (head["protocol"], gid), "_p": p, "_way": way})
    else:  # a partial group: each pair that could be paired is a test of its own
        for line, s in zip(lines, stats):
            if s is not None:
                p, way = group_test([s])
                line.update({"test": "pair (partial group)", "_unit": (head["protocol"], gid, line["B"]),
                             "_p": p, "_way": way})
                line["detail"] += "; partial group: judged on its own"
    return lines


def _holm_by_protocol(lines: list[dict]) -> None:
    """Holm across the tests of ``lines``, one family per protocol: a test is a line's ``_unit`` (the
    lines of one unit share its ``_p``); sets ``_holm`` on every line that has a unit."""
    for proto in dict.fromkeys(line["protocol"] for line in lines):
        units: dict = {}
        for line in lines:
            if line["protocol"] == proto and "_unit" in line:
                units.setdefault(line["_unit"], line["_p"])
        adjusted = dict(zip(units, holm(list(units.values()))))
        for line in lines:
            if line["protocol"] == proto and "_unit" in line:
                line["_holm"] = adjusted[line["_unit"]]


def _adjust(lines: list[dict]) -> None:
    """Holm across the tests of ``lines`` (one family per protocol); sets ``test p``, ``holm p``, ``verdict``."""
    _holm_by_protocol(lines)
    for line in lines:
        if "_holm" in line:
            adj = line["_holm"]
            line["test p"], line["holm p"] = _p(line["_p"]), _p(adj)
            line["verdict"] = ("reproduced" if line["_way"] else "refuted") if adj < ALPHA else "inconclusive"


def verdict_table(results: pd.DataFrame | None, labelled: dict | None = None) -> pd.DataFrame:
    """Every claim of every ablation in the registry, judged (registry order, then group, protocol, pair).

    Holm's adjustment runs over every test of the table under each protocol (the family: every
    complete claim group and every pair of a partial group, over all claims)."""
    labelled = {} if labelled is None else labelled
    lines = [line for a in ABLATIONS.values() for c in a.claims for line in _claim_lines(c, results, labelled)]
    _adjust(lines)
    return pd.DataFrame(lines, columns=COLUMNS).astype(object).fillna("")


def family_sizes(verdicts: pd.DataFrame) -> dict[str, int]:
    """Tests per protocol in a verdict table (the Holm family's size)."""
    judged = verdicts[verdicts["test"] != ""]
    out = {}
    for proto, g in judged.groupby("protocol", sort=False):
        groups = g[g["test"] == "group"].drop_duplicates(["claim", "run on", "budget", "settings", "code", "within"])
        out[proto] = len(groups) + int((g["test"] != "group").sum())
    return out


def summary(verdicts: pd.DataFrame) -> pd.DataFrame:
    """One line per claim group: its verdict under each protocol side by side (a partial group
    reads ``partial: 1 reproduced, 1 not run``), with the Holm p of a group test."""
    keys = ["claim", "text", "table", "run on", "budget", "settings", "code", "within"]
    protos = list(dict.fromkeys(verdicts["protocol"]))
    rows = []
    for key, g in verdicts.groupby(keys, sort=False):
        row = dict(zip(keys, key))
        for proto in protos:
            p = g[g["protocol"] == proto]
            if p.empty:
                row[proto] = ""
                continue
            if (p["test"] == "group").all():
                row[proto] = f"{p['verdict'].iloc[0]} (Holm p {p['holm p'].iloc[0]})"
            elif (p["verdict"] == "not run").all():
                row[proto] = "not run"
            else:
                counts = p["verdict"].value_counts()
                row[proto] = "partial: " + ", ".join(f"{counts[v]} {v}" for v in VERDICTS if v in counts)
        row["seeds"] = " / ".join(s for s in g[g["protocol"] == protos[0]]["seeds"].astype(str) if s)
        rows.append(row)
    return pd.DataFrame(rows, columns=keys + protos + ["seeds"])


# ------------------------------------------------------------------------------------------------
# the rankers against the baselines (not a claim of the papers: context for the verdicts)
# ------------------------------------------------------------------------------------------------
#: the search baselines of the queries-vs-accuracy table; every other method there is a ranker
BASELINES = ("random_search", "evolution")
VS_COLUMNS = ["run on", "budget", "settings", "code", "protocol", "ranker", "baseline", "seeds", "queries",
              "mean ranker", "mean baseline", "diff", "ci95 welch", "p", "holm p", "reading"]


def welch_stats(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> tuple[float, tuple[float, float], float]:
    """``(mean a - mean b, its level Welch t interval, two-sided p)`` for two independent samples.

    Welch-Satterthwaite degrees of freedom. Neither sample with spread (every seed of a side
    returned the same cell): no t statistic; p is then the exact permutation test's, which is
    as far as these seeds can show a difference (the observed split is the most extreme of the
    C(n_a + n_b, n_a) splits; two-sided, its mirror counts too when n_a = n_b), and 1 for equal
    means; the interval is the point."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < MIN_SEEDS or len(b) < MIN_SEEDS:
        raise NarError(f"a Welch comparison needs {MIN_SEEDS} or more seeds a side, got {len(a)} and {len(b)}")
    diff = float(a.mean() - b.mean())
    va, vb = float(a.var(ddof=1)) / len(a), float(b.var(ddof=1)) / len(b)
    se = math.sqrt(va + vb)
    if se <= 1e-9 * max(1.0, abs(diff)):
        if math.isclose(diff, 0.0, abs_tol=1e-9):
            return diff, (diff, diff), 1.0
        return diff, (diff, diff), min(1.0, (2 if len(a) == len(b) else 1) / math.comb(len(a) + len(b), len(a)))
    df = (va + vb) ** 2 / ((va ** 2 / (len(a) - 1) if va else 0.0) + (vb ** 2 / (len(b) - 1) if vb else 0.0))
    half = _t_quantile(df, 0.5 + level / 2) * se
    return diff, (diff - half, diff + half), min(1.0, 2 * _t_sf(df, abs(diff) / se))


def against_baselines(results: pd.DataFrame | None, labelled: dict | None = None) -> pd.DataFrame:
    """Each ranker against each baseline at the same budget-table row, both selection protocols
    (:data:`VS_COLUMNS`).

    The current rows of the ``queries`` table (each method at its default settings), grouped as a
    verdict groups them (:data:`VERDICT_GROUP`: benchmark and device, budget-table row, settings
    and version, data). A ranker and a baseline share no draws (the labelled cells and the search
    come from different streams of a seed), so the comparison is **unpaired**: the difference of
    means (ranker - baseline) with its 95% **Welch** interval and two-sided p (:func:`welch_stats`),
    Holm over this table's comparisons per protocol (a family of its own: the papers make no such
    claim; they compare with methods quoted from the literature). ``reading``: who is ahead when the
    Holm p is below :data:`ALPHA`, else ``not resolved``; ``not compared: ...`` where a side has
    fewer than two seeds or one method ran several configs (:func:`_by_seed`). Empty when no group holds
    both a ranker and a baseline."""
    got = current_rows("queries", results, labelled)
    lines: list[dict] = []
    for gkey, g in (got[0].groupby(list(VERDICT_GROUP), sort=True, dropna=False) if got else ()):
        group = dict(zip(VERDICT_GROUP, gkey))
        methods = set(g["_method"].astype(str))
        for proto, metric in PROTOCOLS:
            if metric not in g.columns:
                continue
            for ranker in sorted(methods - set(BASELINES)):
                for base in (b for b in BASELINES if b in methods):
                    a_sel, b_sel = {"_method": ranker}, {"_method": base}
                    both = g[_mask(g, a_sel) | _mask(g, b_sel)]
                    line = {"run on": group["ours_bench"], "budget": group["_budget_row"],
                            "settings": group["ours_settings"], "code": _codes(both), "protocol": proto,
                            "ranker": ranker, "baseline": base}
                    a, b = _by_seed(g, a_sel, metric), _by_seed(g, b_sel, metric)
                    why = a if isinstance(a, str) else b if isinstance(b, str) else ""
                    if not why and min(len(a), len(b)) < MIN_SEEDS:
                        why = f"fewer than {MIN_SEEDS} seeds a side ({len(a)} vs {len(b)})"
                    if why:
                        lines.append({**line, "reading": f"not compared: {why}"})
                        continue
                    diff, ci, p = welch_stats(a.to_numpy(), b.to_numpy())
                    lines.append({
                        **line, "seeds": f"{len(a)} vs {len(b)}",
                        "queries": f"{_queries(g, a_sel, a.index)} vs {_queries(g, b_sel, b.index)}",
                        "mean ranker": _fmt(float(a.mean()), False), "mean baseline": _fmt(float(b.mean()), False),
                        "diff": _fmt(diff), "ci95 welch": _interval(ci), "p": _p(p),
                        "_unit": (proto, len(lines)), "_p": p, "_diff": diff})
    _holm_by_protocol(lines)
    for line in (x for x in lines if "_holm" in x):
        ahead = line["ranker"] if line["_diff"] > 0 else line["baseline"]
        line["holm p"] = _p(line["_holm"])
        line["reading"] = f"{ahead} ahead" if line["_holm"] < ALPHA else "not resolved"
    return pd.DataFrame(lines, columns=VS_COLUMNS).astype(object).fillna("")
