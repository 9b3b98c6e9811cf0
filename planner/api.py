"""The library entry points: files in, plan out. The CLI is a thin layer over these."""

from __future__ import annotations

from pathlib import Path

from planner.errors import InfeasibleError, InputError
from planner.optimize.scenarios import explain as explain_plan
from planner.optimize.scenarios import shadow_prices
from planner.optimize.solve import OBJECTIVES, solve
from planner.perf.capacity import CapacityTable, build_capacity_table
from planner.plan import Plan, build_plan
from planner.problem import Problem, resolve
from planner.specs import load_fleet, load_workload
from planner.specs.workload import RequestClass


def load_problem(fleet_path: str | Path, workload_path: str | Path, qps: float | None = None) -> Problem:
    fleet, fleet_doc = load_fleet(fleet_path)
    workload, workload_doc = load_workload(workload_path)
    if qps is not None and not (1e-6 <= qps <= 1e7):
        raise InputError(f"--qps must be between 1e-06 and 1e+07 requests/s (got {qps})")
    return resolve(fleet, workload, fleet_doc, workload_doc, qps_target=qps)


def default_objective(problem: Problem) -> str:
    if problem.qps_target is not None:
        return "min-cost"
    if problem.slo is None:
        return "max-tokens-per-dollar"
    return "max-throughput"


def plan_problem(
    problem: Problem,
    objective: str | None = None,
    solver: str = "highs",
    explain: bool = True,
    time_limit_s: float | None = None,
) -> Plan:
    objective = objective or default_objective(problem)
    if objective not in OBJECTIVES:
        raise InputError(f"unknown objective '{objective}'; choose one of {', '.join(OBJECTIVES)}")
    table = build_capacity_table(problem)
    _explain_unservable(problem, table)
    try:
        sol = solve(problem, table, objective, solver, time_limit_s=time_limit_s)
    except InfeasibleError as e:
        if objective != "min-cost":
            raise
        best = solve(problem, table, "max-throughput", solver, time_limit_s=time_limit_s, tie_break=False)
        raise InfeasibleError(
            f"{e.message}: the most it can serve is {best.rate_per_s:.4g} req/s "
            f"({best.rate_per_s / problem.qps_target:.3g}x the target)"
        ) from None
    base, marg = explain_plan(problem, table, objective, solver) if explain else ([], [])
    shadow = shadow_prices(problem, table, objective, sol) if explain else {}
    return build_plan(problem, table, sol, base, marg, shadow)


def plan_files(fleet_path, workload_path, objective=None, qps=None, solver="highs", explain=True, time_limit_s=None) -> Plan:
    return plan_problem(load_problem(fleet_path, workload_path, qps), objective, solver, explain, time_limit_s)


def _explain_unservable(problem: Problem, table: CapacityTable) -> None:
    """Fail early, with the reason, when some class cannot be served by any configuration."""
    configs = table.usable(problem)
    if not configs:
        reasons = list(table.excluded.values())
        for e in problem.entries:
            smallest = min((c.tp for c in table.for_gpu(e.gpu.id)), default=None)
            if smallest is not None and smallest > e.count:
                reasons.append(f"{e.gpu.id} needs TP{smallest} ({smallest} GPUs) to fit the model, the fleet has {e.count}")
        raise InfeasibleError(
            f"{problem.model.id} cannot be served by this fleet: {'; '.join(reasons) or 'no GPU type can run the model'}"
        )
    for k in problem.classes:
        for phase, roles in (("prefill", ("prefill", "colocated")), ("decode", ("decode", "colocated"))):
            if any(c.role in roles and c.caps[k.name].rate_per_s > 0 for c in configs):
                continue
            # the phase's own role first: its reason is the direct one
            why = sorted(
                {(c.role != phase, c.caps[k.name].reason) for c in configs if c.role in roles and c.caps[k.name].reason}
            )
            why = [w for _, w in why]
            raise InfeasibleError(
                f"request class '{k.name}' ({k.prompt_tokens} prompt / {k.output_tokens} output tokens): no "
                f"configuration meets the SLO for its {phase}: {why[0] if why else 'none fits'}"
                f"{_best_reachable(configs, k, phase)}"
            )


def _best_reachable(configs: list, k: RequestClass, phase: str) -> str:
    """The best latency any configuration reaches, so the user knows which SLO is possible."""
    if phase == "prefill":
        values = [
            c.deployment.prefill_ms(k.prompt_tokens, 1) + c.caps[k.name].transfer_ms
            for c in configs
            if c.role == "prefill"
        ]
        what = "TTFT (prefill + KV transfer, no queueing)"
    else:
        values = [
            float(c.deployment.decode_step_ms(1, k.prompt_tokens + k.output_tokens / 2))
            for c in configs
            if c.role == "decode"
        ]
        what = "TPOT (batch 1)"
    return f"; best reachable {what}: {min(values):.1f} ms" if values else ""
