"""Fit efficiency parameters to measured prefill latencies and decode step times.

Least squares on log(predicted / measured) (relative errors, so a 50 ms row counts as much as a
5 s row), parameters in log space so they stay positive, Levenberg-Marquardt with a numerical
Jacobian. Small problems (tens of rows, seven parameters): numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
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


@dataclass(frozen=True)
class FitResult:
    efficiency: Efficiency
    rows: list[tuple[Measurement, float]]  # (measurement, predicted ms)

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
    used = [m for m in rows if not m.excluded]
    if len(used) < len(Efficiency.names()):
        raise ValueError(f"{len(used)} usable rows cannot fit {len(Efficiency.names())} parameters")
    names = Efficiency.names()

    def to_eff(theta: np.ndarray) -> Efficiency:
        vals = []
        for n, x in zip(names, theta):
            v = math.exp(x)
            vals.append(min(v, _CAP[n]) if n in _CAP else v)
        return Efficiency.from_vector(vals, source)

    def residuals(theta: np.ndarray) -> np.ndarray:
        eff = to_eff(theta)
        out = []
        for m in used:
            gpu, model, dtype = resolve(m)
            out.append(math.log(predict(m, gpu, model, eff, dtype) / m.latency_ms))
        return np.array(out)

    theta = np.log(np.maximum(np.array(start.as_vector(), dtype=float), 1e-6))
    lam = 1e-2
    r = residuals(theta)
    cost = float(r @ r)
    for _ in range(iterations):
        jac = np.empty((len(r), len(theta)))
        for i in range(len(theta)):
            step = np.zeros_like(theta)
            step[i] = 1e-5
            jac[:, i] = (residuals(theta + step) - r) / 1e-5
        jtj = jac.T @ jac
        grad = jac.T @ r
        improved = False
        for _ in range(20):
            delta = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-9), -grad)
            cand = theta + delta
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
    return FitResult(eff, [(m, predict(m, *resolve(m)[:2], eff, resolve(m)[2])) for m in rows])
