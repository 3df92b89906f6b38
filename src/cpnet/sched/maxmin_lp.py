"""Gavel's max-min fairness LP (OSDI'20 §4.1, `max_min_fairness_perf`), solved with HiGHS.

Jobs are grouped into classes of interchangeable jobs (same job type, gang size, weight and
feasible models: identical LP rows). By symmetry some optimal allocation gives every job of a class
the same row, so the LP is written per class, with y[g,k] = the time fraction that each job of
class g spends on accelerator model k:

    maximise   t
    subject to t <= sum_k c[g,k] * y[g,k]              for every class g      ("fair" rows)
               sum_k y[g,k] <= 1                       for every class g      ("one" rows)
               sum_g n_g * s_g * y[g,k] <= cap_k       for every model k      ("cap" rows)
               0 <= y[g,k] <= min(1, capf[g,k] / (n_g * s_g))

with n_g jobs of gang size s_g in class g, c[g,k] = T[g,k] * s_g / (w_g * T_eq[g]) (Gavel multiplies
by the scale factor so a 1-device job gets s_g times the time of an s_g-device job at equal
throughput) and T_eq[g] the job's throughput under Gavel's proportional share (x_k = cap_k / m for
m jobs, rescaled so that sum_k x_k <= 1). `capf[g,k]` is the capacity of model k at the sites the
class may use (multi-site networks aggregate pools by model; the mechanism picks the site).

That is Gavel's LP, and by default (`second_phase=False`) all that is solved. The max-min optimum
is degenerate (the non-bottleneck jobs' slack is arbitrary: Gavel's cvxpy solver returns one
optimum, HiGHS' dual simplex a vertex), so the optional second phase (`second_phase=True`, an
improvement not in the paper) fixes t at its optimum (less 1e-7 relative) and maximises the total
normalised throughput sum_g n_g sum_k c[g,k] y[g,k]. Both phases use dual simplex; the final basis is returned as plain
data keyed by class and model; the next solve starts from it when the class set is unchanged (only
class sizes moved). Measured on the 82k-job Philly replay, mapping a basis across changed class
sets ("alien" basis) saved nothing over a cold start, so it is not attempted.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import highspy
import numpy as np

_REL_TOL = 1e-7


@dataclass(frozen=True, slots=True)
class LpClass:
    """`count` jobs with identical rows: `coeff[k]` = c[g,k], `cap_bound[k]` = capf[g,k]."""

    key: Hashable
    count: int
    gang: int
    coeff: Mapping[str, float]
    cap_bound: Mapping[str, float]


@dataclass(frozen=True, slots=True)
class SavedBasis:
    """A HiGHS basis as statuses keyed by column and row names (survives model changes)."""

    cols: Mapping[Hashable, int]
    rows: Mapping[Hashable, int]


@dataclass(frozen=True, slots=True)
class LpResult:
    alloc: Mapping[Hashable, Mapping[str, float]]  # class key -> model -> y
    t: float
    basis: SavedBasis | None
    iterations: int
    status: str


def equal_share_throughput(rates: Mapping[str, float], capacity: Mapping[str, float], num_jobs: int) -> float:
    """Gavel's ProportionalPolicy: throughput with x_k = cap_k / m, rescaled to sum_k x_k <= 1."""
    total = sum(capacity.values())
    if total <= 0 or num_jobs <= 0:
        return 0.0
    scale = 1.0 / max(total / num_jobs, 1.0)
    return sum(rates.get(k, 0.0) * capacity[k] / num_jobs * scale for k in capacity)


def solve_maxmin(
    classes: Sequence[LpClass],
    capacity: Mapping[str, float],
    warm: SavedBasis | None = None,
    second_phase: bool = False,
) -> LpResult:
    """Gavel's max-min LP over classes (plus the optional second phase); `warm`: a previous basis."""
    cols: list[Hashable] = ["t"]
    var_cols: list[tuple[Hashable, str]] = []  # cols[1:] as (class key, model)
    col_upper: list[float] = [highspy.kHighsInf]
    obj_phase2: list[float] = [0.0]
    starts: list[int] = []
    index: list[int] = []
    value: list[float] = []
    models = sorted(capacity)
    row_names: list[Hashable] = []
    for g in classes:
        row_names += [("fair", g.key), ("one", g.key)]
    cap_row = {k: len(row_names) + i for i, k in enumerate(models)}
    row_names += [("cap", k) for k in models]
    # column t: +1 in every fair row
    starts.append(0)
    for gi in range(len(classes)):
        index.append(2 * gi)
        value.append(1.0)
    for gi, g in enumerate(classes):
        for k in sorted(g.coeff):
            if k not in cap_row:
                continue
            cols.append((g.key, k))
            var_cols.append((g.key, k))
            starts.append(len(index))
            index += [2 * gi, 2 * gi + 1, cap_row[k]]
            value += [-g.coeff[k], 1.0, float(g.count * g.gang)]
            col_upper.append(min(1.0, g.cap_bound.get(k, 0.0) / (g.count * g.gang)))
            obj_phase2.append(g.count * g.coeff[k])
    n_col = len(cols)
    n_row = len(row_names)
    lp = highspy.HighsLp()
    lp.num_col_ = n_col
    lp.num_row_ = n_row
    lp.sense_ = highspy.ObjSense.kMaximize
    cost = np.zeros(n_col)
    cost[0] = 1.0
    lp.col_cost_ = cost
    lp.col_lower_ = np.zeros(n_col)
    lp.col_upper_ = np.array(col_upper)
    row_lower = np.full(n_row, -highspy.kHighsInf)
    row_upper = np.zeros(n_row)
    for gi in range(len(classes)):
        row_upper[2 * gi + 1] = 1.0
    for k, r in cap_row.items():
        row_upper[r] = float(capacity[k])
    lp.row_lower_ = row_lower
    lp.row_upper_ = row_upper
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.array([*starts, len(index)], dtype=np.int32)
    lp.a_matrix_.index_ = np.array(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(value)
    lp.a_matrix_.num_col_ = n_col
    lp.a_matrix_.num_row_ = n_row

    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("solver", "simplex")
    h.setOptionValue("presolve", "off")  # keep the basis usable for warm starts
    h.passModel(lp)
    if warm is not None and len(warm.cols) == len(cols) and len(warm.rows) == len(row_names) and all(c in warm.cols for c in cols):
        _set_basis(h, warm, cols, row_names)  # same classes, only counts changed
    h.run()
    iterations = h.getInfo().simplex_iteration_count
    status = h.modelStatusToString(h.getModelStatus())
    t_opt = float(h.getSolution().col_value[0]) if status == "Optimal" else 0.0
    if status == "Optimal" and second_phase and len(classes) > 0:
        h.changeColBounds(0, max(0.0, t_opt - _REL_TOL * max(1.0, abs(t_opt))), highspy.kHighsInf)
        h.changeColsCost(n_col, np.arange(n_col, dtype=np.int32), np.array(obj_phase2))
        h.run()
        iterations += h.getInfo().simplex_iteration_count
        status = h.modelStatusToString(h.getModelStatus())
    if status != "Optimal":
        return LpResult({}, 0.0, None, iterations, status)
    y = h.getSolution().col_value
    alloc: dict[Hashable, dict[str, float]] = {g.key: {} for g in classes}
    for c, (key, k) in enumerate(var_cols, start=1):
        v = min(1.0, max(0.0, float(y[c])))
        if v > 1e-9:
            alloc[key][k] = v
    basis = h.getBasis()
    saved = SavedBasis(
        cols={name: int(s) for name, s in zip(cols, [int(x) for x in basis.col_status], strict=True)},
        rows={name: int(s) for name, s in zip(row_names, [int(x) for x in basis.row_status], strict=True)},
    )
    return LpResult(alloc, t_opt, saved, iterations, status)


def _set_basis(h: highspy.Highs, warm: SavedBasis, cols: list[Hashable], rows: list[Hashable]) -> None:
    lower = int(highspy.HighsBasisStatus.kLower)
    basic = int(highspy.HighsBasisStatus.kBasic)
    b = highspy.HighsBasis()
    b.col_status = [highspy.HighsBasisStatus(warm.cols.get(c, lower)) for c in cols]
    b.row_status = [highspy.HighsBasisStatus(warm.rows.get(r, basic)) for r in rows]
    b.alien = False
    b.valid = True
    h.setBasis(b)
