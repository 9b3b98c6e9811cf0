"""CI gates: requirements a plan must meet, and what changed between two plans.

    planner solve ... --require-qps N --max-cost-usd-per-hour C   exit 1 when unmet
    planner diff old.json new.json [--tolerance 0.02] [--fail-on-regression]

A regression is a throughput drop or a cost rise (USD/h, or USD per million tokens) beyond the
relative tolerance, or a plan that is no longer proven optimal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from planner.errors import InputError
from planner.plan import Plan


def check_requirements(
    require_qps: float | None = None,
    max_cost_usd_per_hour: float | None = None,
    max_usd_per_million_tokens: float | None = None,
) -> None:
    """A gate's threshold must be a finite number >= 0: NaN compares false with everything, so
    `--require-qps nan` would pass every plan (the gate silently off)."""
    for option, v in (
        ("--require-qps", require_qps),
        ("--max-cost-usd-per-hour", max_cost_usd_per_hour),
        ("--max-usd-per-million-tokens", max_usd_per_million_tokens),
    ):
        if v is not None and not (math.isfinite(v) and v >= 0):
            raise InputError(f"{option} must be a finite number >= 0 (got {v})")


def unmet_requirements(
    plan: Plan,
    require_qps: float | None = None,
    max_cost_usd_per_hour: float | None = None,
    max_usd_per_million_tokens: float | None = None,
    require_optimal: bool = False,
) -> list[str]:
    """One sentence per requirement the plan misses (empty: all met)."""
    check_requirements(require_qps, max_cost_usd_per_hour, max_usd_per_million_tokens)
    out = []
    rate, cost = plan.throughput.requests_per_s, plan.cost.usd_per_hour
    if require_qps is not None and rate < require_qps * (1 - 1e-9):
        out.append(f"the plan serves {rate:,.3f} req/s < required {require_qps:g} req/s")
    if max_cost_usd_per_hour is not None and cost > max_cost_usd_per_hour * (1 + 1e-9):
        out.append(f"the plan costs ${cost:,.2f}/h > limit ${max_cost_usd_per_hour:g}/h")
    per_m = plan.cost.usd_per_million_tokens
    if max_usd_per_million_tokens is not None and (per_m is None or per_m > max_usd_per_million_tokens * (1 + 1e-9)):
        got = "no tokens" if per_m is None else f"${per_m:,.4f}"
        out.append(f"the plan costs {got} per million tokens > limit ${max_usd_per_million_tokens:g}")
    if require_optimal and plan.status != "optimal":
        out.append(f"the plan is not proven optimal (MIP gap {plan.mip_gap:.3%})")
    return out


@dataclass
class Change:
    measure: str
    old: float | None
    new: float | None
    relative: float | None  # (new - old) / old
    worse: bool  # in the direction a regression goes (less throughput, more cost)


@dataclass
class PlanDiff:
    changes: list[Change]
    pools_added: list[str] = field(default_factory=list)  # "<model>/<gpu>:tp<t>:<role> x<n>"
    pools_removed: list[str] = field(default_factory=list)
    pools_resized: list[str] = field(default_factory=list)  # "... x<old> -> x<new>"
    inputs_changed: list[str] = field(default_factory=list)
    status: tuple[str, str] = ("", "")

    def regressions(self, tolerance: float) -> list[str]:
        out = [
            f"{c.measure} {_fmt(c.old)} -> {_fmt(c.new)} ({c.relative:+.1%})"
            for c in self.changes
            if c.worse and c.relative is not None and abs(c.relative) > tolerance
        ]
        if self.status == ("optimal", "feasible"):
            out.append("the plan is no longer proven optimal")
        return out


def _fmt(x: float | None) -> str:
    return "-" if x is None else f"{x:,.4g}"


def _input(x) -> str:
    """An input as the user wrote it: 'none' for unset, 2000 rather than 2000.0."""
    if x is None:
        return "none"
    if isinstance(x, float):
        return f"{x:g}"
    return str(x)


def _pools(plan: Plan) -> dict[str, int]:
    return {f"{p.model}/{p.gpu}:tp{p.tp}:{p.role}": p.instances for p in plan.pools}


def diff_plans(old: Plan, new: Plan) -> PlanDiff:
    measures = [
        ("throughput req/s", old.throughput.requests_per_s, new.throughput.requests_per_s, -1),
        ("output tok/s", old.throughput.output_tokens_per_s, new.throughput.output_tokens_per_s, -1),
        ("cost USD/h", old.cost.usd_per_hour, new.cost.usd_per_hour, +1),
        ("USD per million output tokens", old.cost.usd_per_million_output_tokens, new.cost.usd_per_million_output_tokens, +1),
        ("USD per million tokens (input + output)", old.cost.usd_per_million_tokens, new.cost.usd_per_million_tokens, +1),
        ("GPUs in use", sum(g.used for g in old.gpus), sum(g.used for g in new.gpus), 0),
        ("GPUs bought", sum(g.bought for g in old.gpus), sum(g.bought for g in new.gpus), +1),
    ]
    changes = []
    for name, a, b, bad in measures:
        rel = None if a is None or b is None or a == 0 else (b - a) / abs(a)
        if a == 0 and b:
            rel = float("inf")
        worse = a is not None and b is not None and bad != 0 and (b - a) * bad > 0
        changes.append(Change(name, a, b, rel, worse))
    po, pn = _pools(old), _pools(new)
    d = PlanDiff(changes=changes, status=(old.status, new.status))
    d.pools_added = [f"{k} x{pn[k]}" for k in pn if k not in po]
    d.pools_removed = [f"{k} x{po[k]}" for k in po if k not in pn]
    d.pools_resized = [f"{k} x{po[k]} -> x{pn[k]}" for k in pn if k in po and po[k] != pn[k]]
    for name in ("fleet", "workload", "model", "objective", "qps_target", "ttft_slo_ms", "tpot_slo_ms", "digest_sha256"):
        a, b = getattr(old.inputs, name), getattr(new.inputs, name)
        if a != b:
            d.inputs_changed.append("input files (digest)" if name == "digest_sha256" else f"{name}: {_input(a)} -> {_input(b)}")
    return d
