"""Queueing approximations for the TTFT utilisation cap.

A prefill instance is a single server with deterministic service time S (M/D/1). Its mean wait
is E[Wq] = ρS / (2(1-ρ)) (Pollaczek-Khinchine). For a percentile we use the standard
exponential-tail approximation of the M/G/1 wait: P(Wq > w) ≈ ρ·exp(-ρw / E[Wq]), so the
p-quantile is w_p = 0 when ρ ≤ 1-p, else S / (2(1-ρ)) · ln(ρ / (1-p)).
"""

from __future__ import annotations

import math

import numpy as np


def wait_quantile_ms(rho: float, service_ms: float, percentile: float) -> float:
    """p-quantile of the M/D/1 waiting time (ms) at utilisation rho; percentile in (0, 100)."""
    if rho <= 0:
        return 0.0
    if rho >= 1:
        return math.inf
    tail = 1 - percentile / 100
    if rho <= tail:
        return 0.0
    return service_ms / (2 * (1 - rho)) * math.log(rho / tail)


def max_utilisation(service_ms: float, budget_ms: float, percentile: float) -> float:
    """Largest ρ whose waiting-time quantile stays within `budget_ms` (0 if none).

    Solves f(ρ) = S·ln(ρ/tail) - 2B(1-ρ) = 0 on (tail, 1) by Newton's method from ρ = tail.
    f is increasing and concave there, so every iterate stays left of the root (a utilisation
    that meets the budget) and the sequence rises monotonically to it."""
    if budget_ms < 0:
        return 0.0
    hi = 1.0 - 1e-9
    if wait_quantile_ms(hi, service_ms, percentile) <= budget_ms:
        return hi
    tail = 1 - percentile / 100
    rho = tail
    for _ in range(100):
        f = service_ms * math.log(rho / tail) - 2 * budget_ms * (1 - rho)
        step = -f / (service_ms / rho + 2 * budget_ms)
        if step <= 1e-15:
            break
        rho += step
    return rho


def wait_quantile_ms_array(rho: np.ndarray, service_ms: float, percentile: float) -> np.ndarray:
    """`wait_quantile_ms` over an array of utilisations."""
    rho = np.asarray(rho, dtype=float)
    tail = 1 - percentile / 100
    with np.errstate(divide="ignore", invalid="ignore"):
        w = service_ms / (2 * (1 - rho)) * np.log(np.maximum(rho, tail) / tail)
    return np.where(rho >= 1, np.inf, np.where(rho <= tail, 0.0, w))
