"""`planner compare`: one workload on several fleets or scenario overlays of a base fleet.

Each scenario is planned on its own (same objective, QPS target, SLOs and solver); a scenario
that cannot serve the workload is a row with its reason, not a failure of the comparison. The
first feasible scenario is the reference for the deltas; winners are picked per measure (most
throughput, least USD/h, least USD per million tokens), ties listed together.
"""

from __future__ import annotations

from pathlib import Path

from planner.api import default_objective, plan_problem, with_options
from planner.errors import InfeasibleError, InputError
from planner.optimize.budget import Deadline
from planner.plan import SIG, Plan, _Out
from planner.problem import resolve
from planner.specs import FleetSpec, Located, load_fleet, load_workload
from planner.specs.scenarios import apply_scenario, base_path, load_scenarios


class ScenarioRow(_Out):
    name: str
    fleet: str
    feasible: bool
    reason: str | None
    status: str | None  # optimal | feasible (MIP gap) | None when infeasible
    requests_per_s: float | None
    output_tokens_per_s: float | None
    cost_usd_per_hour: float | None
    usd_per_million_output_tokens: float | None  # the unit of max-tokens-per-dollar and of `solve`
    usd_per_million_tokens: float | None  # per million input + output tokens
    gpus_used: int | None
    gpus_bought: dict[str, int]
    throughput_vs_first: float | None  # relative: 0.25 = 25% more than the reference scenario
    cost_vs_first: float | None


class Comparison(_Out):
    workload: str
    objective: str
    qps_target: float | None
    reference: str | None  # the deltas are against this scenario: the first that is feasible
    scenarios: list[ScenarioRow]
    winners: dict[str, list[str]]  # measure -> scenario names (ties together)


def fleets_from_scenarios(path: str | Path) -> list[tuple[str, FleetSpec, Located | None]]:
    spec, doc = load_scenarios(path)
    base_file = base_path(spec, doc, path)
    base, base_doc = load_fleet(base_file)
    out = []
    for i, s in enumerate(spec.scenarios):
        fleet = apply_scenario(base, s, i, doc, base_file.parent)
        unchanged = not (s.add or s.remove or s.price or s.buy or s.gpus or s.links)
        out.append((s.name, fleet, base_doc if unchanged else None))
    return out


def fleets_from_files(paths: list[str | Path]) -> list[tuple[str, FleetSpec, Located | None]]:
    loaded = [(p, *load_fleet(p)) for p in paths]
    names = [fleet.name or Path(p).stem for p, fleet, _ in loaded]
    out = []
    for (p, fleet, doc), name in zip(loaded, names):
        # two fleets of one name would both be the reference and both be starred: name them by file
        out.append((Path(p).stem if names.count(name) > 1 else name, fleet, doc))
    return out


def compare(
    fleets: list[tuple[str, FleetSpec, Located | None]],
    workload_paths: list[str | Path],
    objective: str | None = None,
    qps: float | None = None,
    solver: str = "highs",
    budget_usd_per_hour: float | None = None,
    roles: list[str] | None = None,
    time_limit_s: float | None = None,
    engine: str | None = None,
) -> tuple[Comparison, list[Plan | None]]:
    if not fleets:
        raise InputError("give a scenarios file or at least one fleet to compare")
    deadline = Deadline(time_limit_s)  # one budget for every scenario
    loaded = [load_workload(p) for p in workload_paths]
    rows: list[ScenarioRow] = []
    plans: list[Plan | None] = []
    chosen, target = objective, None
    for name, fleet, doc in fleets:
        problem = resolve(fleet, [w for w, _ in loaded], doc, [d for _, d in loaded], qps_target=qps, engine=engine)
        problem = with_options(problem, budget_usd_per_hour, roles)
        chosen = chosen or default_objective(problem)
        target = problem.qps_target
        try:
            plan = plan_problem(problem, chosen, solver, explain=False, deadline=deadline)
        except InfeasibleError as e:
            rows.append(_row(name, problem.fleet_name, None, e.message))
            plans.append(None)
            continue
        rows.append(_row(name, problem.fleet_name, plan, None))
        plans.append(plan)
    reference = next((r for r in rows if r.feasible), None)
    if reference is not None:
        rows = [replace_deltas(r, reference) for r in rows]
    return (
        Comparison(
            workload=" + ".join(w.name or Path(p).stem for (w, _), p in zip(loaded, workload_paths)),
            objective=chosen,
            qps_target=target,
            reference=reference.name if reference else None,
            scenarios=rows,
            winners=_winners(rows),
        ),
        plans,
    )


def _row(name: str, fleet: str, plan: Plan | None, reason: str | None) -> ScenarioRow:
    if plan is None:
        return ScenarioRow(
            name=name, fleet=fleet, feasible=False, reason=reason, status=None, requests_per_s=None,
            output_tokens_per_s=None, cost_usd_per_hour=None, usd_per_million_output_tokens=None,
            usd_per_million_tokens=None, gpus_used=None,
            gpus_bought={}, throughput_vs_first=None, cost_vs_first=None,
        )
    return ScenarioRow(
        name=name,
        fleet=fleet,
        feasible=True,
        reason=None,
        status=plan.status if plan.status == "optimal" else f"feasible (gap {plan.mip_gap:.2%})",
        requests_per_s=plan.throughput.requests_per_s,
        output_tokens_per_s=plan.throughput.output_tokens_per_s,
        cost_usd_per_hour=plan.cost.usd_per_hour,
        usd_per_million_output_tokens=plan.cost.usd_per_million_output_tokens,
        usd_per_million_tokens=plan.cost.usd_per_million_tokens,
        gpus_used=sum(g.used for g in plan.gpus),
        gpus_bought={g.gpu: g.bought for g in plan.gpus if g.bought},
        throughput_vs_first=None,
        cost_vs_first=None,
    )


def _rel(new: float | None, old: float | None) -> float | None:
    if new is None or old is None or old == 0:
        return None
    return float(f"{(new - old) / old:.{SIG}g}") + 0.0


def replace_deltas(r: ScenarioRow, first: ScenarioRow) -> ScenarioRow:
    return r.model_copy(
        update={
            "throughput_vs_first": _rel(r.requests_per_s, first.requests_per_s),
            "cost_vs_first": _rel(r.cost_usd_per_hour, first.cost_usd_per_hour),
        }
    )


def _winners(rows: list[ScenarioRow]) -> dict[str, list[str]]:
    measures = {
        "throughput": (lambda r: r.requests_per_s, max),
        "cost": (lambda r: r.cost_usd_per_hour, min),
        "usd_per_million_output_tokens": (lambda r: r.usd_per_million_output_tokens, min),
    }
    out = {}
    for measure, (get, pick) in measures.items():
        values = [(get(r), r.name) for r in rows if r.feasible and get(r) is not None]
        if not values:
            out[measure] = []
            continue
        best = pick(v for v, _ in values)
        out[measure] = [n for v, n in values if abs(v - best) <= 1e-9 * max(1.0, abs(best))]
    return out

