"""Fit efficiency parameters to measured prefill latencies and decode step times.

Least squares on log(predicted / measured) (relative errors, so a 50 ms row counts as much as a
5 s row), parameters in log space so they stay positive, Levenberg-Marquardt with a numerical
Jacobian. Small problems (tens of rows, seven parameters): numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from planner.catalog.types import Gpu, Model
from planner.perf.efficiency import Efficiency
from planner.perf.measurements import Measurement
from planner.perf.model import Deployment

# upper bounds of the shares of a peak: MFU cannot pass 1; achievable HBM bandwidth on
# A100/H100 measures at about 90% of the datasheet figure (STREAM-like copy kernels), and without
# the cap the A100 fit trades MBU against the decode overhead and lands on an implausible 1.0
_CAP = {"mfu": 1.0, "mbu": 0.9}
# largest exponent taken (exp(709.78) overflows a float): an unbounded parameter that runs away
# saturates at ~1e304 instead of raising OverflowError
_MAX_EXP = 700.0


@dataclass(frozen=True)
class FitResult:
    efficiency: Efficiency
    rows: list[tuple[Measurement, float]]  # (measurement, predicted ms)
    at_bound: tuple[str, ...] = ()  # free parameters that ended at an edge of their range (cap or bound)

    def errors(self, phase: str) -> list[float]:
        return [abs(p / m.latency_ms - 1) for m, p in self.rows if m.phase == phase and not m.excluded]


def predict(m: Measurement, gpu: Gpu, model: Model, eff: Efficiency, dtype: str) -> float:
    d = Deployment(gpu=gpu, model=model, tp=m.tp, weight_dtype=dtype, kv_dtype=dtype, compute_dtype=dtype, eff=eff)
    if m.phase == "prefill":
        return d.prefill_ms(m.prompt_tokens, m.batch)
    return d.decode_step_ms(m.batch, m.context_tokens)


def fit_efficiency(
    rows: Sequence[Measurement],
    resolve: Callable[[Measurement], tuple[Gpu, Model, str]],
    start: Efficiency,
    source: str,
    iterations: int = 200,
) -> FitResult:
    """Fit with one dtype per row for weights, KV and math (`resolve` gives GPU, model, dtype)."""

    def predict_row(m: Measurement, eff: Efficiency) -> float:
        gpu, model, dtype = resolve(m)
        return predict(m, gpu, model, eff, dtype)

    return fit_parameters(rows, predict_row, start, source, iterations=iterations)


def fit_parameters(
    rows: Sequence[Measurement],
    predict_row: Callable[[Measurement, Efficiency], float],
    start: Efficiency,
    source: str,
    fixed: Sequence[str] = (),
    iterations: int = 200,
    projected: bool = False,
    bounds: Mapping[str, tuple[float, float]] | None = None,
) -> FitResult:
    """Levenberg-Marquardt on log(predicted / measured) over the rows not `excluded`.

    `predict_row(m, eff)` is the model's latency for one row in ms. Parameters named in
    `fixed` keep their `start` value. Returns every row (excluded ones too) with its prediction.

    Caps (mfu ≤ 1, mbu ≤ 0.9) clip the parameter; past its cap its derivative is zero, so a
    parameter that overshoots stays there. `projected=True` keeps it at the cap instead and
    differentiates downwards there, so the fit can leave the cap again (calibration uses this;
    `make fit` keeps the original iteration, whose defaults are shipped).

    `bounds` ({name: (low, high)}, e.g. calibrate's PARAMETER_BOUNDS) confines every free
    parameter to its range during the fit: each step is projected onto the box in log space
    (a lower bound of 0 becomes `high`·1e-12, zero for every practical purpose), a parameter
    at its upper bound is differentiated downwards and one at its lower bound upwards, so it
    can leave the bound again. Rows no finite parameter value can explain (an all-reduce
    faster than any bandwidth) then end at a bound, named in `FitResult.at_bound`, instead of
    running away to an overflow. Without `bounds` the exponent is still clipped (no
    OverflowError) and a step whose predictions are not finite is rejected.
    """
    used = [m for m in rows if not m.excluded]
    names = Efficiency.names()
    unknown = sorted(set(fixed) - set(names))
    if unknown:
        raise ValueError(f"unknown efficiency parameters {unknown}; known: {names}")
    free = [i for i, n in enumerate(names) if n not in fixed]
    if len(used) < len(free):
        raise ValueError(f"{len(used)} usable rows cannot fit {len(free)} parameters")
    base = np.log(np.maximum(np.array(start.as_vector(), dtype=float), 1e-6))
    # value range per parameter (the caps, intersected with `bounds`) and its log-space box
    box = {n: (0.0, _CAP.get(n, math.inf)) for n in names}
    if bounds is not None:
        for n, (low, high) in bounds.items():
            if n in box:
                box[n] = (max(float(low), 0.0), min(float(high), box[n][1]))
    lows = np.array([_log_floor(*box[names[i]]) if bounds is not None else -np.inf for i in free])
    caps = np.array([math.log(box[names[i]][1]) if math.isfinite(box[names[i]][1]) else np.inf for i in free])
    confined = projected or bounds is not None

    def to_eff(theta: np.ndarray) -> Efficiency:
        full = base.copy()
        full[free] = theta
        vals = []
        for n, x, v0 in zip(names, full, start.as_vector()):
            if n in fixed:
                vals.append(v0)  # held values stay exact (no exp(log) round-off)
                continue
            v = math.exp(min(float(x), _MAX_EXP))
            if n in _CAP:
                v = min(v, _CAP[n])
            if bounds is not None:
                v = min(max(v, box[n][0]), box[n][1])  # exactly within the range (no exp(log) round-off)
            vals.append(v)
        return Efficiency.from_vector(vals, source)

    def residuals(theta: np.ndarray) -> np.ndarray:
        eff = to_eff(theta)
        out = []
        for m in used:
            p = float(predict_row(m, eff))
            if not (p > 0 and math.isfinite(p)):
                return np.full(len(used), np.inf)  # a step this far out is rejected
            out.append(math.log(p / m.latency_ms))
        return np.array(out)

    def project(theta: np.ndarray) -> np.ndarray:
        return np.clip(theta, lows, caps) if confined else theta

    theta = project(base[free].copy())
    lam = 1e-2
    r = residuals(theta)
    cost = float(r @ r)
    for _ in range(iterations):
        if not math.isfinite(cost):
            break
        jac = np.empty((len(r), len(theta)))
        for i in range(len(theta)):
            step = np.zeros_like(theta)
            step[i] = -1e-5 if confined and theta[i] >= caps[i] else 1e-5
            jac[:, i] = (residuals(theta + step) - r) / step[i]
        if not np.all(np.isfinite(jac)):
            jac = np.nan_to_num(jac, nan=0.0, posinf=0.0, neginf=0.0)
        jtj = jac.T @ jac
        grad = jac.T @ r
        improved = False
        for _ in range(20):
            delta = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-9), -grad)
            cand = project(theta + delta)
            rc = residuals(cand)
            cc = float(rc @ rc)
            if cc < cost:
                theta, r, cost = cand, rc, cc
                lam = max(lam / 3, 1e-9)
                improved = True
                break
            lam *= 4
        if not improved or np.max(np.abs(delta)) < 1e-7:
            break
    eff = to_eff(theta)
    at_bound = tuple(
        names[i]
        for i, x, lo, hi in zip(free, theta, lows, caps)
        if (math.isfinite(hi) and x >= hi - 1e-9) or (math.isfinite(lo) and x <= lo + 1e-9)
    )
    return FitResult(eff, [(m, predict_row(m, eff)) for m in rows], at_bound)


def _log_floor(low: float, high: float) -> float:
    """The lower edge of a parameter's box in log space: log(low), or for a bound of 0 a value
    12 orders of magnitude below `high` (log space cannot reach 0; this is zero in effect)."""
    if low > 0:
        return math.log(low)
    return math.log(high) - 12 * math.log(10) if math.isfinite(high) and high > 0 else -np.inf
