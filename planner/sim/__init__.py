"""Discrete-event simulation of a plan (`planner simulate`): does the plan hold its SLOs and
throughput when requests arrive at random, are batched and queue? The model is in
`planner.sim.engine`'s docstring; the result schema in `planner.sim.result`."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from planner.errors import InputError
from planner.sim.engine import simulate
from planner.sim.result import SimResult
from planner.sim.trace import read_trace_rows

__all__ = ["SimResult", "load_plan", "simulate", "simulate_files"]


def load_plan(path: str | Path):
    """A plan JSON file (`planner solve --json`), validated against the plan schema."""
    from planner.report.export import read_plan

    return read_plan(path)


def simulate_files(
    plan_path: str | Path,
    workload_paths: str | Path | list[str | Path],
    fleet_path: str | Path | None = None,
    *,
    trace_path: str | Path | None = None,
    duration_s: float | None = None,
    n_requests: int | None = None,
    load: float = 1.0,
    seed: int = 0,
    warmup_s: float | None = None,
    engine: str | None = None,
) -> SimResult:
    """Replay a plan file on its workload file(s). Without a fleet file the fleet is rebuilt
    from the plan's `gpus` list (catalog GPU ids, owned counts, prices): catalog defaults then
    stand for node sizes, NICs, zones and overrides, and the result says so."""
    from planner.perf.capacity import build_capacity_table
    from planner.problem import resolve
    from planner.specs import FleetSpec, load_fleet, load_workload

    plan = load_plan(plan_path)
    paths = workload_paths if isinstance(workload_paths, list) else [workload_paths]
    if not paths:
        raise InputError("give at least one workload file")
    loaded = [load_workload(w) for w in paths]
    notes = []
    if fleet_path is not None:
        fleet, fleet_doc = load_fleet(fleet_path)
    else:
        try:
            fleet = FleetSpec.model_validate(
                {
                    "name": plan.inputs.fleet,
                    "gpus": [
                        {"type": g.gpu, "count": g.owned, "price_usd_per_hour": g.price_usd_per_hour} | _engine_of(g)
                        for g in plan.gpus
                    ],
                }
            )
        except ValidationError as e:
            raise InputError(f"{plan_path}: gpus: cannot rebuild the fleet from the plan ({e.errors()[0]['msg']}); give the fleet file") from None
        fleet_doc = None
        notes.append(
            "fleet rebuilt from the plan's gpus (no fleet file): catalog defaults for node sizes, NICs, zones "
            "and efficiency; give the fleet file for the exact one"
        )
    problem = resolve(fleet, [w for w, _ in loaded], fleet_doc, [d for _, d in loaded], engine=engine)
    if [m.name for m in plan.models] != [s.name for s in problem.served]:
        raise InputError(
            f"{plan_path}: models: the plan serves {', '.join(m.name for m in plan.models)}; the workload files "
            f"give {', '.join(s.name for s in problem.served)}"
        )
    trace = read_trace_rows(trace_path) if trace_path is not None else None
    table = build_capacity_table(problem)
    result = simulate(
        problem, table, plan, load=load, duration_s=duration_s, n_requests=n_requests, seed=seed, trace=trace, warmup_s=warmup_s
    )
    return result.model_copy(update={"notes": notes + result.notes})


def _engine_of(g) -> dict:
    """The serving engine (and its launch settings) a plan recorded for a GPU type."""
    e = g.engine
    if e is None:
        return {}
    return {
        "engine": {
            "name": e.engine,
            "memory_fraction": e.memory_fraction,
            "max_num_seqs": e.max_num_seqs,
            "max_batched_tokens": e.max_batched_tokens,
        }
    }
