"""Re-solves that explain a plan: baselines, marginal values, LP shadow prices.

    no-disaggregation     the same inputs with only colocated instances
    only <gpu>            each GPU type alone (the best of these is the homogeneous baseline)
    +1 GPU / +1 node      the fleet with one more GPU (or node) of each type
    shadow prices         duals of `gpus:*` in the LP relaxation, read from a minimising LP
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from dataclasses import dataclass, replace

import pulp

from planner.errors import InfeasibleError, PlannerError
from planner.optimize.budget import UNLIMITED, Deadline
from planner.optimize.milp import build_milp, cost_expression
from planner.optimize.solve import Solution, make_solver, quiet_stdout, solve
from planner.perf.capacity import CapacityTable
from planner.problem import Problem


@dataclass(frozen=True)
class Outcome:
    name: str
    feasible: bool
    rate_per_s: float = 0.0
    cost_usd_per_hour: float = 0.0
    instances: dict[str, int] | None = None
    reason: str = ""
    proven: bool = True  # solved to optimality (an infeasibility is proven too)

    def score(self, objective: str) -> float:
        """Larger is better, in the objective's own terms."""
        if not self.feasible:
            return float("-inf")
        if objective == "min-cost":
            return -self.cost_usd_per_hour
        if objective == "max-tokens-per-dollar":
            if self.cost_usd_per_hour <= 0:
                return float("inf") if self.rate_per_s > 0 else 0.0  # free GPUs
            return self.rate_per_s / self.cost_usd_per_hour
        return self.rate_per_s


NOT_COMPUTED = "not computed: the time limit was reached"


def _outcome(
    name: str, problem: Problem, table: CapacityTable, objective: str, solver: str, roles=None,
    deadline: Deadline = UNLIMITED,
) -> Outcome:
    if deadline.expired():
        return Outcome(name, False, reason=NOT_COMPUTED, proven=False)
    try:
        s = solve(problem, table, objective, solver, roles=roles, tie_break=False, deadline=deadline)
    except InfeasibleError as e:
        reason = str(e)
        if objective == "min-cost":  # how close it comes: the most it serves within the SLOs
            try:
                most = solve(
                    problem, table, "max-throughput", solver, roles=roles, tie_break=False, deadline=deadline,
                    rate_cap=problem.qps_target,
                ).rate_per_s
                reason = f"serves at most {most:.4g} req/s of the {problem.qps_target:g} req/s target"
            except InfeasibleError:
                reason = "serves no traffic within the SLOs"
            except PlannerError as probe_error:  # the solver failed on the probe: say so, never "no traffic"
                return Outcome(name, False, reason=f"{reason}; how close it comes is unknown: {probe_error}", proven=False)
        return Outcome(name, False, reason=reason)
    except PlannerError as e:  # a solver stop without a plan is reported, not fatal, for a baseline
        return Outcome(name, False, reason=str(e), proven=False)
    return Outcome(name, True, s.rate_per_s, s.cost_usd_per_hour, s.instances, proven=s.proven_optimal)


def _baseline_jobs(problem: Problem, table: CapacityTable, objective: str, solver: str, deadline: Deadline = UNLIMITED) -> list:
    jobs = [lambda: _outcome("no-disaggregation", problem, table, objective, solver, roles={"colocated"}, deadline=deadline)]
    if any(e.buy_whole_nodes and e.buy_max for e in problem.entries):  # what buying whole nodes costs
        singles = problem.with_entries(tuple(replace(e, buy_whole_nodes=False) for e in problem.entries))
        jobs.append(lambda: _outcome("buying single GPUs", singles, table, objective, solver, deadline=deadline))
    if len(problem.entries) > 1:
        for e in problem.entries:
            p = problem.restricted({e.gpu.id})
            jobs.append(lambda p=p, g=e.gpu.id: _outcome(f"only {g}", p, table, objective, solver, deadline=deadline))
    return jobs


@dataclass(frozen=True)
class Marginal:
    gpu_id: str
    added_gpus: int
    outcome: Outcome


def _marginal_jobs(problem: Problem, table: CapacityTable, objective: str, solver: str, deadline: Deadline = UNLIMITED) -> list:
    """One re-solve per GPU type and step (+1 GPU, +1 node). The capacity table holds every TP
    degree the node allows, whatever the count, so it serves the larger fleets as it is."""
    jobs = []
    for e in problem.entries:
        for add in sorted({1, e.gpu.gpus_per_node}):
            p = problem.with_count(e.gpu.id, e.count + add)

            def job(p=p, g=e.gpu.id, add=add) -> Marginal:
                return Marginal(g, add, _outcome(f"+{add} {g}", p, table, objective, solver, deadline=deadline))

            jobs.append(job)
    return jobs


@dataclass
class Explained:
    solution: Solution
    baselines: list[Outcome]
    marginals: list[Marginal]
    shadow: dict[str, float]


def solve_and_explain(
    problem: Problem, table: CapacityTable, objective: str, solver: str, main: Callable[[], Solution],
    deadline: Deadline = UNLIMITED,
) -> Explained:
    """The main solve (`main`, in this thread) alongside the explaining re-solves (baselines,
    marginal values, shadow prices) in a thread pool: none of them needs the main plan, HiGHS
    releases the GIL while it solves, and each solve is single-threaded and deterministic, so
    the results do not depend on the order they finish in. They share the command's deadline:
    those it leaves no time for say "not computed"."""
    base_jobs = _baseline_jobs(problem, table, objective, solver, deadline)
    jobs = base_jobs + _marginal_jobs(problem, table, objective, solver, deadline)
    n_base = len(base_jobs)
    workers = max(1, min(4, os.cpu_count() or 1))
    with quiet_stdout(), ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(j) for j in jobs]
        shadow_future = pool.submit(shadow_prices, problem, table, objective, deadline)
        try:
            sol = main()
        except BaseException:
            for f in futures + [shadow_future]:
                f.cancel()
            raise
        results = [f.result() for f in futures]
        shadow = shadow_future.result()
    return Explained(sol, results[:n_base], results[n_base:], shadow)


def shadow_prices(problem: Problem, table: CapacityTable, objective: str, deadline: Deadline = UNLIMITED) -> dict[str, float]:
    """Duals of `gpus:<type>` in the LP relaxation (instances continuous), from a minimising LP.

    max-throughput: requests/s one more GPU adds; min-cost: USD/h one more GPU saves (negative
    of the dual of the cost-minimising LP). Empty for the ratio objective.
    """
    if objective == "max-tokens-per-dollar" or deadline.expired():
        return {}
    m = build_milp(problem, table)
    for v in list(m.n.values()) + list(m.b.values()) + list(m.k.values()):
        v.cat = pulp.LpContinuous
    if objective == "min-cost":
        m.add("target", m.lam == problem.qps_target)
        objective_expr = cost_expression(m, problem)
        sign = -1.0
    else:
        objective_expr = -1 * m.lam
        sign = -1.0
    m.prob.sense = pulp.LpMinimize
    m.prob.setObjective(objective_expr)
    with quiet_stdout():
        stats = m.prob.solve(make_solver("highs", deadline.solver_limit_s()))
    if stats.status != pulp.LpSolveStatus.Optimal:
        return {}
    out = {}
    for e in problem.entries:
        c = m.constraints.get(f"gpus:{e.gpu.id}")
        if c is not None and c.pi is not None:
            out[e.gpu.id] = sign * c.pi + 0.0
    return out
