"""Measured capacities: a team's own load-test results replace the model's estimates.

A workload's `measured_capacities` give, per (GPU type, TP degree, role) and request class,
the requests/s one instance sustains within the SLOs, or its prefill/decode token rates (see
`planner.specs.workload.MeasuredCapacity`). They replace `rate_per_s` of the matching
configuration's classes; everything else about the configuration (batch, predicted latencies)
stays modelled, and the plan marks each capacity as measured or modelled.

Configurations the measurements do not name keep the model's capacities, and the plan's notes
say so (a TP1 load test beside modelled TP2/TP4 pools is easy to miss); `measured_only: true`
plans on the measured (configuration, class) capacities alone.
"""

from __future__ import annotations

from dataclasses import replace

from planner.errors import InputError
from planner.perf.table import CapacityTable, ClassCapacity
from planner.problem import PlanClass, Problem, Served
from planner.specs.workload import MeasuredCapacity


def apply_measured(table: CapacityTable, problem: Problem) -> None:
    """Replace the modelled capacities the workloads measured (in place)."""
    for served in problem.served:
        if not served.measured:
            continue
        classes = [k for k in problem.classes if k.served == served.name]
        by_key = {(c.gpu_id, c.tp, c.role): i for i, c in enumerate(table.configs) if c.served == served.name}
        for m, where in served.measured:
            i = by_key.get((m.gpu, m.tp, m.role))
            if i is None:
                raise InputError(f"{where}: {_why_missing(table, problem, served, m)}")
            targets = _classes(m, classes, f"{served.name}/" if problem.multi else "", where)
            config = table.configs[i]
            caps = dict(config.caps)
            for k in targets:
                caps[k.name] = _measured(caps[k.name], m, k)
            table.configs[i] = replace(config, caps=caps)
        mine = [c for c in table.configs if c.served == served.name]
        modelled = [c for c in mine if any(not x.measured and x.rate_per_s > 0 for x in c.caps.values())]
        label = f"{served.name}: " if problem.multi else ""
        if served.measured_only:
            kept = []
            for c in table.configs:
                if c.served == served.name:
                    caps = {k: x if x.measured else replace(x, rate_per_s=0.0, reason="not measured (measured_only)") for k, x in c.caps.items()}
                    if not any(x.rate_per_s > 0 for x in caps.values()):
                        continue
                    c = replace(c, caps=caps)
                kept.append(c)
            table.configs[:] = kept
            table.notes.append(f"{label}measured_only: planned on the {sum(1 for _ in served.measured)} measured capacities alone")
        elif modelled:
            names = ", ".join(f"{c.gpu_id} TP{c.tp} {c.role}" for c in modelled[:6]) + (" ..." if len(modelled) > 6 else "")
            table.notes.append(
                f"{label}measured capacities sit beside modelled ones: {len(modelled)} configurations keep the "
                f"performance model's capacities ({names}); set measured_only: true to plan on measured ones alone"
            )


def _classes(m: MeasuredCapacity, classes: list[PlanClass], prefix: str, where: str) -> list[PlanClass]:
    local = {k.name[len(prefix):]: k for k in classes}  # the names the workload file uses
    if m.request_class is not None:
        if m.request_class not in local:
            raise InputError(f"{where}.class: unknown request class '{m.request_class}' (classes: {', '.join(local)})")
        return [local[m.request_class]]
    if m.requests_per_s is not None and len(classes) > 1:
        raise InputError(f"{where}: requests_per_s without a class: name the class it was measured for (classes: {', '.join(local)})")
    return classes


def _measured(cap: ClassCapacity, m: MeasuredCapacity, k: PlanClass) -> ClassCapacity:
    if m.requests_per_s is not None:
        rate = m.requests_per_s
    elif m.role == "prefill":
        rate = m.prefill_tokens_per_s / k.prompt_tokens
    elif m.role == "decode":
        rate = m.decode_tokens_per_s / k.output_tokens
    else:
        rate = 1.0 / (k.prompt_tokens / m.prefill_tokens_per_s + k.output_tokens / m.decode_tokens_per_s)
    return replace(cap, rate_per_s=rate, measured=m.source or "measured", reason="")


def _why_missing(table: CapacityTable, problem: Problem, served: Served, m: MeasuredCapacity) -> str:
    ids = [e.gpu.id for e in problem.entries]
    if m.gpu not in ids:
        return f"GPU type '{m.gpu}' is not in the fleet (types: {', '.join(ids)})"
    label = f"{served.name} on {m.gpu}" if problem.multi else m.gpu
    if label in table.excluded:
        return f"{m.gpu} cannot serve this model: {table.excluded[label]}"
    if m.tp not in served.tp_degrees:
        return f"TP{m.tp} is not among the workload's tp_degrees {list(served.tp_degrees)}"
    notes = "; ".join(table.tp_notes.get(label, []))
    return f"no {m.gpu} TP{m.tp} {m.role} configuration" + (f" ({notes})" if notes else "")
