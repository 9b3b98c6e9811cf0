"""Property tests on real (small) problems: monotonicity the optimiser must respect."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from planner.errors import InfeasibleError
from planner.optimize.solve import solve
from planner.perf.capacity import build_capacity_table
from planner.problem import resolve
from planner.specs import FleetSpec, WorkloadSpec

WORKLOAD = WorkloadSpec.model_validate(
    {
        "model": "llama-3.1-8b",
        "classes": [
            {"name": "short", "prompt_tokens": 512, "output_tokens": 128, "share": 0.6},
            {"name": "long", "prompt_tokens": 4096, "output_tokens": 256, "share": 0.4},
        ],
        "slo": {"ttft_ms": 1500, "tpot_ms": 60},
    }
)
SETTINGS = settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def problem(h100: int, l40s: int, qps: float | None = None):
    gpus = [{"type": "h100-sxm", "count": h100}, {"type": "l40s", "count": l40s}]
    gpus = [g for g in gpus if g["count"] > 0] or [{"type": "l40s", "count": 1}]
    return resolve(FleetSpec.model_validate({"gpus": gpus}), WORKLOAD, qps_target=qps)


def throughput(h100: int, l40s: int) -> float:
    p = problem(h100, l40s)
    return solve(p, build_capacity_table(p), "max-throughput", tie_break=False).rate_per_s


def cost(h100: int, l40s: int, qps: float) -> float | None:
    p = problem(h100, l40s, qps)
    try:
        return solve(p, build_capacity_table(p), "min-cost", tie_break=False).cost_usd_per_hour
    except InfeasibleError:
        return None


@SETTINGS
@given(st.integers(0, 6), st.integers(1, 6), st.integers(0, 3), st.integers(0, 3))
def test_more_gpus_never_serve_less(h100, l40s, dh, dl):
    assert throughput(h100 + dh, l40s + dl) >= throughput(h100, l40s) * (1 - 1e-6)


@SETTINGS
@given(st.floats(1.0, 30.0), st.floats(1.0, 2.0))
def test_more_demand_never_costs_less(qps, factor):
    low, high = cost(4, 8, qps), cost(4, 8, qps * factor)
    if high is not None:
        assert low is not None  # less demand is feasible whenever more is
        assert high >= low * (1 - 1e-6)


@SETTINGS
@given(st.floats(1.0, 20.0), st.integers(0, 3), st.integers(0, 3))
def test_more_gpus_never_cost_more(qps, dh, dl):
    base, more = cost(2, 4, qps), cost(2 + dh, 4 + dl, qps)
    if base is not None:
        assert more is not None and more <= base * (1 + 1e-6)
