"""Hand-checked toy problems: two GPU types, one request class, capacities set by hand.

Type A ("fast"): prefill 4 req/s, decode 2 req/s per instance (TP1); 4 GPUs, $3/h.
Type B ("slow"): prefill 1 req/s, decode 1 req/s per instance (TP1); 9 GPUs, $1/h.
Colocation off (capacity 0), network ample.

A's prefill/decode ratio is 2, B's is 1: A has the comparative advantage in prefill.

max-throughput, closed form: B gives up 1 decode per prefill, A gives up 0.5, so B decodes (9
req/s) and A splits: a prefill instances, 4 - a decode. λ = min(4a, 9 + 2(4 - a)). The LP
optimum is a = 17/6 (λ = 11.33); integer a: a = 2 gives min(8, 13) = 8, a = 3 gives min(12, 11)
= 11, and moving a B to prefill lowers decode below 11. So λ* = 11, uniquely, with A: 3
prefill + 1 decode, B: 9 decode (checked by enumeration below).

min-cost for λ = 6: prefill needs 6 req/s: with A alone 2 instances ($6) or B alone 6 ($6) or
mixes; decode 6 req/s: B is $1 per req/s, A $1.5 per req/s. Cheapest: prefill on 2 A ($6; or
1 A + 2 B = $5: 4 + 2 = 6 req/s), decode on 6 B ($6). With 8 B in all: 1 A prefill + 2 B
prefill + 6 B decode = $3 + $8 = $11 (B count 8 is exactly used). Any plan needs prefill 6 and
decode 6; each B gives 1 of either for $1, each A gives 4 prefill or 2 decode for $3, so an A is
worth it only for prefill ($0.75 per req/s). Using a A-prefill instances (4a prefill), the rest
from B: cost = 3a + max(0, 6 - 4a) + 6: a = 1 -> 3 + 2 + 6 = 11; a = 2 -> 6 + 0 + 6 = 12;
a = 0 -> 6 + 6 = 12 and needs 12 B > 9. So $11/h, uniquely.
"""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from planner.optimize.solve import solve
from planner.perf.capacity import CapacityTable, ClassCapacity
from planner.problem import Problem, resolve
from planner.specs import FleetSpec, WorkloadSpec

CAPS = {"A": {"prefill": 4.0, "decode": 2.0}, "B": {"prefill": 1.0, "decode": 1.0}}


def toy_problem(count_a: int = 4, count_b: int = 9, qps: float | None = None) -> tuple[Problem, CapacityTable]:
    fleet = FleetSpec.model_validate(
        {
            "gpus": [
                {"type": "h100-sxm", "count": count_a, "price_usd_per_hour": 3.0, "network_gbit_s": 1e5},
                {"type": "a100-80-sxm", "count": count_b, "price_usd_per_hour": 1.0, "network_gbit_s": 1e5},
            ]
        }
    )
    workload = WorkloadSpec.model_validate(
        {
            "model": "llama-3.1-8b",
            "classes": [{"name": "c", "prompt_tokens": 100, "output_tokens": 100, "share": 1.0}],
            "tp_degrees": [1],
        }
    )
    problem = resolve(fleet, workload, qps_target=qps)
    from planner.perf.capacity import build_capacity_table

    real = build_capacity_table(problem)
    names = {"h100-sxm": "A", "a100-80-sxm": "B"}
    configs = []
    for c in real.configs:
        rate = CAPS[names[c.gpu_id]].get(c.role, 0.0)
        configs.append(replace(c, caps={"c": ClassCapacity(rate, kv_bytes=1.0)}))
    return problem, CapacityTable(configs)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_max_throughput_closed_form(solver):
    problem, table = toy_problem()
    s = solve(problem, table, "max-throughput", solver)
    assert s.proven_optimal
    assert s.rate_per_s == pytest.approx(11.0, rel=1e-9)
    assert s.instances == {
        "h100-sxm:tp1:prefill": 3,
        "h100-sxm:tp1:decode": 1,
        "a100-80-sxm:tp1:decode": 9,
    }
    assert s.cost_usd_per_hour == pytest.approx(4 * 3 + 9 * 1)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_min_cost_closed_form(solver):
    problem, table = toy_problem(qps=6.0)
    s = solve(problem, table, "min-cost", solver)
    assert s.cost_usd_per_hour == pytest.approx(11.0)
    assert s.instances == {
        "h100-sxm:tp1:prefill": 1,
        "a100-80-sxm:tp1:prefill": 2,
        "a100-80-sxm:tp1:decode": 6,
    }


def test_highs_and_cbc_agree_on_both_objectives():
    for qps, objective in ((None, "max-throughput"), (6.0, "min-cost"), (None, "max-tokens-per-dollar")):
        problem, table = toy_problem(qps=qps)
        a = solve(problem, table, objective, "highs")
        b = solve(problem, table, objective, "cbc")
        assert a.instances == b.instances
        assert a.rate_per_s == pytest.approx(b.rate_per_s, rel=1e-7)
        assert a.cost_usd_per_hour == pytest.approx(b.cost_usd_per_hour, rel=1e-9)


def test_brute_force_agrees_with_the_solver():
    """Enumerate every integer split of both fleets into prefill and decode instances."""
    problem, table = toy_problem()
    best = 0.0
    optima = []
    for pa, da, pb, db in itertools.product(range(5), range(5), range(10), range(10)):
        if pa + da > 4 or pb + db > 9:
            continue
        v = min(4 * pa + pb, 2 * da + db)
        if v > best:
            best, optima = v, [(pa, da, pb, db)]
        elif v == best:
            optima.append((pa, da, pb, db))
    assert best == pytest.approx(11.0)
    assert optima == [(3, 1, 0, 9)]
    assert solve(problem, table, "max-throughput").rate_per_s == pytest.approx(best)


def test_tokens_per_dollar_picks_the_best_ratio():
    """Best requests/s per $/h: B decode is $1 per req/s, A prefill $0.75 per req/s, so one A
    prefill instance with 4 B decode instances serves 4 req/s for $7/h (0.571 per $); B prefill
    (1 req/s for $1 + $1 of decode) or A decode ($1.5 per req/s) only lower the ratio. Among
    plans at the best ratio the planner serves the most: two such units (8 req/s for $14/h);
    a third would need 12 B."""
    problem, table = toy_problem()
    s = solve(problem, table, "max-tokens-per-dollar")
    assert s.rate_per_s / s.cost_usd_per_hour == pytest.approx(4 / 7, rel=1e-6)
    assert s.instances == {"h100-sxm:tp1:prefill": 2, "a100-80-sxm:tp1:decode": 8}
    assert s.rate_per_s == pytest.approx(8.0, rel=1e-6)


def test_fleet_entries_are_the_toy_ones():
    problem, _ = toy_problem()
    assert [(e.gpu.id, e.count, e.price_usd_per_hour, e.price_source) for e in problem.entries] == [
        ("h100-sxm", 4, 3.0, "fleet file"),
        ("a100-80-sxm", 9, 1.0, "fleet file"),
    ]
