"""The optimisation model: a MILP built from named families of constraints.

Following the linopy/PyPSA habit, each family is added by one `define_*` function and every
constraint has a domain name (`gpus:h100-sxm`, `busy:a100-80-sxm:tp4:decode`,
`demand:prefill:chat`), under which results read slacks and duals.

Sets: configurations j = (GPU type g, TP degree t, role), request classes k with shares π_k.
Variables: n_j integer instances; x_jk ≥ 0 requests/s of class k served by j; f_ghk ≥ 0
requests/s of class k handed from prefill type g to decode type h; λ ≥ 0 total rate.

    gpus:g             Σ_j∈g t_j n_j ≤ GPUs of type g
    busy:j             Σ_k x_jk / cap_jk ≤ n_j           (an instance's time is shared)
    demand:prefill:k   Σ_{j prefill or colocated} x_jk ≥ π_k λ
    demand:decode:k    Σ_{j decode or colocated} x_jk ≥ π_k λ
    kv-out:g:k         Σ_h f_ghk = Σ_{j prefill on g} x_jk     (every disaggregated prefill is
    kv-in:h:k          Σ_g f_ghk = Σ_{j decode on h} x_jk       handed to a decode pool)
    kv-egress:g        KV bytes/s leaving g's prefill pools ≤ NIC bandwidth of their GPUs
    kv-ingress:h       KV bytes/s entering h's decode pools ≤ NIC bandwidth of their GPUs
    link:a->b          KV bytes/s from zone a to zone b ≤ the link's bandwidth (each direction)
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
    f: dict[tuple[str, str, str], pulp.LpVariable] = field(default_factory=dict)  # KV handoffs g -> h, class
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
    define_kv_flows(m, problem)
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
            and o.served == c.served
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
            if k.name in c.caps and c.caps[k.name].rate_per_s > 0:  # its own model's classes
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


def kv_gb_per_request(problem: Problem, sender_kv_dtype: str, k) -> float:
    """GB of KV cache one request of class k hands over: the wire carries the sender's dtype
    (the receiver converts when it stores another)."""
    return k.prompt_tokens * problem.served_of(k).model.kv_bytes_per_token(sender_kv_dtype) / 1e9


def sender_kv_dtype(problem: Problem, gpu_id: str, k) -> str:
    return problem.served_of(k).kv_dtype_on(problem.entry(gpu_id))


def define_kv_flows(m: Milp, problem: Problem) -> None:
    """KV-cache handoffs from prefill GPU types to decode GPU types, and the network they cross.

    f[g,h,k] requests/s of class k prefilled on type g and decoded on type h. Every
    disaggregated prefill is handed to some decode pool (`kv-out`), every decode pool receives
    what it decodes (`kv-in`); the bytes go through the NICs of the sending prefill pools
    (`kv-egress`) and receiving decode pools (`kv-ingress`), and between zones through the
    zones' link (`link:<a>-><b>`, each direction). A pairing without a path (zones not linked)
    or with a KV-dtype conversion the workload forbids gets no variable.
    """
    entry = {e.gpu.id: e for e in problem.entries}
    pre = sorted({c.gpu_id for c in m.configs if c.role == "prefill"}, key=list(entry).index)
    dec = sorted({c.gpu_id for c in m.configs if c.role == "decode"}, key=list(entry).index)
    for g in pre:
        for h in dec:
            eg, eh = entry[g], entry[h]
            if eg.zone != eh.zone and problem.link_gbit_s(eg.zone, eh.zone) is None:
                continue
            for k in problem.classes:
                served = problem.served_of(k)
                if served.kv_dtype_on(eg) != served.kv_dtype_on(eh) and served.kv_conversion == "forbid":
                    continue
                m.f[g, h, k.name] = m.prob.add_variable(f"f[{g},{h},{k.name}]", 0)
    for k in problem.classes:
        for g in pre:
            sent = [m.f[g, h, k.name] for h in dec if (g, h, k.name) in m.f]
            m.add(f"kv-out:{g}:{k.name}", pulp.lpSum(sent) - pulp.lpSum(_pools_x(m, g, "prefill", k.name)) == 0)
        for h in dec:
            got = [m.f[g, h, k.name] for g in pre if (g, h, k.name) in m.f]
            m.add(f"kv-in:{h}:{k.name}", pulp.lpSum(got) - pulp.lpSum(_pools_x(m, h, "decode", k.name)) == 0)
    by_class = {k.name: k for k in problem.classes}

    def gb(g: str, k: str) -> float:
        return kv_gb_per_request(problem, sender_kv_dtype(problem, g, by_class[k]), by_class[k])

    for gpu_id, role, family in [(g, "prefill", "kv-egress") for g in pre] + [(h, "decode", "kv-ingress") for h in dec]:
        nic_gb_s = entry[gpu_id].gpu.network_gbit_s * GBIT / 1e9
        index = 0 if role == "prefill" else 1
        flow = pulp.lpSum(gb(key[0], key[2]) * v for key, v in m.f.items() if key[index] == gpu_id)
        capacity = pulp.lpSum(nic_gb_s * c.tp * m.n[c.key] for c in m.configs if c.gpu_id == gpu_id and c.role == role)
        m.add(f"{family}:{gpu_id}", flow - capacity <= 0)
    for a, b, gbit_s in problem.links_gbit_s:
        for src, dst in ((a, b), (b, a)):
            flow = [gb(key[0], key[2]) * v for key, v in m.f.items() if entry[key[0]].zone == src and entry[key[1]].zone == dst]
            if flow:
                m.add(f"link:{src}->{dst}", pulp.lpSum(flow) <= gbit_s * GBIT / 1e9)


def _pools_x(m: Milp, gpu_id: str, role: str, k: str) -> list:
    return [m.x[c.key, k] for c in m.configs if c.gpu_id == gpu_id and c.role == role and (c.key, k) in m.x]


def cost_expression(m: Milp, problem: Problem) -> pulp.LpAffineExpression:
    price = {e.gpu.id: e.price_usd_per_hour for e in problem.entries}
    return pulp.lpSum(price[c.gpu_id] * c.tp * m.n[c.key] for c in m.configs)


def tie_break_expression(m: Milp) -> pulp.LpAffineExpression:
    """A fixed preference among otherwise equal plans: instances of earlier configurations
    (fleet order, smaller TP, prefill before decode before colocated). Integer weights: two
    distinct plans differ by at least 1, far above any solver tolerance."""
    return pulp.lpSum((i + 1) * m.n[c.key] for i, c in enumerate(m.configs))


def flow_tie_break_expression(m: Milp) -> pulp.LpAffineExpression:
    """With the pools fixed, one canonical split of traffic and of KV handoffs: less on later
    (config, class) and later (prefill type, decode type, class)."""
    terms = [(i + 1) * m.x[key] for i, key in enumerate(sorted(m.x))]
    terms += [(i + 1) * m.f[key] for i, key in enumerate(sorted(m.f))]
    return pulp.lpSum(terms)
