"""The optimisation model: a MILP built from named families of constraints.

Following the linopy/PyPSA habit, each family is added by one `define_*` function and every
constraint has a domain name (`gpus:h100-sxm`, `busy:a100-80-sxm:tp4:decode`,
`demand:prefill:chat`), under which results read slacks and duals.

Sets: configurations j = (GPU type g, TP degree t, role), request classes k with shares π_k.
Variables: n_j integer instances; x_jk ≥ 0 requests/s of class k served by j; F_abdk ≥ 0
requests/s of class k handed from zone a to zone b with KV dtype d on the wire; L_gk ≥ 0
requests/s of class k handed from type g's prefill to its decode instances in the same node, over
the scale-up fabric (NVLink; PCIe on cards without it); λ ≥ 0.

    gpus:g             Σ_j∈g t_j n_j ≤ GPUs of type g owned + b_g bought (purchase mode)
    busy:j             Σ_k x_jk / cap_jk ≤ n_j           (an instance's time is shared)
    demand:prefill:k   Σ_{j prefill or colocated} x_jk ≥ π_k λ
    demand:decode:k    Σ_{j decode or colocated} x_jk ≥ π_k λ
    kv-out:a:d:k       Σ_b F_abdk + Σ_g∈a,d L_gk = Σ_{j prefill in zone a, KV dtype d} x_jk
    kv-in:b:k          Σ_a,d F_abdk + Σ_g∈b L_gk = Σ_{j decode in zone b} x_jk  (every disaggregated
                       prefill is handed over, over the network or inside a node)
    local-out:g:k      L_gk ≤ Σ_{j prefill of type g} x_jk  (node-local handoffs: prefill and decode
    local-in:g:k       L_gk ≤ Σ_{j decode of type g} x_jk    instances of one type in one node)
    kv-egress:g        KV bytes/s leaving type g's prefill pools over the network ≤ their NICs
    kv-ingress:h       KV bytes/s entering type h's decode pools over the network ≤ their NICs
    link:a->b          KV bytes/s from zone a to zone b ≤ the link's bandwidth (each direction)
    bought:g           GPUs bought of type g ≤ GPUs of type g in use (purchase mode)
    budget             cost ≤ the budget (USD/h)
    target             λ = QPS target (min-cost)

Objectives: max λ (max-throughput), min Σ price·GPUs (min-cost), max λ/cost
(max-tokens-per-dollar, by Dinkelbach's method), each followed by a deterministic tie-break.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulp

from planner.catalog.types import DTYPE_BYTES
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
    f: dict[tuple[str, str, str, str], pulp.LpVariable] = field(default_factory=dict)  # KV handoffs (zone, zone, dtype, class)
    b: dict[str, pulp.LpVariable] = field(default_factory=dict)  # GPUs bought, by type (purchase mode)
    k: dict[str, pulp.LpVariable] = field(default_factory=dict)  # whole nodes bought, by type (b = node size x k)
    o: dict[str, pulp.LpVariable] = field(default_factory=dict)  # owned GPUs in use, where whole nodes are bought
    local: dict[tuple[str, str], pulp.LpVariable] = field(default_factory=dict)  # node-local handoffs (GPU type, class)
    constraints: dict[str, pulp.LpConstraint] = field(default_factory=dict)

    def add(self, name: str, expr) -> pulp.LpConstraint:
        c = self.prob.addConstraint(expr, name)
        self.constraints[name] = c
        return c


def build_milp(problem: Problem, table: CapacityTable, roles: set[str] | None = None) -> Milp:
    """The MILP without an objective (see `planner.optimize.solve`)."""
    configs = [
        c
        for c in table.usable(problem)
        if (roles is None or c.role in roles)
        and c.role in problem.roles
        and any(cap.rate_per_s > 0 for cap in c.caps.values())
    ]
    configs = prune_dominated(configs)
    prob = pulp.LpProblem("planner", pulp.LpMaximize)
    m = Milp(prob=prob, configs=configs, lam=prob.add_variable("lambda", 0))
    define_instances(m, problem)
    define_gpu_limits(m, problem)
    define_busy_time(m, problem)
    define_demand(m, problem)
    define_kv_flows(m, problem)
    define_budget(m, problem)
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
    counts = {e.gpu.id: e.max_count for e in problem.entries}
    for c in m.configs:
        m.n[c.key] = m.prob.add_variable(f"n[{c.key}]", 0, counts[c.gpu_id] // c.tp, cat="Integer")
        for k in problem.classes:
            if k.name in c.caps and c.caps[k.name].rate_per_s > 0:  # its own model's classes
                m.x[c.key, k.name] = m.prob.add_variable(f"x[{c.key},{k.name}]", 0)


def define_gpu_limits(m: Milp, problem: Problem) -> None:
    """GPUs in use ≤ owned + bought; in purchase mode b_g (integer) GPUs of type g are bought,
    at most the fleet's limit, and only to be used (`bought:g`)."""
    for e in problem.entries:
        terms = [c.tp * m.n[c.key] for c in m.configs if c.gpu_id == e.gpu.id]
        if not terms:
            continue
        if e.buy_max > 0 and e.buy_whole_nodes:
            # `nodes:g`: b_g = node size x k_g whole nodes; `bought:g`: a node is bought only when
            # some of it is used; `owned-used:g`: o_g ≥ GPUs in use beyond those bought (priced
            # at the owned price; the bought ones are all paid, the idle rest of a node included)
            size = e.gpu.gpus_per_node
            k = m.k[e.gpu.id] = m.prob.add_variable(f"k[{e.gpu.id}]", 0, e.buy_max // size, cat="Integer")
            b = m.b[e.gpu.id] = m.prob.add_variable(f"b[{e.gpu.id}]", 0, e.buy_max)
            o = m.o[e.gpu.id] = m.prob.add_variable(f"o[{e.gpu.id}]", 0, e.count)
            m.add(f"nodes:{e.gpu.id}", b - size * k == 0)
            m.add(f"gpus:{e.gpu.id}", pulp.lpSum(terms) - b <= e.count)
            m.add(f"bought:{e.gpu.id}", b - pulp.lpSum(terms) <= size - 1)
            m.add(f"owned-used:{e.gpu.id}", pulp.lpSum(terms) - b - o <= 0)
        elif e.buy_max > 0:
            b = m.b[e.gpu.id] = m.prob.add_variable(f"b[{e.gpu.id}]", 0, e.buy_max, cat="Integer")
            m.add(f"gpus:{e.gpu.id}", pulp.lpSum(terms) - b <= e.count)
            m.add(f"bought:{e.gpu.id}", b - pulp.lpSum(terms) <= 0)
        else:
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


def define_kv_flows(m: Milp, problem: Problem) -> None:
    """KV-cache handoffs from prefill pools to decode pools, and the network they cross.

    Handoffs are aggregated by zone and by the KV dtype on the wire (the sender's): F[a,b,d,k]
    requests/s of class k prefilled in zone a with KV dtype d and decoded in zone b. Zones that
    are not linked get no variable; a workload that forbids KV-dtype conversion only hands to
    decode pools of the same dtype. Every disaggregated prefill is handed over (`kv-out`), every
    decode pool receives what it decodes (`kv-in`); bytes go through the NICs of the sending
    prefill pools (`kv-egress`, at the sender's dtype) and of the receiving decode pools
    (`kv-ingress`: at the widest dtype a sender of that model stores, exact when the fleet stores
    one dtype), and between zones through the zones' link (`link:<a>-><b>`, each direction).
    Aggregating by zone instead of GPU-type pairs keeps the model small (zones² x dtypes x
    classes variables) with the same limits.
    """
    entry = {e.gpu.id: e for e in problem.entries}
    zones = list(dict.fromkeys(e.zone for e in problem.entries))
    by_class = {k.name: k for k in problem.classes}

    def dtype(c: Config) -> str:
        return problem.served_by_name(c.served).kv_dtype_on(entry[c.gpu_id])

    prefill: dict[tuple[str, str, str], list] = {}
    decode: dict[tuple[str, str, str], list] = {}
    for c in m.configs:
        target = prefill if c.role == "prefill" else decode if c.role == "decode" else None
        if target is None:
            continue
        for k in problem.classes:
            if (c.key, k.name) in m.x:
                target.setdefault((entry[c.gpu_id].zone, dtype(c), k.name), []).append(m.x[c.key, k.name])
    for (za, d, k) in prefill:
        forbid = problem.served_of(by_class[k]).kv_conversion == "forbid"
        for zb in zones:
            if za != zb and problem.link_gbit_s(za, zb) is None:
                continue
            receivers = [key for key in decode if key[0] == zb and key[2] == k and (key[1] == d or not forbid)]
            if receivers:
                m.f[za, zb, d, k] = m.prob.add_variable(f"F[{za},{zb},{d},{k}]", 0)
    _define_local_handoffs(m, problem)
    local_zone = {g: entry[g].zone for g, _ in m.local}
    local_dtype = {g: problem.served_of(by_class[k]).kv_dtype_on(entry[g]) for g, k in m.local}
    for (za, d, k), xs in prefill.items():
        sent = [v for key, v in m.f.items() if key[0] == za and key[2] == d and key[3] == k]
        sent += [v for (g, kk), v in m.local.items() if kk == k and local_zone[g] == za and local_dtype[g] == d]
        m.add(f"kv-out:{za}:{d}:{k}", pulp.lpSum(sent) - pulp.lpSum(xs) == 0)
    for zb in zones:
        for k in problem.classes:
            forbid = problem.served_of(k).kv_conversion == "forbid"
            groups = sorted({key[1] for key in decode if key[0] == zb and key[2] == k.name}) if forbid else [None]
            for d in groups:
                xs = [x for key, v in decode.items() if key[0] == zb and key[2] == k.name and d in (None, key[1]) for x in v]
                if not xs:
                    continue
                got = [v for key, v in m.f.items() if key[1] == zb and key[3] == k.name and d in (None, key[2])]
                got += [
                    v for (g, kk), v in m.local.items() if kk == k.name and local_zone[g] == zb and d in (None, local_dtype[g])
                ]
                name = f"kv-in:{zb}:{k.name}" if d is None else f"kv-in:{zb}:{d}:{k.name}"
                m.add(name, pulp.lpSum(got) - pulp.lpSum(xs) == 0)
    def dtype_of(gpu_id: str, k: str) -> str:
        return problem.served_of(by_class[k]).kv_dtype_on(entry[gpu_id])

    widest = {
        s.name: max((DTYPE_BYTES[s.kv_dtype_on(e)] for e in problem.entries), default=2.0) for s in problem.served
    }

    def gb(k: str, d: str) -> float:
        return kv_gb_per_request(problem, d, by_class[k])

    for e in problem.entries:
        nic_gb_s = e.gpu.network_gbit_s * GBIT / 1e9
        for role, family in (("prefill", "kv-egress"), ("decode", "kv-ingress")):
            pools = [c for c in m.configs if c.gpu_id == e.gpu.id and c.role == role]
            terms = []
            for c in pools:
                for k in problem.classes:
                    if (c.key, k.name) not in m.x:
                        continue
                    if role == "prefill":
                        per_request = gb(k.name, dtype(c))
                    else:
                        per_request = gb(k.name, "bf16") * widest[k.served] / 2.0
                    terms.append(per_request * m.x[c.key, k.name])
            for (g, k), v in m.local.items():  # handed over inside a node: not through the NICs
                if g == e.gpu.id:
                    per_request = gb(k, dtype_of(g, k)) if role == "prefill" else gb(k, "bf16") * widest[by_class[k].served] / 2.0
                    terms.append(-per_request * v)
            if terms:
                capacity = pulp.lpSum(nic_gb_s * c.tp * m.n[c.key] for c in pools)
                m.add(f"{family}:{e.gpu.id}", pulp.lpSum(terms) - capacity <= 0)
    for a, b, gbit_s in problem.links_gbit_s:
        for src, dst in ((a, b), (b, a)):
            flow = [gb(key[3], key[2]) * v for key, v in m.f.items() if key[0] == src and key[1] == dst]
            if flow:
                m.add(f"link:{src}->{dst}", pulp.lpSum(flow) <= gbit_s * GBIT / 1e9)


def _define_local_handoffs(m: Milp, problem: Problem) -> None:
    """L_gk: handoffs from type g's prefill instances to its decode instances in the same node,
    over the node's scale-up fabric instead of the NICs. Only pools whose TP degree leaves room in
    a node for the smallest instance of the other role take part; the plan assumes each type's
    prefill and decode instances are placed together in its nodes (in the plan's ratio) as far as
    these handoffs need. Prefill capacities keep the NIC transfer time in their TTFT (conservative)."""
    for e in problem.entries:
        g, node = e.gpu.id, e.gpu.gpus_per_node
        pre = [c for c in m.configs if c.gpu_id == g and c.role == "prefill"]
        dec = [c for c in m.configs if c.gpu_id == g and c.role == "decode"]
        if not pre or not dec:
            continue
        for k in problem.classes:
            p = [c for c in pre if (c.key, k.name) in m.x]
            d = [c for c in dec if (c.key, k.name) in m.x]
            if not p or not d:
                continue
            p_ok = [m.x[c.key, k.name] for c in p if c.tp + min(o.tp for o in d) <= node]
            d_ok = [m.x[c.key, k.name] for c in d if c.tp + min(o.tp for o in p) <= node]
            if not p_ok or not d_ok:
                continue
            v = m.local[g, k.name] = m.prob.add_variable(f"L[{g},{k.name}]", 0)
            m.add(f"local-out:{g}:{k.name}", v - pulp.lpSum(p_ok) <= 0)
            m.add(f"local-in:{g}:{k.name}", v - pulp.lpSum(d_ok) <= 0)


def define_budget(m: Milp, problem: Problem) -> None:
    """`budget`: the plan's cost (USD/h of GPUs in use and bought) within the budget."""
    if problem.budget_usd_per_hour is not None:
        m.add("budget", cost_expression(m, problem) <= problem.budget_usd_per_hour)


def nic_capacity_gb_s(c: pulp.LpConstraint) -> float:
    """NIC capacity (GB/s) of the pools in a kv-egress/kv-ingress constraint at the current
    solution (its instance terms: GB/s per GPU x GPUs in the pools)."""
    return sum(-coef * (v.value() or 0.0) for v, coef in c.items() if v.name.startswith("n["))


def nic_flow_gb_s(c: pulp.LpConstraint) -> float:
    """KV GB/s through the NICs of a kv-egress/kv-ingress constraint at the current solution:
    the pools' handoffs less those kept inside nodes."""
    return sum(coef * (v.value() or 0.0) for v, coef in c.items() if not v.name.startswith("n["))


def _pools_x(m: Milp, gpu_id: str, role: str, k: str) -> list:
    return [m.x[c.key, k] for c in m.configs if c.gpu_id == gpu_id and c.role == role and (c.key, k) in m.x]


def cost_expression(m: Milp, problem: Problem) -> pulp.LpAffineExpression:
    """USD/h of the GPUs in use: owned ones at their price, bought ones at the purchase price
    (Σ price·GPUs in use + Σ (purchase price - price)·bought)."""
    price = {e.gpu.id: e.price_usd_per_hour for e in problem.entries}
    terms = [price[c.gpu_id] * c.tp * m.n[c.key] for c in m.configs if c.gpu_id not in m.o]
    for e in problem.entries:
        if e.gpu.id in m.o:  # whole nodes: every bought GPU paid, owned ones in use at their price
            terms += [e.buy_price_usd_per_hour * m.b[e.gpu.id], e.price_usd_per_hour * m.o[e.gpu.id]]
        elif e.gpu.id in m.b:
            terms.append((e.buy_price_usd_per_hour - e.price_usd_per_hour) * m.b[e.gpu.id])
    return pulp.lpSum(terms)


def tie_break_expression(m: Milp) -> pulp.LpAffineExpression:
    """A fixed preference among otherwise equal plans: instances of earlier configurations
    (fleet order, smaller TP, prefill before decode before colocated). Integer weights: two
    distinct plans differ by at least 1, far above any solver tolerance."""
    return pulp.lpSum((i + 1) * m.n[c.key] for i, c in enumerate(m.configs))


def flow_tie_break_expression(m: Milp) -> pulp.LpAffineExpression:
    """With the pools fixed, one canonical split of traffic and of KV handoffs: less on later
    (config, class) and later (zone, zone, dtype, class); as many handoffs inside nodes as the
    pools allow (off the NICs)."""
    terms = [(i + 1) * m.x[key] for i, key in enumerate(sorted(m.x))]
    terms += [(i + 1) * m.f[key] for i, key in enumerate(sorted(m.f))]
    terms += [-(len(m.local) + 1 - i) * m.local[key] for i, key in enumerate(sorted(m.local))]
    return pulp.lpSum(terms)
