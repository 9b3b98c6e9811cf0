"""`planner sweep`: vary one input over a range and plan at each point.

Parameters (`--vary`):

    qps                 the QPS target, requests/s (default objective: min-cost)
    budget              the budget, USD/h (default objective: max-throughput)
    price:<gpu>         a GPU type's price, USD per GPU-hour
    link:<zone>:<zone>  a link's bandwidth, Gb/s each way
    network:<gpu>       a GPU type's NIC bandwidth, Gb/s per GPU
    ttft / tpot         the TTFT / TPOT SLO, ms (every model)

Capacities depend only on the GPUs, the model, the SLOs and the NICs (KV transfer time), so
sweeps over the QPS target, the budget, a price or a link reuse one capacity table. The
cost-throughput frontier is the set of points no other point beats on both throughput and cost.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from planner.api import default_objective
from planner.errors import InfeasibleError, InputError
from planner.optimize.budget import Deadline
from planner.optimize.solve import solve
from planner.perf.capacity import CapacityTable, build_capacity_table
from planner.plan import _Out, _r
from planner.problem import Problem
from planner.specs.workload import MIN_QPS

UNITS = {"qps": "req/s", "budget": "USD/h", "price": "USD/h per GPU", "link": "Gb/s", "network": "Gb/s per GPU",
         "ttft": "ms", "tpot": "ms"}


# the input files' own bounds (planner/specs): values the MILP's coefficients stay meaningful for
MAXIMA = {"qps": 1e7, "budget": 1e9, "price": 1000.0, "link": 1e7, "network": 1e5, "ttft": 1e8, "tpot": 1e7}


class SweepPoint(_Out):
    value: float
    feasible: bool
    reason: str | None
    status: str | None
    requests_per_s: float | None
    output_tokens_per_s: float | None
    cost_usd_per_hour: float | None
    usd_per_million_output_tokens: float | None  # the unit of max-tokens-per-dollar and of `solve`
    usd_per_million_tokens: float | None  # per million input + output tokens
    pools: list[str]  # "<gpu> tp<N> <role> x<instances>" (with the model when several share the fleet)
    gpus_used: dict[str, int]
    gpus_bought: dict[str, int]
    on_frontier: bool


class Sweep(_Out):
    fleet: str
    workload: str
    parameter: str
    unit: str
    objective: str
    points: list[SweepPoint]


def values_between(start: float, stop: float, steps: int, log: bool = False) -> list[float]:
    if steps < 1 or steps > 1000:
        raise InputError(f"--steps must be between 1 and 1000 (got {steps})")
    if log:
        if start <= 0 or stop <= 0:
            raise InputError("--log needs positive --from and --to")
        return [float(v) for v in np.geomspace(start, stop, steps)]
    return [float(v) for v in np.linspace(start, stop, steps)]


def _setter(problem: Problem, parameter: str) -> tuple[Callable[[Problem, float], Problem], bool, str]:
    """(apply a value, whether capacities must be rebuilt, unit)."""
    kind, _, arg = parameter.partition(":")
    ids = [e.gpu.id for e in problem.entries]
    if kind in ("qps", "budget", "ttft", "tpot") and arg:
        raise InputError(f"--vary {kind} takes no argument (got '{parameter}')")
    if kind == "qps":
        return (lambda p, v: p.with_qps_target(v)), False, UNITS[kind]
    if kind == "budget":
        return (lambda p, v: replace(p, budget_usd_per_hour=v)), False, UNITS[kind]
    if kind in ("ttft", "tpot"):
        if not any(s.slo for s in problem.served):
            raise InputError(f"--vary {kind}: the workload has no SLOs to vary")

        def slo(p: Problem, v: float) -> Problem:
            field = "ttft_ms" if kind == "ttft" else "tpot_ms"
            return replace(p, served=tuple(replace(s, slo=s.slo.model_copy(update={field: v})) if s.slo else s for s in p.served))

        return slo, True, UNITS[kind]
    if kind in ("price", "network"):
        if arg not in ids:
            raise InputError(f"--vary {kind}:<gpu>: '{arg}' is not in the fleet (types: {', '.join(ids)})")
        if kind == "price":
            return (lambda p, v: replace(p, entries=tuple(replace(e, price_usd_per_hour=v) if e.gpu.id == arg else e for e in p.entries))), False, UNITS[kind]
        return (
            lambda p, v: replace(
                p, entries=tuple(replace(e, gpu=replace(e.gpu, network_gbit_s=v)) if e.gpu.id == arg else e for e in p.entries)
            )
        ), True, UNITS[kind]
    if kind == "link":
        a, _, b = arg.partition(":")
        if not any({x, y} == {a, b} for x, y, _ in problem.links_gbit_s):
            links = ", ".join(f"{x}:{y}" for x, y, _ in problem.links_gbit_s) or "none"
            raise InputError(f"--vary link:<zone>:<zone>: no link between '{a}' and '{b}' (links: {links})")
        return (
            lambda p, v: replace(p, links_gbit_s=tuple((x, y, v) if {x, y} == {a, b} else (x, y, w) for x, y, w in p.links_gbit_s))
        ), False, UNITS[kind]
    raise InputError(f"--vary: unknown parameter '{parameter}'; use qps, budget, price:<gpu>, link:<a>:<b>, network:<gpu>, ttft or tpot")


def sweep(
    problem: Problem,
    parameter: str,
    values: list[float],
    objective: str | None = None,
    solver: str = "highs",
    time_limit_s: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> Sweep:
    """Plan at each value (no explaining re-solves); `progress(i)` after each point."""
    setter, rebuild, unit = _setter(problem, parameter)
    if not values:
        raise InputError("the sweep has no values")
    most = MAXIMA[parameter.partition(":")[0]]
    if parameter == "qps":  # the workload's own range: MIN_QPS to the maximum
        bad, rule = [v for v in values if not (math.isfinite(v) and MIN_QPS <= v <= most)], f"from {MIN_QPS:g} to {most:g}"
    else:
        bad, rule = [v for v in values if not (math.isfinite(v) and 0 < v <= most)], f"above 0 and at most {most:g}"
    if bad:
        raise InputError(f"--vary {parameter}: every value must be {rule} {unit} (got {bad[0]:g})")
    first = setter(problem, values[0])
    objective = objective or ("max-throughput" if parameter == "budget" else default_objective(first))
    table: CapacityTable | None = None
    points = []
    deadline = Deadline(time_limit_s)  # one budget for the whole sweep
    for i, v in enumerate(values):
        p = setter(problem, v)
        if table is None or rebuild:
            table = build_capacity_table(p)
        points.append(_point(p, table, objective, solver, deadline, v))
        if progress:
            progress(i + 1)
    _mark_frontier(points)
    return Sweep(
        fleet=problem.fleet_name, workload=problem.workload_name, parameter=parameter, unit=unit, objective=objective,
        points=points,
    )


def _point(p: Problem, table: CapacityTable, objective: str, solver: str, deadline: Deadline, v: float) -> SweepPoint:
    try:
        sol = solve(p, table, objective, solver, deadline=deadline)
    except InfeasibleError as e:
        return SweepPoint(
            value=_r(v), feasible=False, reason=e.message, status=None, requests_per_s=None, output_tokens_per_s=None,
            cost_usd_per_hour=None, usd_per_million_output_tokens=None, usd_per_million_tokens=None, pools=[],
            gpus_used={}, gpus_bought={}, on_frontier=False,
        )
    used: dict[str, int] = {}
    pools = []
    several = len({c.served for c in sol.milp.configs}) > 1
    for c in sol.milp.configs:
        if sol.instances.get(c.key):
            used[c.gpu_id] = used.get(c.gpu_id, 0) + c.tp * sol.instances[c.key]
            pools.append(f"{c.served + ' ' if several else ''}{c.gpu_id} tp{c.tp} {c.role} x{sol.instances[c.key]}")
    rate, cost = sol.rate_per_s, sol.cost_usd_per_hour
    out_tps = rate * p.mean_output_tokens
    tokens = rate * (p.mean_prompt_tokens + p.mean_output_tokens)
    return SweepPoint(
        value=_r(v),
        feasible=True,
        reason=None,
        status="optimal" if sol.proven_optimal else f"feasible (gap {sol.gap:.2%})",
        requests_per_s=_r(rate),
        output_tokens_per_s=_r(out_tps),
        cost_usd_per_hour=_r(cost),
        usd_per_million_output_tokens=_r(cost / (out_tps * 3600) * 1e6) if out_tps > 0 else None,
        usd_per_million_tokens=_r(cost / (tokens * 3600) * 1e6) if tokens > 0 else None,
        pools=pools,
        gpus_used={e.gpu.id: used[e.gpu.id] for e in p.entries if e.gpu.id in used},
        gpus_bought=dict(sorted(sol.bought.items())),
        on_frontier=False,
    )


def _mark_frontier(points: list[SweepPoint]) -> None:
    """Pareto frontier: no other point serves at least as much for at most the cost, and
    strictly better on one of the two."""
    ok = [p for p in points if p.feasible]
    for p in ok:
        p.on_frontier = not any(
            q is not p
            and q.requests_per_s >= p.requests_per_s
            and q.cost_usd_per_hour <= p.cost_usd_per_hour
            and (q.requests_per_s > p.requests_per_s or q.cost_usd_per_hour < p.cost_usd_per_hour)
            for q in ok
        )
