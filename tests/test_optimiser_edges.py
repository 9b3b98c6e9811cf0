"""The optimiser at its edges (issue 13): never a wrong "optimal", one time budget per command.

The knife-edge case: two GPU types in purchase mode, measured per-class capacities, colocated
only, and a QPS target a hair above the exact capacity of N instances. Before the fix HiGHS
accepted an instance count of 1.0000009 as whole and reported an empty plan (0 req/s, $0/h) as
optimal; CBC called the feasible target infeasible. The plan must serve the target (within the
stated DEMAND_REL_TOL) or be a correct infeasibility.
"""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from conftest import write
from planner.api import build_capacity_table, load_problem, plan_problem
from planner.cli import app
from planner.errors import InfeasibleError
from planner.optimize import solve as solve_module
from planner.optimize.budget import MIN_SOLVE_S, Deadline
from planner.optimize.infeasibility import explain_shortfall
from planner.optimize.solve import DEMAND_REL_TOL, solve

FLEET = """\
name: knife
gpus:
  - type: h100-sxm
    count: 0
    gpus_per_node: 8
    buy: {max: 16, price_usd_per_hour: 2.95}
  - type: a100-80-sxm
    count: 0
    gpus_per_node: 8
    buy: {max: 16, price_usd_per_hour: 2.50}
"""
WORKLOAD = """\
name: knife
model: llama-3.1-8b
tp_degrees: [1]
classes:
  - {name: short, prompt_tokens: 512, output_tokens: 128, share: 0.6}
  - {name: long, prompt_tokens: 2048, output_tokens: 256, share: 0.4}
measured_capacities:
  - {gpu: h100-sxm, tp: 1, role: colocated, class: short, requests_per_s: 5.0}
  - {gpu: h100-sxm, tp: 1, role: colocated, class: long, requests_per_s: 1.3}
  - {gpu: a100-80-sxm, tp: 1, role: colocated, class: short, requests_per_s: 2.1}
  - {gpu: a100-80-sxm, tp: 1, role: colocated, class: long, requests_per_s: 0.7}
"""
H100_REQ_S = 1 / (0.6 / 5.0 + 0.4 / 1.3)  # one H100 instance on this mix: 2.33813 req/s


@pytest.fixture
def knife(tmp_path):
    return write(tmp_path, "fleet.yaml", FLEET), write(tmp_path, "wl.yaml", WORKLOAD)


# (instances, relative excess of the target over their exact capacity): each of these gave
# HiGHS's empty "optimal" plan or CBC's false infeasibility before the fix
KNIFE_EDGES = [(1, 3e-7), (1, 9e-7), (3, 1e-7), (3, 3e-7), (8, 1e-7)]


@pytest.mark.parametrize("solver", ["highs", "cbc"])
@pytest.mark.parametrize("n, excess", KNIFE_EDGES)
def test_knife_edge_target_is_served_never_an_empty_optimum(knife, solver, n, excess):
    target = n * H100_REQ_S * (1 + excess)
    problem = load_problem(*knife, qps=target, roles=["colocated"])
    sol = solve(problem, build_capacity_table(problem), "min-cost", solver)
    assert sol.rate_per_s >= target * (1 - DEMAND_REL_TOL)
    # within the stated tolerance the N H100 instances serve it: the cheapest plan
    assert sol.instances == {"h100-sxm:tp1:colocated": n}
    assert sol.cost_usd_per_hour == pytest.approx(2.95 * n)


@pytest.mark.parametrize("solver", ["highs", "cbc"])
def test_target_beyond_the_tolerance_needs_more_than_n_instances(knife, solver):
    target = 3 * H100_REQ_S * (1 + 5e-6)  # five times the tolerance: 3 H100 no longer serve it
    problem = load_problem(*knife, qps=target, roles=["colocated"])
    sol = solve(problem, build_capacity_table(problem), "min-cost", solver)
    assert sol.rate_per_s >= target * (1 - DEMAND_REL_TOL)
    # whatever the cheapest plan is now, it costs more than 3 H100
    assert sol.cost_usd_per_hour > 3 * 2.95
    served = sum(sol.flows.values())
    assert served >= target * (1 - DEMAND_REL_TOL)  # the flows of the classes sum to the rate


def test_cli_knife_edge_plan_is_not_zero(knife):
    target = 1 * H100_REQ_S * (1 + 9e-7)
    r = CliRunner().invoke(
        app,
        ["solve", *map(str, knife), "--objective", "min-cost", "--qps", repr(target), "--roles", "colocated",
         "--no-explain", "-q", "--json", "-", "--require-optimal"],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["status"] == "optimal"
    assert doc["throughput"]["requests_per_s"] == pytest.approx(target, rel=2e-6)
    assert doc["cost"]["usd_per_hour"] == pytest.approx(2.95)


def test_a_plan_that_breaks_its_constraints_is_retried_then_refused(knife, monkeypatch):
    """The final check: a polish that cannot serve what the MILP promised is solved again with
    strict integrality; if that fails too, it is an error, not a plan."""
    problem = load_problem(*knife, qps=2 * H100_REQ_S, roles=["colocated"])
    table = build_capacity_table(problem)
    calls = []

    def broken_polish(*args, **kw):
        calls.append(args[4].options["strict"])
        raise solve_module._CheckFailed("the pools with whole instance counts serve 0 req/s")

    monkeypatch.setattr(solve_module, "_polish", broken_polish)
    with pytest.raises(solve_module.SolverError, match="breaks its own constraints"):
        solve(problem, table, "min-cost", "highs")
    assert calls == [False, True]


def test_shortfall_with_unlimited_purchases_explains_the_target_it_was_given(tmp_path):
    """Before: the explainer ran max-throughput with unlimited purchases and failed with an
    error about an objective the user did not ask for. Now its re-solves are capped at the target."""
    fleet = write(
        tmp_path, "f.yaml",
        "gpus:\n  - type: h100-sxm\n    count: 0\n    network_gbit_s: 1\n    buy: {max: unlimited, price_usd_per_hour: 2.95}\n",
    )
    wl = write(
        tmp_path, "w.yaml",
        "model: llama-3.1-70b\ntp_degrees: [4]\nclasses:\n  - {name: c, prompt_tokens: 8000, output_tokens: 50, share: 1}\n"
        "traffic: {qps: 50}\nslo: {ttft_ms: 100000, tpot_ms: 200}\n",
    )
    problem = load_problem(fleet, wl, roles=["prefill", "decode"])
    table = build_capacity_table(problem)
    text = explain_shortfall(problem, table, "highs", Deadline(None))
    assert "max-throughput with unlimited purchases" not in text
    assert "req/s" in text


class FakeClock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_deadline_counts_down_and_gives_each_solve_what_is_left(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr("planner.optimize.budget.time.monotonic", clock)
    d = Deadline(10.0, start=clock())
    assert d.solver_limit_s() == pytest.approx(10.0)
    clock.t += 4
    assert d.solver_limit_s(0.5) == pytest.approx(3.0)
    assert not d.expired()
    clock.t += 7
    assert d.expired()
    assert d.solver_limit_s() == MIN_SOLVE_S
    assert Deadline(None).solver_limit_s() is None and not Deadline(None).expired()


def test_one_budget_for_the_whole_command(knife, monkeypatch):
    """Every solver call of a solve with its explanation gets at most what is left of one
    budget (before: each of ~20 solves got the whole --time-limit, and the tie-break a second one)."""
    limits = []
    original = solve_module.make_solver

    def recording(name, time_limit_s=None, *a, **kw):
        limits.append(time_limit_s)
        return original(name, time_limit_s, *a, **kw)

    monkeypatch.setattr(solve_module, "make_solver", recording)
    monkeypatch.setattr("planner.optimize.scenarios.make_solver", recording)
    problem = load_problem(*knife, qps=3 * H100_REQ_S)
    deadline = Deadline(30.0)
    plan_problem(problem, "min-cost", "highs", explain=True, deadline=deadline)
    used = [x for x in limits if x is not None]
    assert len(used) >= 8  # the main stages, the baselines, the marginal values, the shadow LP
    assert max(used) <= 30.0


def test_expired_budget_skips_the_explanation_and_says_so(knife):
    problem = load_problem(*knife, qps=3 * H100_REQ_S)
    deadline = Deadline(1e-9)  # already spent when planning starts
    plan = plan_problem(problem, "min-cost", "highs", explain=True, deadline=deadline)
    assert plan.throughput.requests_per_s == pytest.approx(3 * H100_REQ_S)
    assert plan.baselines and all(b.reason == "not computed: the time limit was reached" for b in plan.baselines)
    assert all(not m.feasible for m in plan.marginal_values)
    assert "fixed tie-break skipped: time limit reached" in plan.metadata.stages


def test_marginal_values_from_unproven_solves_are_marked(knife):
    problem = load_problem(*knife, qps=3 * H100_REQ_S)
    proven = plan_problem(problem, "min-cost", "highs", explain=True)
    assert proven.marginal_values and all(m.proven for m in proven.marginal_values)
    assert proven.baselines and all(b.proven for b in proven.baselines)


def test_infeasible_target_is_still_infeasible(knife):
    problem = load_problem(*knife, qps=60.0, roles=["colocated"])  # 16 H100 + 16 A100 serve at most 57.6 req/s (A100s on long)
    with pytest.raises(InfeasibleError, match="cannot serve"):
        plan_problem(problem, "min-cost", "highs", explain=False)


def test_tiny_targets_are_refused_below_the_solvers_tolerances(knife):
    """--qps 1e-6 gave a "proven optimal" plan of 0 GPUs; 3e-6 a false infeasibility (issue 14)."""
    r = CliRunner().invoke(app, ["solve", *map(str, knife), "--qps", "1e-6", "--objective", "min-cost"])
    assert r.exit_code == 2 and "error: --qps must be between 0.001 and 1e+07 requests/s (got 1e-06)" in r.output
    problem = load_problem(*knife, qps=1e-3, roles=["colocated"])
    plan = plan_problem(problem, "min-cost", "highs", explain=False)
    assert plan.throughput.requests_per_s == pytest.approx(1e-3, rel=1e-6)
    assert sum(p.gpus for p in plan.pools) == 1 and plan.cost.usd_per_hour == pytest.approx(2.50)
