"""Solve the MILP: objectives, lexicographic tie-break, solver handling and status.

HiGHS (through highspy) is the default; CBC (`--solver cbc`, PuLP's `cbc` extra) the
alternative. Both run single-threaded with a relative MIP gap of 1e-7 so that the same input
gives the same plan every time; a plan that is not proven optimal carries its gap.
"""

from __future__ import annotations

from collections.abc import Callable

import contextlib
import functools
import math
import os
import sys
import threading
import time
from dataclasses import dataclass, field

import pulp

from planner.errors import InfeasibleError, InputError, SolverError
from planner.optimize.budget import MIN_CHECK_S, MIN_SOLVE_S, Deadline, deadline_of
from planner.optimize.milp import Milp, build_milp, cost_expression, flow_tie_break_expression, tie_break_expression
from planner.perf.capacity import CapacityTable
from planner.problem import UNLIMITED_PURCHASE, Problem

OBJECTIVES = ("max-throughput", "min-cost", "max-tokens-per-dollar")
SOLVERS = ("highs", "cbc")
MIP_REL_GAP = 1e-7
TIE_TOLERANCE = 1e-7  # stage 2 keeps the stage-1 optimum within this relative tolerance
# A plan serves its QPS target when it serves at least target x (1 - DEMAND_REL_TOL): far below
# the capacity model's accuracy, and above the solvers' tolerances (HiGHS accepts an instance
# count within 1e-6 of an integer, so an exact-fill optimum may be 1e-6 of an instance short
# once rounded). Every plan is checked against its own constraints at this tolerance.
DEMAND_REL_TOL = 1e-6
# the integrality tolerance of the strict retry (solver defaults: 1e-6 HiGHS, 1e-7 CBC)
STRICT_INTEGRALITY = 1e-9
# a plan is reported proven optimal at a relative gap up to this (the solvers stop at MIP_REL_GAP
# by their own gap formulas, which differ from ours by rounding: 2.4e-7 seen with HiGHS)
PROVEN_GAP = 1e-6
# a throughput at or below this is solver round-off, not traffic (CBC reports 5e-12 req/s for an
# empty plan); six orders below the least QPS target (MIN_QPS, 1e-3 req/s)
NO_TRAFFIC_REQ_S = 1e-9
# These MILPs are small (tens of integer variables): HiGHS's restarts and primal heuristics cost
# more than they save on them. Measured on the shipped examples (solve + explaining re-solves,
# 2-core VM): 0.99 s with HiGHS defaults minus restarts/feasibility jump, 0.69 s with the
# heuristics below off too; same optima, every one proven (see benchmarks/solve_examples.py).
HIGHS_OPTIONS = {
    "mip_allow_restart": False,
    "mip_heuristic_run_feasibility_jump": False,
    "mip_heuristic_run_rins": False,
    "mip_heuristic_run_rens": False,
    "mip_heuristic_run_root_reduced_cost": False,
    "mip_heuristic_run_zi_round": False,
    "mip_heuristic_run_shifting": False,
    "mip_heuristic_effort": 0.0,
}
# Above this many integer variables HiGHS's defaults win: on the scale benchmark (420 integer
# variables) the heuristics find plans with half the gap in the same 10 s (1.5% against 3.0%).
LARGE_MILP_INTEGERS = 150
_OK = {pulp.LpSolveStatus.Optimal, pulp.LpSolveStatus.GapLimit}
_STOPPED_WITH_SOLUTION = {
    pulp.LpSolveStatus.TimeLimit,
    pulp.LpSolveStatus.NodeLimit,
    pulp.LpSolveStatus.SolutionLimit,
    pulp.LpSolveStatus.Stopped,
    pulp.LpSolveStatus.Interrupted,
    pulp.LpSolveStatus.IterationLimit,
}


@dataclass
class Solution:
    objective: str
    proven_optimal: bool
    gap: float  # relative MIP gap of the stage that decides the objective
    rate_per_s: float
    cost_usd_per_hour: float
    instances: dict[str, int]  # config key -> instances (only > 0)
    bought: dict[str, int]  # purchase mode: GPU type -> GPUs bought (only > 0)
    flows: dict[tuple[str, str], float]  # (config key, class) -> requests/s (only > 0)
    slacks: dict[str, float]  # constraint name -> slack (>= 0 for satisfied inequalities)
    milp: Milp
    solver: str
    solver_version: str
    solve_seconds: float
    solves: int = 1
    stages: list[str] = field(default_factory=list)


_quiet_lock = threading.Lock()
_quiet_depth = 0
_saved_fd: int | None = None


@contextlib.contextmanager
def quiet_stdout():
    """HiGHS prints its banner on the C stdout even with output off; keep stdout for JSON.

    Re-entrant and thread-safe: the first entry redirects file descriptor 1 to /dev/null, the
    last exit restores it, so parallel solves inside one outer context never race on it.
    """
    global _quiet_depth, _saved_fd
    fd = 1  # the C library's stdout, whatever Python's sys.stdout is at the moment
    with _quiet_lock:
        _quiet_depth += 1
        if _quiet_depth == 1:
            sys.stdout.flush()
            _saved_fd = os.dup(fd)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, fd)
            os.close(devnull)
    try:
        yield
    finally:
        with _quiet_lock:
            _quiet_depth -= 1
            if _quiet_depth == 0 and _saved_fd is not None:
                sys.stdout.flush()
                os.dup2(_saved_fd, fd)
                os.close(_saved_fd)
                _saved_fd = None


def make_solver(
    name: str,
    time_limit_s: float | None = None,
    warm_start: bool = False,
    large: bool = False,
    gap_rel: float = MIP_REL_GAP,
    strict: bool = False,
    highs_options: dict | None = None,
    cbc_preprocess: bool = True,
) -> pulp.LpSolver:
    """`warm_start`: start from the variables' current values (a later stage starts from the
    previous stage's plan, so it always has one even when it stops at the time limit).
    `large`: a MILP above LARGE_MILP_INTEGERS integer variables (HiGHS keeps its defaults).
    `strict`: integrality tolerance STRICT_INTEGRALITY (the retry of a plan that failed its check)."""
    if name == "highs":
        extra = {} if large else dict(HIGHS_OPTIONS)
        if strict:
            extra["mip_feasibility_tolerance"] = STRICT_INTEGRALITY
        extra.update(highs_options or {})
        s = pulp.HiGHS(
            msg=False, threads=1, gapRel=gap_rel, timeLimit=time_limit_s, random_seed=0, warmStart=warm_start, **extra
        )
        alt = "cbc"
    elif name == "cbc":
        options = ([f"integerTolerance {STRICT_INTEGRALITY:g}"] if strict else []) + ([] if cbc_preprocess else ["preprocess off"])
        s = pulp.COIN_CMD(
            msg=False, threads=1, gapRel=gap_rel, timeLimit=time_limit_s, randomSeed=1, warmStart=warm_start,
            options=options or None,
        )
        alt = "highs"
    else:
        raise SolverError(f"unknown solver '{name}'; choose one of {', '.join(SOLVERS)}")
    if not s.available():
        hint = "pip install highspy" if name == "highs" else "pip install 'pulp[cbc]'"
        raise SolverError(f"solver '{name}' is not available ({hint}); or use --solver {alt}")
    return s


@functools.lru_cache(maxsize=None)
def solver_version(name: str) -> str:
    try:
        if name == "highs":
            import highspy

            h = highspy.Highs()
            return f"HiGHS {h.version()}" if hasattr(h, "version") else "HiGHS"
        return "CBC (cbcbox)"
    except Exception:  # pragma: no cover - version strings are informative only
        return name


class _Runner:
    """Runs the stages of one solve; each solver call gets what is left of the deadline."""

    def __init__(
        self, solver_name: str, deadline: Deadline, large: bool = False, gap_rel: float = MIP_REL_GAP, strict: bool = False
    ):
        self.name = solver_name
        self.deadline = deadline
        self.options = dict(large=large, gap_rel=gap_rel, strict=strict)
        self.seconds = 0.0
        self.solves = 0

    def run(
        self, m: Milp, sense: int, objective, warm: bool = False, share: float = 1.0, highs_options: dict | None = None,
        check: bool = False,
    ) -> tuple[pulp.LpSolveStats, float]:
        """`share`: of the time left, the part this call may use (the rest is kept for later stages);
        `check`: an LP that checks the plan, given at least MIN_CHECK_S past the deadline."""
        m.prob.sense = sense
        m.prob.setObjective(objective)
        extra = {"highs_options": highs_options} if self.name == "highs" and highs_options else {}
        limit = self.deadline.solver_limit_s(share, MIN_CHECK_S if check else MIN_SOLVE_S)
        solver = make_solver(self.name, limit, warm_start=warm, **self.options, **extra)
        t0 = time.perf_counter()
        try:
            with quiet_stdout():
                stats = m.prob.solve(solver)
        except pulp.PulpError as e:
            if self.name != "cbc":
                raise SolverError(f"solver '{self.name}' failed: {e}") from None
            # CBC 2.10 aborts on some valid instances in its preprocessing (the +8 A100 re-solve of
            # the shipped chat example); the same model solves with it off
            solver = make_solver(self.name, limit, warm_start=warm, cbc_preprocess=False, **self.options)
            try:
                with quiet_stdout():
                    stats = m.prob.solve(solver)
            except pulp.PulpError as e2:
                raise SolverError(f"solver 'cbc' failed, also with its preprocessing off: {e2}") from None
        self.seconds += time.perf_counter() - t0
        self.solves += 1
        return stats, _gap(stats)


def _gap(stats: pulp.LpSolveStats, scale: float = 0.0) -> float:
    """The relative MIP gap; `scale` floors the denominator where the objective sits near 0 at
    the optimum (Dinkelbach's last step, max λ - q·cost ≈ 0: measured against λ)."""
    if stats.objective is None or stats.best_bound is None:
        return 0.0
    denom = max(abs(stats.objective), scale, 1e-9)
    return abs(stats.best_bound - stats.objective) / denom


def _check(stats: pulp.LpSolveStats, what: str) -> bool:
    """True when proven optimal; False when stopped with a solution; raise otherwise."""
    if stats.status in _OK and stats.has_solution:
        return _gap(stats) <= PROVEN_GAP  # a looser --mip-gap stops short of proof
    if stats.status in _STOPPED_WITH_SOLUTION and stats.has_solution:
        return False
    if stats.status == pulp.LpSolveStatus.Infeasible:
        raise InfeasibleError(what)
    if stats.status == pulp.LpSolveStatus.Unbounded:  # pragma: no cover - every variable is bounded
        raise SolverError("the model is unbounded (a bug: please report it with your input files)")
    hint = "; allow more time with --time-limit" if stats.status == pulp.LpSolveStatus.TimeLimit else ""
    raise SolverError(f"the solver stopped without a usable answer (status {stats.status.name}){hint}")


class _CheckFailed(Exception):
    """The solver's answer, once its instance counts are whole, breaks its own constraints."""


def solve(
    problem: Problem,
    table: CapacityTable,
    objective: str,
    solver: str = "highs",
    roles: set[str] | None = None,
    time_limit_s: float | None = None,
    tie_break: bool = True,
    gap_rel: float = MIP_REL_GAP,
    deadline: Deadline | None = None,
    rate_cap: float | None = None,
) -> Solution:
    """Solve to a relative MIP gap of `gap_rel` (default 1e-7: optimal; a looser gap such as
    1e-3 stops earlier on large fleets and the plan reports the gap it reached).

    `deadline` (or `time_limit_s`, a new deadline): the wall-clock budget every stage shares.
    `rate_cap`: max-throughput serves at most this many requests/s (bounded even with unlimited
    purchases). Every answer is checked against its own constraints with whole instance counts
    (`DEMAND_REL_TOL`); one that fails is solved again with strict integrality, and one that
    still fails is an error, never a plan."""
    if objective not in OBJECTIVES:
        raise InputError(f"unknown objective '{objective}'; choose one of {', '.join(OBJECTIVES)}")
    make_solver(solver)  # a missing solver fails before any work
    unlimited = [e.gpu.id for e in problem.entries if e.buy_max >= UNLIMITED_PURCHASE]
    if unlimited and objective == "max-throughput" and problem.budget_usd_per_hour is None and rate_cap is None:
        raise InputError(
            f"max-throughput with unlimited purchases of {', '.join(unlimited)} has no bound: give a budget "
            "(--budget-usd-per-hour) or a buy.max"
        )
    free = [e.gpu.id for e in problem.entries if e.buy_max >= UNLIMITED_PURCHASE and e.buy_price_usd_per_hour <= 0]
    if free and objective != "min-cost" and rate_cap is None:  # a budget does not bound what costs nothing
        raise InputError(
            f"{objective} with free, unlimited purchases of {', '.join(free)} has no bound (every free GPU adds "
            "traffic at no cost): give a buy.max or a buy price above 0"
        )
    if objective == "min-cost" and problem.qps_target is None:
        raise InputError("min-cost needs a QPS target: give traffic.qps in the workload or --qps")
    deadline = deadline_of(time_limit_s, deadline)
    args = (problem, table, objective, solver, roles, tie_break, gap_rel, deadline, rate_cap)
    try:
        return _solve(*args, strict=False)
    except _CheckFailed:
        pass
    try:
        return _solve(*args, strict=True)
    except _CheckFailed as e:
        raise SolverError(
            f"solver '{solver}' returned a plan that breaks its own constraints once instance counts are whole "
            f"({e}), also with integrality tolerance {STRICT_INTEGRALITY:g}; try --solver "
            f"{'cbc' if solver == 'highs' else 'highs'}"
        ) from None


def _solve(
    problem: Problem,
    table: CapacityTable,
    objective: str,
    solver: str,
    roles: set[str] | None,
    tie_break: bool,
    gap_rel: float,
    deadline: Deadline,
    rate_cap: float | None,
    strict: bool,
) -> Solution:
    m = build_milp(problem, table, roles)
    if not m.configs:
        raise InfeasibleError("no configuration can serve any request class within the SLOs")
    runner = _Runner(solver, deadline, large=len(m.n) > LARGE_MILP_INTEGERS, gap_rel=gap_rel, strict=strict)
    cost = cost_expression(m, problem)
    stages: list[str] = []
    if rate_cap is not None:
        m.add("cap", m.lam <= rate_cap)

    if objective == "min-cost":
        target = problem.qps_target
        m.add("target", m.lam >= target * (1 - DEMAND_REL_TOL))
        warm = len(m.n) > LARGE_MILP_INTEGERS and _neighbourhood_start(m, problem, runner, stages)
        stats, gap = runner.run(m, pulp.LpMinimize, cost, warm=warm, share=0.8 if tie_break else 1.0)
        try:
            proven = _check(stats, f"the fleet cannot serve {target:g} req/s within the SLOs")
        except InfeasibleError:
            _recheck_infeasible(problem, table, roles, runner, target)
            raise
        stages.append("min cost")
        if tie_break:
            _fixed_tie_break(m, cost, runner, stages)
    else:
        if objective == "max-tokens-per-dollar":
            proven, gap, ratio = _dinkelbach(m, cost, runner, stages, lambda: no_traffic_reason(problem, table, roles))
            # among plans at the best ratio, serve the most traffic
            if math.isinf(ratio):  # free GPUs serve traffic: only zero-cost plans are that good
                m.add("tie:ratio", cost <= 0)
            else:
                m.add("tie:ratio", m.lam - ratio * (1 - TIE_TOLERANCE) * cost >= 0)
        stats, gap1 = runner.run(m, pulp.LpMaximize, m.lam, share=0.8 if tie_break else 1.0)
        proven = _check(stats, "no plan serves any traffic") and (proven if objective != "max-throughput" else True)
        gap = gap1 if objective == "max-throughput" else gap
        stages.append("max throughput")
        best = m.lam.value() or 0.0
        if best <= NO_TRAFFIC_REQ_S:
            if strict or not _serves_some(problem, table, roles, runner):
                raise InfeasibleError(no_traffic_reason(problem, table, roles))
            raise _CheckFailed("the solver found no plan serving traffic where one exists")
        if tie_break and not deadline.expired():
            m.add("tie:throughput", m.lam >= best * (1 - TIE_TOLERANCE))
            stats2, _ = runner.run(m, pulp.LpMinimize, cost, warm=True, share=0.5)
            if _stage_ok(stats2):
                stages.append("min cost among optima")
                _fixed_tie_break(m, cost, runner, stages)
            else:
                _restore(m, stats2)
        elif tie_break:
            stages.append("tie-breaks skipped: time limit reached")
    _polish(m, problem, table, roles, runner, stages, objective, rate_cap)
    sol = _read(m, problem, objective, proven, gap, runner, stages)
    _verify(sol, problem, objective)
    return sol


def _stage_ok(stats: pulp.LpSolveStats) -> bool:
    return stats.has_solution and (stats.status in _OK or stats.status in _STOPPED_WITH_SOLUTION)


def _restore(m: Milp, stats: pulp.LpSolveStats) -> None:  # pragma: no cover - a tie-break stage never loses the warm start
    raise SolverError(f"a tie-break stage stopped without a plan (status {stats.status.name}); allow more time with --time-limit")


def _neighbourhood_start(m: Milp, problem: Problem, runner: _Runner, stages: list[str]) -> bool:
    """A starting plan for a large min-cost MILP: solve its LP relaxation, then the MILP with
    each instance count within one of its LP value (a small search: on the 480-GPU scale
    instance $239.1/h in about 3 s, where HiGHS alone holds $1,212/h after 10 s). Both run on
    `m` itself (building the model again costs a second on that instance), whose bounds and
    types are restored; its variables keep the start as a warm start. False when either step
    finds nothing (the main solve then starts cold)."""
    cost = cost_expression(m, problem)
    integers = [v for v in list(m.n.values()) + list(m.b.values()) + list(m.k.values()) if v.cat == pulp.LpInteger]
    bounds = {key: (v.lowBound, v.upBound) for key, v in m.n.items()}
    try:
        for v in integers:
            v.cat = pulp.LpContinuous
        # interior point: 0.36 s against dual simplex's 1.2 s on the scale instance's root LP
        stats, _ = runner.run(m, pulp.LpMinimize, cost, share=0.15, highs_options={"solver": "ipm"})
        if stats.status != pulp.LpSolveStatus.Optimal:
            return False
        for v in integers:
            v.cat = pulp.LpInteger
        for key, v in m.n.items():
            x = v.value() or 0.0
            v.lowBound = max(0, math.floor(x + 1e-9) - 1)
            v.upBound = min(bounds[key][1], math.ceil(x - 1e-9) + 1) if x > 1e-9 else 0
        # a start, not a proof: within 1% of the neighbourhood's best is enough
        stats, _ = runner.run(m, pulp.LpMinimize, cost, share=0.35, highs_options={"mip_rel_gap": 0.01})
        if not stats.has_solution:
            return False
        stages.append(f"start: the LP's neighbourhood (${pulp.value(cost):,.2f}/h)")
        return True
    finally:
        for v in integers:
            v.cat = pulp.LpInteger
        for key, v in m.n.items():
            v.lowBound, v.upBound = bounds[key]


def _serves_some(problem: Problem, table: CapacityTable, roles, runner: _Runner) -> bool:
    """Whether the LP relaxation serves traffic (a MILP answer of 0 req/s is then a solver fault)."""
    relaxed = build_milp(problem, table, roles)
    for v in list(relaxed.n.values()) + list(relaxed.b.values()) + list(relaxed.k.values()):
        v.cat = pulp.LpContinuous
    stats, _ = runner.run(relaxed, pulp.LpMaximize, relaxed.lam)
    return stats.status == pulp.LpSolveStatus.Optimal and (relaxed.lam.value() or 0.0) > 1e-9


def _recheck_infeasible(problem: Problem, table: CapacityTable, roles, runner: _Runner, target: float) -> None:
    """A solver's "infeasible" for a min-cost target, checked: the most the same MILP serves,
    capped at the target, with strict integrality. When that reaches the target the
    infeasibility was the solver's (numerical), and the strict retry takes over."""
    if runner.options["strict"]:
        return
    probe = build_milp(problem, table, roles)
    probe.add("cap", probe.lam <= target)
    strict = _Runner(runner.name, runner.deadline, runner.options["large"], runner.options["gap_rel"], strict=True)
    stats, _ = strict.run(probe, pulp.LpMaximize, probe.lam)
    runner.seconds += strict.seconds
    runner.solves += strict.solves
    if stats.has_solution and (probe.lam.value() or 0.0) >= target * (1 - DEMAND_REL_TOL):
        raise _CheckFailed(f"'{runner.name}' called {target:g} req/s infeasible; the same MILP serves it")


def _fixed_tie_break(m: Milp, cost, runner: "_Runner", stages: list[str]) -> None:
    """Among the plans within the tolerance of the optimum cost, the first in a fixed order.

    A stage of its own: folded into the objective as a tiny weight, the preference would sit
    below the MIP gap tolerance and different solvers (or options) could return different
    plans. Skipped (the plan keeps the previous stage's pools) once the deadline has passed."""
    if runner.deadline.expired():
        stages.append("fixed tie-break skipped: time limit reached")
        return
    best = pulp.value(cost) or 0.0
    m.add("tie:cost", cost <= best * (1 + TIE_TOLERANCE) + 1e-9)
    stats, _ = runner.run(m, pulp.LpMinimize, tie_break_expression(m), warm=True)
    if not _stage_ok(stats):
        _restore(m, stats)
    stages.append("fixed tie-break")


def _polish(
    m: Milp, problem: Problem, table: CapacityTable, roles, runner: "_Runner", stages: list[str], objective: str,
    rate_cap: float | None = None,
) -> None:
    """With the instance counts fixed (rounded), the plan's exact throughput and a canonical
    traffic split.

    The tie-break stages keep λ within a relative 1e-7 of the optimum; two LPs over the fixed
    pools restore the exact maximum (LP 1, at most the target for min-cost) and pick one split
    of traffic among equal pools (LP 2), so HiGHS and CBC report the same numbers. Raises
    _CheckFailed when the whole instance counts no longer serve what the MILP promised."""
    promised = m.lam.value() or 0.0
    fixed = build_milp(problem, table, roles)
    for fixed_vars, solved in ((fixed.n, m.n), (fixed.k, m.k)):  # instances, and whole nodes bought
        for key, v in fixed_vars.items():
            v.lowBound = v.upBound = round(solved[key].value() or 0)
    cap = problem.qps_target if objective == "min-cost" else rate_cap
    if cap is not None:
        fixed.add("target" if objective == "min-cost" else "cap", fixed.lam <= cap)
    stats, _ = runner.run(fixed, pulp.LpMaximize, fixed.lam, check=True)
    if stats.status != pulp.LpSolveStatus.Optimal or not stats.has_solution:
        raise _CheckFailed(f"the pools with whole instance counts: LP status {stats.status.name}")
    best = fixed.lam.value() or 0.0
    if objective != "min-cost" and promised <= NO_TRAFFIC_REQ_S:
        promised = 0.0  # no traffic, not a broken plan
    need = (problem.qps_target if objective == "min-cost" else promised) * (1 - DEMAND_REL_TOL)
    if best < need:
        raise _CheckFailed(f"the pools with whole instance counts serve {best:.9g} req/s, not {need:.9g}")
    # CBC honours fixed bounds only to its primal tolerance (an instance count of 3.0000003), so
    # LP 1's maximum may be a hair above what the whole counts give: LP 2 then keeps λ within
    # DEMAND_REL_TOL of it instead of 1e-9
    fixed.lam.lowBound = best * (1 - 1e-9)
    stats, _ = runner.run(fixed, pulp.LpMinimize, flow_tie_break_expression(fixed), check=True)
    if stats.status != pulp.LpSolveStatus.Optimal:
        fixed.lam.lowBound = best * (1 - DEMAND_REL_TOL)
        stats, _ = runner.run(fixed, pulp.LpMinimize, flow_tie_break_expression(fixed), check=True)
    if stats.status != pulp.LpSolveStatus.Optimal or not stats.has_solution:
        raise _CheckFailed(f"the canonical traffic split over the fixed pools: LP status {stats.status.name}")
    stages.append("polish: exact throughput of the fixed pools")
    for key, v in m.n.items():
        v.varValue = fixed.n[key].value()
    for key, v in m.x.items():
        v.varValue = fixed.x[key].value()
    for key, v in m.f.items():
        v.varValue = fixed.f[key].value()
    for key, v in m.b.items():
        v.varValue = fixed.b[key].value()
    for key, v in m.k.items():
        v.varValue = fixed.k[key].value()
    for key, v in m.o.items():
        v.varValue = fixed.o[key].value()
    for key, v in m.local.items():
        v.varValue = fixed.local[key].value()
    m.lam.varValue = min(best, cap) if cap is not None else best


def _verify(sol: Solution, problem: Problem, objective: str) -> None:
    """The plan as reported satisfies its own constraints: whole instance counts, every named
    constraint within a relative DEMAND_REL_TOL of its size, and a positive rate (the target,
    within DEMAND_REL_TOL, for min-cost)."""
    if sol.rate_per_s <= 0:
        raise _CheckFailed("the plan serves 0 req/s")
    if objective == "min-cost" and sol.rate_per_s < problem.qps_target * (1 - DEMAND_REL_TOL):
        raise _CheckFailed(f"the plan serves {sol.rate_per_s:.9g} of the {problem.qps_target:.9g} req/s target")
    for name, c in sol.milp.constraints.items():
        if name.startswith("tie:"):
            continue
        size = max(1.0, abs(c.constant), sum(abs(coef * (v.value() or 0.0)) for v, coef in c.items()))
        if name == "target":
            continue  # checked above against the target itself
        if _violation(c) > DEMAND_REL_TOL * size:
            raise _CheckFailed(f"constraint {name} is broken by {_violation(c):.3g}")


def _violation(c: pulp.LpConstraint) -> float:
    activity = sum(coef * (v.value() or 0.0) for v, coef in c.items())
    rhs = -c.constant
    if c.sense == pulp.LpConstraintLE:
        return max(0.0, activity - rhs)
    if c.sense == pulp.LpConstraintGE:
        return max(0.0, rhs - activity)
    return abs(activity - rhs)


def no_traffic_reason(problem: Problem, table: CapacityTable, roles: set[str] | None = None) -> str:
    """Why no plan serves any traffic, in the user's terms: the budget when it is below the
    cheapest plan that serves anything, else the SLOs (or, without SLOs, the configurations)."""
    if problem.budget_usd_per_hour is not None:
        price = {e.gpu.id: e.price_usd_per_hour for e in problem.entries}
        cheapest: dict[str, tuple[float, str]] = {}
        for c in table.configs:
            if (roles is None or c.role in roles) and c.role in problem.roles and any(x.rate_per_s > 0 for x in c.caps.values()):
                usd = c.tp * price.get(c.gpu_id, math.inf)
                if usd < cheapest.get(c.role, (math.inf, ""))[0]:
                    cheapest[c.role] = (usd, f"{c.tp}x {c.gpu_id} {c.role}")
        options = [cheapest["colocated"]] if "colocated" in cheapest else []
        if "prefill" in cheapest and "decode" in cheapest:
            (a, ta), (b, tb) = cheapest["prefill"], cheapest["decode"]
            options.append((a + b, f"{ta} + {tb}"))
        if options:
            usd, what = min(options)
            if usd > problem.budget_usd_per_hour:
                return (
                    f"the budget of ${problem.budget_usd_per_hour:g}/h buys no plan that serves traffic: the cheapest "
                    f"({what}) costs ${usd:,.2f}/h"
                )
    if problem.has_slo:
        return "no plan serves any traffic within the SLOs"
    return "no configuration of this fleet serves the workload (see the notes on memory and TP degrees)"


def _dinkelbach(m: Milp, cost, runner: _Runner, stages: list[str], why_none: Callable[[], str]) -> tuple[bool, float, float]:
    """Best λ/cost: repeat max λ - q·cost with q the best ratio so far until no plan beats q.

    Returns (proven optimal, gap, best ratio in requests/s per USD/h); the ratio is infinite
    when a plan on free GPUs (price 0) serves traffic. Past the deadline it stops with the best
    ratio so far (not proven)."""
    q, gap = 0.0, 0.0
    for i in range(30):
        if i and runner.deadline.expired():
            stages.append("dinkelbach stopped: time limit reached")
            return False, gap, q
        stats, gap = runner.run(m, pulp.LpMaximize, m.lam - q * cost, share=0.5)
        solved = _check(stats, "no plan serves any traffic")
        lam, c = m.lam.value() or 0.0, pulp.value(cost) or 0.0
        stages.append(f"dinkelbach q={q:.6g}")
        if q == 0 and lam <= 0:
            raise InfeasibleError(why_none())
        if lam - q * c <= 1e-9 * max(1.0, lam):
            # no plan beats q: proven when this last step is (its objective is ≈ 0 at the optimum,
            # so its gap is measured against λ); earlier steps only had to find better plans
            gap = _gap(stats, scale=lam)
            return solved or (stats.status in _OK and gap <= PROVEN_GAP), gap, q
        if c <= 1e-12:
            return solved, gap, math.inf
        q = lam / c
    return False, gap, q


def _read(m: Milp, problem: Problem, objective: str, proven: bool, gap: float, runner: _Runner, stages: list[str]) -> Solution:
    instances = {}
    for key, v in m.n.items():
        val = int(round(v.value() or 0))
        v.varValue = val  # snap solver round-off (1e-14) so slacks read exact integers
        if val > 0:
            instances[key] = val
    bought = {}
    for gpu_id, v in m.b.items():
        val = int(round(v.value() or 0))
        v.varValue = val
        if val > 0:
            bought[gpu_id] = val
    used: dict[str, int] = {}
    for c in m.configs:
        used[c.gpu_id] = used.get(c.gpu_id, 0) + c.tp * instances.get(c.key, 0)
    flows = {}
    for key, v in m.x.items():
        val = v.value() or 0.0
        if val > 1e-9:
            flows[key] = val
    slacks = {name: _slack(c) for name, c in m.constraints.items() if not name.startswith("tie:")}
    return Solution(
        objective=objective,
        proven_optimal=proven,
        gap=gap,
        rate_per_s=m.lam.value() or 0.0,
        cost_usd_per_hour=sum(e.cost_usd_per_hour(used.get(e.gpu.id, 0), bought.get(e.gpu.id, 0)) for e in problem.entries),
        instances=instances,
        bought=bought,
        flows=flows,
        slacks=slacks,
        milp=m,
        solver=runner.name,
        solver_version=solver_version(runner.name),
        solve_seconds=runner.seconds,
        solves=runner.solves,
        stages=stages,
    )


def _slack(c: pulp.LpConstraint) -> float:
    """Distance to the bound of an inequality, computed from the variable values (≥ 0 when met)."""
    activity = sum(coef * (v.value() or 0.0) for v, coef in c.items())
    rhs = -c.constant
    if c.sense == pulp.LpConstraintLE:
        return rhs - activity
    if c.sense == pulp.LpConstraintGE:
        return activity - rhs
    return abs(activity - rhs)
