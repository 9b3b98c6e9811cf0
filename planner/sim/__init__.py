"""Discrete-event simulation of a plan (`planner simulate`): does the plan hold its SLOs and
throughput when requests arrive at random, are batched and queue? The model is in
`planner.sim.engine`'s docstring; the result schema in `planner.sim.result`."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from planner.errors import InputError
from planner.specs.base import plain_message
from planner.specs.fleet import EngineChoice
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
    progress=None,
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
        if engine is None:
            fleet, changed = _with_plan_engines(fleet, plan)
            if changed:
                notes.append(f"engine: the plan's for {', '.join(changed)} (the fleet file names none; --engine to change)")
    else:
        try:
            fleet = FleetSpec.model_validate({"name": plan.inputs.fleet, "gpus": [_rebuilt_gpu(g) for g in plan.gpus]})
        except ValidationError as e:
            raise InputError(f"{plan_path}: cannot rebuild the fleet from the plan's gpus ({plain_message(e)}); give the fleet file") from None
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
    if fleet_path is None:
        problem = _with_plan_provenance(problem, plan)
    trace = read_trace_rows(trace_path) if trace_path is not None else None
    table = build_capacity_table(problem)
    result = simulate(
        problem, table, plan, load=load, duration_s=duration_s, n_requests=n_requests, seed=seed, trace=trace, warmup_s=warmup_s,
        fleet_rebuilt=fleet_path is None, progress=progress,
    )
    return result.model_copy(update={"notes": notes + result.notes})


def _rebuilt_gpu(g) -> dict:
    """A fleet entry from a plan's `gpus` row: the type, owned count, price, engine, and in
    purchase mode what may be bought or rented (at the plan's price per GPU-hour)."""
    out = {"type": g.gpu, "count": g.owned, "price_usd_per_hour": g.price_usd_per_hour} | _engine_of(g)
    if g.buy_limit is not None:
        out["buy"] = {"max": g.buy_limit, "price_usd_per_hour": g.buy_price_usd_per_hour or 0.0}
    return out


def _with_plan_engines(fleet, plan) -> tuple[object, list[str]]:
    """The fleet with the plan's engine on every GPU type whose entry names none (a plan solved
    with --engine), and the types changed."""
    from planner.catalog import catalog

    planned = {g.gpu: g.engine.engine for g in plan.gpus if g.engine is not None}
    cat = catalog()
    gpus, changed = [], []
    for g in fleet.gpus:
        name = planned.get(g.type)
        if g.engine is None and name is not None and cat.gpu_on(cat.gpu(g.type, "gpus"), None).engine.id != name:
            g = g.model_copy(update={"engine": EngineChoice(name=name)})
            changed.append(f"{g.type} ({name})")
        gpus.append(g)
    return (fleet.model_copy(update={"gpus": gpus}) if changed else fleet), changed


# the rebuilt problem's NIC provenance is tried both ways for at most this many GPU types
# (2^n digests; the shipped fleets have 2 to 4 types)
_MAX_PROVENANCE_TYPES = 8


def _with_plan_provenance(problem, plan):
    """A problem rebuilt from the plan's `gpus` differs from the one the plan was made from in
    provenance strings only when the fleet file gave nothing the plan does not record: prices
    and purchase terms say "fleet file" instead of where they came from, and a fleet file that
    states its NIC speed (as the shipped ones do) says "fleet file" where the rebuild says
    "catalog default". Take the plan's own price sources, and the NIC source that reproduces the
    plan's digest if one does, so that the digest check (`planner.sim.engine`) compares inputs,
    not wording. The numbers are never changed."""
    from dataclasses import replace
    from itertools import product

    from planner.plan import inputs_digest

    rows = {g.gpu: g for g in plan.gpus}
    entries = []
    for e in problem.entries:
        g = rows.get(e.gpu.id)
        if g is not None:
            e = replace(e, price_source=g.price_source, buy_price_source=g.buy_price_source or e.buy_price_source)
        entries.append(e)
    base = replace(problem, entries=tuple(entries))
    target = plan.inputs.digest_sha256
    if len(entries) > _MAX_PROVENANCE_TYPES or inputs_digest(base) == target:
        return base
    for stated in product((False, True), repeat=len(entries)):
        trial = replace(
            base,
            entries=tuple(replace(e, network_source="fleet file") if s else e for e, s in zip(entries, stated)),
        )
        if inputs_digest(trial) == target:
            return trial
    return base


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
