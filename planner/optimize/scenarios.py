"""Re-solves that explain a plan: baselines, marginal values, LP shadow prices.

    no-disaggregation     the same inputs with only colocated instances
    only <gpu>            each GPU type alone (the best of these is the homogeneous baseline)
    +1 GPU / +1 node      the fleet with one more GPU (or node) of each type
    shadow prices         duals of `gpus:*` in the LP relaxation, read from a minimising LP
"""

from __future__ import annotations

from dataclasses import dataclass

import pulp

from planner.errors import InfeasibleError, PlannerError
from planner.optimize.milp import build_milp, cost_expression
from planner.optimize.solve import Solution, _quiet_stdout, make_solver, solve
from planner.perf.capacity import CapacityTable, build_capacity_table
from planner.problem import Problem


@dataclass(frozen=True)
class Outcome:
    name: str
    feasible: bool
    rate_per_s: float = 0.0
    cost_usd_per_hour: float = 0.0
    instances: dict[str, int] | None = None
    reason: str = ""

    def score(self, objective: str) -> float:
        """Larger is better, in the objective's own terms."""
        if not self.feasible:
            return float("-inf")
        if objective == "min-cost":
            return -self.cost_usd_per_hour
        if objective == "max-tokens-per-dollar":
            return self.rate_per_s / self.cost_usd_per_hour if self.cost_usd_per_hour > 0 else 0.0
        return self.rate_per_s


def _outcome(name: str, problem: Problem, table: CapacityTable, objective: str, solver: str, roles=None) -> Outcome:
    try:
        s = solve(problem, table, objective, solver, roles=roles, tie_break=False)
    except InfeasibleError as e:
        return Outcome(name, False, reason=str(e))
    except PlannerError as e:  # a solver stop without a plan is reported, not fatal, for a baseline
        return Outcome(name, False, reason=str(e))
    return Outcome(name, True, s.rate_per_s, s.cost_usd_per_hour, s.instances)


def baselines(problem: Problem, table: CapacityTable, objective: str, solver: str) -> list[Outcome]:
    out = [_outcome("no-disaggregation", problem, table, objective, solver, roles={"colocated"})]
    if len(problem.entries) > 1:
        for e in problem.entries:
            out.append(_outcome(f"only {e.gpu.id}", problem.restricted({e.gpu.id}), table, objective, solver))
    return out


@dataclass(frozen=True)
class Marginal:
    gpu_id: str
    added_gpus: int
    outcome: Outcome


def marginal_values(problem: Problem, objective: str, solver: str) -> list[Marginal]:
    out = []
    for e in problem.entries:
        steps = sorted({1, e.gpu.gpus_per_node})
        for add in steps:
            p = problem.with_count(e.gpu.id, e.count + add)
            table = build_capacity_table(p)
            out.append(Marginal(e.gpu.id, add, _outcome(f"+{add} {e.gpu.id}", p, table, objective, solver)))
    return out


def shadow_prices(problem: Problem, table: CapacityTable, objective: str, solution: Solution) -> dict[str, float]:
    """Duals of `gpus:<type>` in the LP relaxation (instances continuous), from a minimising LP.

    max-throughput: requests/s one more GPU adds; min-cost: USD/h one more GPU saves (negative
    of the dual of the cost-minimising LP). Empty for the ratio objective.
    """
    if objective == "max-tokens-per-dollar":
        return {}
    m = build_milp(problem, table)
    for v in m.n.values():
        v.cat = pulp.LpContinuous
    if objective == "min-cost":
        m.add("target", m.lam == solution.rate_per_s)
        objective_expr = cost_expression(m, problem)
        sign = -1.0
    else:
        objective_expr = -1 * m.lam
        sign = -1.0
    m.prob.sense = pulp.LpMinimize
    m.prob.setObjective(objective_expr)
    with _quiet_stdout():
        stats = m.prob.solve(make_solver("highs"))
    if stats.status != pulp.LpSolveStatus.Optimal:
        return {}
    out = {}
    for e in problem.entries:
        c = m.constraints.get(f"gpus:{e.gpu.id}")
        if c is not None and c.pi is not None:
            out[e.gpu.id] = sign * c.pi + 0.0
    return out
