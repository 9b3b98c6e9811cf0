"""The optimisation model: a MILP built from named families of constraints.

Following the linopy/PyPSA habit, each family is added by one `define_*` function and every
constraint has a domain name (`gpus:h100-sxm`, `busy:a100-80-sxm:tp4:decode`,
`demand:prefill:chat`), under which results read slacks and duals.

Sets: configurations j = (GPU type g, TP degree t, role), request classes k with shares π_k.
Variables: n_j integer instances; x_jk ≥ 0 requests/s of class k served by j; λ ≥ 0 total rate.

    gpus:g             Σ_j∈g t_j n_j ≤ GPUs of type g
    busy:j             Σ_k x_jk / cap_jk ≤ n_j           (an instance's time is shared)
    demand:prefill:k   Σ_{j prefill or colocated} x_jk ≥ π_k λ
    demand:decode:k    Σ_{j decode or colocated} x_jk ≥ π_k λ
    handoff:k          Σ_{j prefill} x_jk = Σ_{j decode} x_jk   (every disaggregated prefill
                                                                  is decoded elsewhere)
    kv-egress:g        KV bytes/s leaving g's prefill pools ≤ NIC bandwidth of their GPUs
    kv-ingress:g       KV bytes/s entering g's decode pools ≤ NIC bandwidth of their GPUs
    target             λ = QPS target (min-cost)

Objectives: max λ (max-throughput), min Σ price·GPUs (min-cost), max λ/cost
(max-tokens-per-dollar, by Dinkelbach's method), each followed by a deterministic tie-break.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulp

from planner.perf.capacity import CapacityTable, Config
from planner.problem import Problem

GBIT = 1e9 / 8  # bytes/s in one Gb/s


@dataclass
class Milp:
    prob: pulp.LpProblem
    configs: list[Config]
    lam: pulp.LpVariable
    n: dict[str, pulp.LpVariable] = field(default_factory=dict)
    x: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)
    constraints: dict[str, pulp.LpConstraint] = field(default_factory=dict)
    cost_expr: pulp.LpAffineExpression | None = None

    def add(self, name: str, expr) -> pulp.LpConstraint:
        c = self.prob.addConstraint(expr, name)
        self.constraints[name] = c
        return c


def build_milp(problem: Problem, table: CapacityTable, roles: set[str] | None = None) -> Milp:
    """The MILP without an objective (see `planner.optimize.solve`)."""
    configs = [
        c
        for c in table.usable(problem)
        if (roles is None or c.role in roles) and any(cap.rate_per_s > 0 for cap in c.caps.values())
    ]
    configs = prune_dominated(configs)
    prob = pulp.LpProblem("planner", pulp.LpMaximize)
    m = Milp(prob=prob, configs=configs, lam=prob.add_variable("lambda", 0))
    define_instances(m, problem)
    define_gpu_limits(m, problem)
    define_busy_time(m, problem)
    define_demand(m, problem)
    define_kv_network(m, problem)
    return m


def prune_dominated(configs: list[Config]) -> list[Config]:
    """Drop configurations another one beats exactly.

    A TP-b instance of some GPU type and role is dominated by TP-a (a divides b) when b/a TP-a
    instances serve at least as much of every class: they use the same GPUs, the same NICs and
    meet the same SLOs (capacities already include them), so any plan with the TP-b instance
    has an equal-or-better twin without it. Fewer integer variables, same optimum.
    """
    keep = []
    for c in configs:
        dominated = any(
            o.gpu_id == c.gpu_id
            and o.role == c.role
            and o.tp < c.tp
            and c.tp % o.tp == 0
            and all(o.caps[k].rate_per_s * (c.tp // o.tp) >= c.caps[k].rate_per_s for k in c.caps)
            for o in configs
        )
        if not dominated:
            keep.append(c)
    return keep


def define_instances(m: Milp, problem: Problem) -> None:
    counts = {e.gpu.id: e.count for e in problem.entries}
    for c in m.configs:
        m.n[c.key] = m.prob.add_variable(f"n[{c.key}]", 0, counts[c.gpu_id] // c.tp, cat="Integer")
        for k in problem.classes:
            if c.caps[k.name].rate_per_s > 0:
                m.x[c.key, k.name] = m.prob.add_variable(f"x[{c.key},{k.name}]", 0)


def define_gpu_limits(m: Milp, problem: Problem) -> None:
    for e in problem.entries:
        terms = [c.tp * m.n[c.key] for c in m.configs if c.gpu_id == e.gpu.id]
        if terms:
            m.add(f"gpus:{e.gpu.id}", pulp.lpSum(terms) <= e.count)


def define_busy_time(m: Milp, problem: Problem) -> None:
    for c in m.configs:
        terms = [
            (1.0 / c.caps[k.name].rate_per_s) * m.x[c.key, k.name]
            for k in problem.classes
            if (c.key, k.name) in m.x
        ]
        m.add(f"busy:{c.key}", pulp.lpSum(terms) - m.n[c.key] <= 0)


def _served(m: Milp, k: str, roles: tuple[str, ...]) -> list:
    return [m.x[c.key, k] for c in m.configs if c.role in roles and (c.key, k) in m.x]


def define_demand(m: Milp, problem: Problem) -> None:
    for k in problem.classes:
        m.add(f"demand:prefill:{k.name}", pulp.lpSum(_served(m, k.name, ("prefill", "colocated"))) - k.share * m.lam >= 0)
        m.add(f"demand:decode:{k.name}", pulp.lpSum(_served(m, k.name, ("decode", "colocated"))) - k.share * m.lam >= 0)
        pre, dec = _served(m, k.name, ("prefill",)), _served(m, k.name, ("decode",))
        if pre or dec:
            m.add(f"handoff:{k.name}", pulp.lpSum(pre) - pulp.lpSum(dec) == 0)


def define_kv_network(m: Milp, problem: Problem) -> None:
    """Per GPU type, KV bytes/s through the NICs of its prefill (egress) and decode (ingress)
    pools, in GB/s, within the pools' aggregate NIC bandwidth."""
    kv_gb = {k.name: k.prompt_tokens * problem.model.kv_bytes_per_token(problem.kv_dtype) / 1e9 for k in problem.classes}
    for e in problem.entries:
        nic_gb_s = e.gpu.network_gbit_s * GBIT / 1e9
        for role, family in (("prefill", "kv-egress"), ("decode", "kv-ingress")):
            pools = [c for c in m.configs if c.gpu_id == e.gpu.id and c.role == role]
            if not pools:
                continue
            flow = pulp.lpSum(kv_gb[k] * m.x[c.key, k] for c in pools for k in kv_gb if (c.key, k) in m.x)
            capacity = pulp.lpSum(nic_gb_s * c.tp * m.n[c.key] for c in pools)
            m.add(f"{family}:{e.gpu.id}", flow - capacity <= 0)


def cost_expression(m: Milp, problem: Problem) -> pulp.LpAffineExpression:
    price = {e.gpu.id: e.price_usd_per_hour for e in problem.entries}
    return pulp.lpSum(price[c.gpu_id] * c.tp * m.n[c.key] for c in m.configs)


def tie_break_expression(m: Milp) -> pulp.LpAffineExpression:
    """A fixed preference among otherwise equal plans: instances of earlier configurations
    (fleet order, smaller TP, prefill before decode before colocated). Integer weights: two
    distinct plans differ by at least 1, far above any solver tolerance."""
    return pulp.lpSum((i + 1) * m.n[c.key] for i, c in enumerate(m.configs))


def flow_tie_break_expression(m: Milp) -> pulp.LpAffineExpression:
    """With the pools fixed, one canonical split of traffic: less on later (config, class)."""
    return pulp.lpSum((i + 1) * m.x[key] for i, key in enumerate(sorted(m.x)))
