"""The library entry points: files in, plan out. The CLI is a thin layer over these."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from planner.errors import InfeasibleError, InputError
from planner.optimize.budget import Deadline
from planner.optimize.infeasibility import check_servable, explain_shortfall
from planner.optimize.scenarios import solve_and_explain
from planner.optimize.solve import MIP_REL_GAP, OBJECTIVES, solve
from planner.perf.capacity import ROLES, build_capacity_table
from planner.plan import Plan, build_plan
from planner.problem import Problem, resolve
from planner.specs import load_fleet, load_workload
from planner.specs.workload import MAX_QPS, MIN_QPS


def load_problem(
    fleet_path: str | Path,
    workload_path: str | Path | list[str | Path],
    qps: float | None = None,
    budget_usd_per_hour: float | None = None,
    roles: list[str] | None = None,
    engine: str | None = None,
) -> Problem:
    """One fleet and one workload file, or several (one model each, sharing the fleet; `qps`
    then scales their targets together). `budget_usd_per_hour` caps the plan's cost; `roles`
    restricts the roles (e.g. ["colocated"] for an engine without disaggregation); `engine`
    replaces the fleet's serving engine on every GPU type."""
    fleet, fleet_doc = load_fleet(fleet_path)
    paths = workload_path if isinstance(workload_path, list) else [workload_path]
    if not paths:
        raise InputError("give at least one workload file")
    loaded = [load_workload(p) for p in paths]
    if qps is not None and not (MIN_QPS <= qps <= MAX_QPS):
        raise InputError(f"--qps must be between {MIN_QPS:g} and {MAX_QPS:g} requests/s (got {qps:g})")
    problem = resolve(fleet, [w for w, _ in loaded], fleet_doc, [d for _, d in loaded], qps_target=qps, engine=engine)
    return with_options(problem, budget_usd_per_hour, roles)


def with_options(problem: Problem, budget_usd_per_hour: float | None = None, roles: list[str] | None = None) -> Problem:
    if budget_usd_per_hour is not None:
        if not (0 < budget_usd_per_hour <= 1e9):
            raise InputError(f"--budget-usd-per-hour must be between 0 and 1e9 (got {budget_usd_per_hour:g})")
        problem = replace(problem, budget_usd_per_hour=float(budget_usd_per_hour))
    if roles is not None:
        unknown = [r for r in roles if r not in ROLES]
        if unknown or not roles:
            raise InputError(f"--roles takes a comma-separated list of {', '.join(ROLES)} (got {','.join(roles) or 'nothing'})")
        if set(roles) & {"prefill", "decode"} and not ({"prefill", "decode"} <= set(roles)):
            raise InputError("--roles: prefill and decode go together (a disaggregated request needs both)")
        problem = replace(problem, roles=tuple(r for r in ROLES if r in roles))
    return problem


def default_objective(problem: Problem) -> str:
    if problem.qps_target is not None:
        return "min-cost"
    if not problem.has_slo:
        return "max-tokens-per-dollar"
    return "max-throughput"


def plan_problem(
    problem: Problem,
    objective: str | None = None,
    solver: str = "highs",
    explain: bool = True,
    time_limit_s: float | None = None,
    gap_rel: float | None = None,
    deadline: Deadline | None = None,
) -> Plan:
    """`gap_rel`: stop the main solve at this relative MIP gap (None: prove optimality).
    `time_limit_s`: one wall-clock budget for all of it (capacities, every solve stage, the
    explaining re-solves, the shortfall search); the plan reports the gap it reached."""
    deadline = deadline or Deadline(time_limit_s)
    objective = objective or default_objective(problem)
    if objective not in OBJECTIVES:
        raise InputError(f"unknown objective '{objective}'; choose one of {', '.join(OBJECTIVES)}")
    table = build_capacity_table(problem)
    check_servable(problem, table)


    def main():
        gap = MIP_REL_GAP if gap_rel is None else gap_rel
        return solve(problem, table, objective, solver, gap_rel=gap, deadline=deadline)

    try:
        if explain:
            done = solve_and_explain(problem, table, objective, solver, main, deadline)
            return build_plan(problem, table, done.solution, done.baselines, done.marginals, done.shadow)
        return build_plan(problem, table, main(), [], [], {})
    except InfeasibleError as e:
        if objective != "min-cost":
            raise
        raise InfeasibleError(f"{e.message}: {explain_shortfall(problem, table, solver, deadline)}") from None


def plan_files(
    fleet_path,
    workload_path,
    objective=None,
    qps=None,
    solver="highs",
    explain=True,
    time_limit_s=None,
    gap_rel=None,
    budget_usd_per_hour=None,
    roles=None,
    engine=None,
) -> Plan:
    problem = load_problem(fleet_path, workload_path, qps, budget_usd_per_hour, roles, engine)
    return plan_problem(problem, objective, solver, explain, time_limit_s, gap_rel)
