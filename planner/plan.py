"""The plan: the versioned output schema, and its construction from a solution.

Everything a report or a JSON consumer needs is here, in domain units. `metadata` (solver
name, version, timings) is the only part that may differ between two runs on the same inputs.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Literal

from pydantic import BaseModel, ConfigDict

from planner import __version__
from planner.optimize.milp import nic_capacity_gb_s, nic_flow_gb_s
from planner.optimize.scenarios import Marginal, Outcome
from planner.optimize.solve import Solution
from planner.perf.capacity import CapacityTable, Config, batch_quantile, mixed_latency
from planner.perf.queueing import wait_quantile_ms
from planner.problem import Problem

SCHEMA_VERSION = "1.4"
SIG = 6  # significant digits of every float in the JSON: stable across solvers and platforms


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Inputs(_Out):
    fleet: str
    workload: str
    digest_sha256: str
    model: str
    weight_dtype: str
    kv_dtype: str
    objective: str
    qps_target: float | None
    ttft_slo_ms: float | None
    tpot_slo_ms: float | None
    slo_percentile: float | None


class Throughput(_Out):
    requests_per_s: float
    input_tokens_per_s: float
    output_tokens_per_s: float


class ModelThroughput(_Out):
    """One served model's share of the plan (several models can share a fleet)."""

    name: str
    model: str
    qps_target: float | None
    requests_per_s: float
    input_tokens_per_s: float
    output_tokens_per_s: float
    gpus: int


class Cost(_Out):
    usd_per_hour: float
    owned_usd_per_hour: float
    usd_per_million_output_tokens: float | None
    usd_per_million_tokens: float | None


class EngineUse(_Out):
    """The serving engine a GPU type is planned for, and where its performance profile comes from."""

    engine: str  # vllm | sglang | trtllm | vllm-2023
    versions: str  # the versions the profile describes (and the fleet's, if it named one)
    profile_family: str  # the GPU family whose profile is used
    fitted_on: str  # the family whose measured rows were fitted (differs when borrowed)
    borrowed: bool
    measured_points: int  # rows the fit rests on
    measured_error: dict[str, dict[str, dict[str, float]]]  # {fitted|held_out: {metric: {median_abs, p90_abs}}}
    source: str
    memory_rule: str  # "total" | "free": what the memory fraction is a share of
    memory_fraction: float
    memory_flag: str
    max_num_seqs: int
    max_batched_tokens: int
    scheduler: str


class GpuUse(_Out):
    gpu: str
    owned: int
    used: int
    price_usd_per_hour: float
    price_source: str
    efficiency_source: str
    engine: EngineUse | None = None
    bought: int = 0  # purchase mode: GPUs the plan buys or rents beyond those owned
    buy_limit: int | None = None  # the most that may be bought (None: not in purchase mode)
    buy_price_usd_per_hour: float | None = None
    buy_price_source: str | None = None  # e.g. "$30,000 over 4 y = $0.856/h + 0.7 kW x $0.1/kWh = ..."
    buy_node_gpus: int | None = None  # (1.4) bought in whole nodes of this many GPUs (None: single GPUs)


class PoolClass(_Out):
    request_class: str
    requests_per_s: float
    capacity_per_instance_per_s: float
    batch: int
    prefill_ms: float
    decode_step_ms: float
    predicted_ttft_ms: float | None  # = queueing + prefill + KV transfer (+ one decode step, colocated)
    ttft_queue_ms: float | None
    kv_transfer_ms: float | None
    predicted_tpot_ms: float | None
    capacity_source: str = "model"  # "model", or "measured: <source>" (latency predictions then omitted)


class Pool(_Out):
    model: str  # the workload (model) it serves
    gpu: str
    role: Literal["prefill", "decode", "colocated"]
    tp: int
    instances: int
    gpus: int
    utilisation: float
    classes: list[PoolClass]


class SloEstimate(_Out):
    request_class: str
    ttft_ms: float | None  # the worst pool's; split below into queueing, prefill and KV transfer
    ttft_queue_ms: float | None
    ttft_prefill_ms: float | None
    ttft_transfer_ms: float | None
    ttft_slo_ms: float | None
    tpot_ms: float | None
    tpot_slo_ms: float | None
    met: bool


class KvFlow(_Out):
    """KV caches handed from prefill pools in one zone to decode pools in another (or the same),
    by the dtype on the wire; `nic_use` has the traffic per GPU type."""

    from_zone: str
    to_zone: str
    kv_dtype: str
    requests_per_s: float
    gb_per_s: float
    path: str  # "zone <a>" within one fabric, "link <a>-><b>", or "inside <gpu> nodes (scale-up fabric)"
    link_capacity_gb_per_s: float | None
    share_of_link: float | None


class NicUse(_Out):
    """KV-cache traffic through the NICs of one GPU type's prefill (egress) or decode (ingress) pools."""

    gpu: str
    direction: Literal["egress", "ingress"]
    gb_per_s: float
    capacity_gb_per_s: float
    share_of_capacity: float


class Advantage(_Out):
    model: str  # the workload (model) the capacities are for
    gpu: str
    price_usd_per_hour: float
    prefill_per_gpu_per_s: float
    decode_per_gpu_per_s: float
    colocated_per_gpu_per_s: float
    prefill_to_decode_ratio: float | None
    usd_per_hour_per_prefill_rps: float | None
    usd_per_hour_per_decode_rps: float | None
    best_tp: dict[str, int]


class Baseline(_Out):
    name: str
    feasible: bool
    objective_value: float | None
    requests_per_s: float | None
    cost_usd_per_hour: float | None
    gain_of_plan: float | None  # how much better the plan is, in the objective's terms (0.25 = 25%)
    pools: dict[str, int] | None
    reason: str | None
    proven: bool = True  # (1.3) the re-solve proven optimal (or proven infeasible)
    near_tie: bool = False  # (1.3) a different, simpler plan within NEAR_TIE_REL of the optimum


class MarginalValue(_Out):
    gpu: str
    added_gpus: int
    feasible: bool
    delta_requests_per_s: float | None
    delta_cost_usd_per_hour: float | None
    delta_objective: float | None
    lp_shadow_price: float | None
    proven: bool = True  # (1.3) both the plan and this re-solve proven optimal (else the deltas carry their gaps)
    price_usd_per_hour: float | None = None  # (1.3) what each added GPU costs: owned price, or the purchase price where none is owned


class Binding(_Out):
    constraint: str
    family: str
    meaning: str


class Excluded(_Out):
    gpu: str
    reason: str


class Metadata(_Out):
    planner_version: str
    solver: str
    solver_version: str
    solve_seconds: float
    solves: int
    stages: list[str]


class RoutePool(_Out):
    """(1.4) Where a pool runs: its GPU type's zone and node size (what `planner deploy` places by)."""

    pool: str  # "<model>-<gpu>-<role>-tp<tp>": unique in the plan, a Kubernetes-safe name
    model: str
    gpu: str
    role: Literal["prefill", "decode", "colocated"]
    tp: int
    instances: int
    zone: str
    gpus_per_node: int


class RouteClass(_Out):
    """(1.4) A request class as a router tells it apart: by its model and its token counts."""

    model: str
    request_class: str
    prompt_tokens: int
    output_tokens: int
    share: float  # of its model's requests


class RouteShare(_Out):
    pool: str
    requests_per_s: float
    weight: float  # share of the class's requests in this phase that this pool serves


class Route(_Out):
    """(1.4) For one model, class and phase, the share each pool serves (weights sum to 1).
    Colocated pools appear in both phases with the same weight: they run the whole request."""

    model: str
    request_class: str
    phase: Literal["prefill", "decode"]
    requests_per_s: float
    shares: list[RouteShare]


class RoutePair(_Out):
    """(1.4) KV handoffs of one class from a prefill pool to a decode pool; `weight` is the share
    of the prefill pool's requests of that class sent to this decode pool (sums to 1 per prefill pool)."""

    model: str
    request_class: str
    prefill_pool: str
    decode_pool: str
    requests_per_s: float
    weight: float
    path: str  # as in kv_flows: "zone <a>", "link <a>-><b>", "inside <gpu> nodes (scale-up fabric)"


class Routing(_Out):
    pools: list[RoutePool]
    classes: list[RouteClass]
    routes: list[Route]
    pairs: list[RoutePair]


class Plan(_Out):
    schema_version: str
    inputs: Inputs
    status: Literal["optimal", "feasible"]
    mip_gap: float
    objective_value: float | None  # None: output tokens per USD on free GPUs (unbounded)
    objective_unit: str
    throughput: Throughput
    models: list[ModelThroughput]
    cost: Cost
    gpus: list[GpuUse]
    pools: list[Pool]
    slo_estimates: list[SloEstimate]
    kv_flows: list[KvFlow]
    nic_use: list[NicUse]
    advantage: list[Advantage]
    baselines: list[Baseline]
    marginal_values: list[MarginalValue]
    binding: list[Binding]
    excluded: list[Excluded]
    notes: list[str]
    metadata: Metadata
    routing: Routing | None = None  # (1.4) None in plans written before 1.4


def _r(x: float | None) -> float | None:
    """Round to SIG significant digits (and -0.0 to 0.0); None for what JSON cannot hold."""
    if x is None or not math.isfinite(x):
        return None
    if x == 0:
        return 0.0
    return float(f"{x:.{SIG}g}") + 0.0


def inputs_digest(problem: Problem) -> str:
    """SHA-256 of the resolved inputs (fleet, prices, model, classes, SLOs, target)."""
    doc = {
        "entries": [repr(e) for e in problem.entries],
        "served": [repr(s) for s in problem.served],
        "links": list(problem.links_gbit_s),
        "budget": problem.budget_usd_per_hour,
        "roles": list(problem.roles),
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def objective_unit(objective: str) -> str:
    return {
        "max-throughput": "requests/s",
        "min-cost": "USD/hour",
        "max-tokens-per-dollar": "output tokens per USD",
    }[objective]


def objective_value(objective: str, rate: float, cost: float, problem: Problem) -> float:
    if objective == "min-cost":
        return cost
    if objective == "max-tokens-per-dollar":
        if cost <= 0:
            return math.inf if rate > 0 else 0.0  # free GPUs
        return rate * problem.mean_output_tokens * 3600 / cost
    return rate


def build_plan(
    problem: Problem,
    table: CapacityTable,
    sol: Solution,
    baselines: list[Outcome],
    marginals: list[Marginal],
    shadow: dict[str, float],
) -> Plan:
    by_key = {c.key: c for c in sol.milp.configs}
    pools = [_pool(by_key[key], n, sol, problem) for key, n in sol.instances.items()]
    order = [x.name for x in problem.served]
    pools.sort(key=lambda p: (order.index(p.model), _gpu_order(problem, p.gpu), ("prefill", "decode", "colocated").index(p.role), p.tp))
    rate, cost = sol.rate_per_s, sol.cost_usd_per_hour
    in_tps = rate * problem.mean_prompt_tokens
    out_tps = rate * problem.mean_output_tokens
    owned = sum(e.count * e.price_usd_per_hour for e in problem.entries)
    used = {e.gpu.id: 0 for e in problem.entries}
    for p in pools:
        used[p.gpu] += p.gpus
    obj = objective_value(sol.objective, rate, cost, problem)
    slo = problem.slo
    return Plan(
        schema_version=SCHEMA_VERSION,
        inputs=Inputs(
            fleet=problem.fleet_name,
            workload=problem.workload_name,
            digest_sha256=inputs_digest(problem),
            model=" + ".join(s.model.id for s in problem.served),
            weight_dtype=" + ".join(s.weight_dtype for s in problem.served),
            kv_dtype=" + ".join(s.kv_dtype for s in problem.served),
            objective=sol.objective,
            qps_target=problem.qps_target,
            ttft_slo_ms=slo.ttft_ms if slo else None,
            tpot_slo_ms=slo.tpot_ms if slo else None,
            slo_percentile=slo.percentile if slo else None,
        ),
        status="optimal" if sol.proven_optimal else "feasible",
        mip_gap=0.0 if sol.proven_optimal else _r(sol.gap),  # proven: within the 1e-7 tolerance
        objective_value=_r(obj),
        objective_unit=objective_unit(sol.objective),
        throughput=Throughput(requests_per_s=_r(rate), input_tokens_per_s=_r(in_tps), output_tokens_per_s=_r(out_tps)),
        models=[_model_throughput(s, rate, pools, problem) for s in problem.served],
        cost=Cost(
            usd_per_hour=_r(cost),
            owned_usd_per_hour=_r(owned),
            usd_per_million_output_tokens=_r(cost / (out_tps * 3600) * 1e6) if out_tps > 0 else None,
            usd_per_million_tokens=_r(cost / ((in_tps + out_tps) * 3600) * 1e6) if out_tps > 0 else None,
        ),
        gpus=[
            GpuUse(
                gpu=e.gpu.id,
                owned=e.count,
                used=used[e.gpu.id],
                price_usd_per_hour=_r(e.price_usd_per_hour),
                price_source=e.price_source,
                efficiency_source=e.gpu.efficiency.source,
                engine=engine_use(e.gpu),
                bought=sol.bought.get(e.gpu.id, 0),
                buy_limit=e.buy_max or None,
                buy_price_usd_per_hour=_r(e.buy_price_usd_per_hour) if e.buy_max else None,
                buy_price_source=e.buy_price_source or None,
                buy_node_gpus=e.gpu.gpus_per_node if e.buy_max and e.buy_whole_nodes else None,
            )
            for e in problem.entries
        ],
        pools=pools,
        slo_estimates=_slo_estimates(pools, problem),
        kv_flows=_kv_flows(sol, problem),
        nic_use=_nic_use(sol),
        advantage=advantage_table(problem, table),
        baselines=[_baseline(b, sol, problem) for b in baselines],
        marginal_values=[_marginal(m, sol, problem, shadow) for m in marginals],
        binding=_binding(sol, problem),
        excluded=[Excluded(gpu=g, reason=r) for g, r in table.excluded.items()],
        notes=_notes(problem, table),
        metadata=Metadata(
            planner_version=__version__,
            solver=sol.solver,
            solver_version=sol.solver_version,
            solve_seconds=round(sol.solve_seconds, 4),
            solves=sol.solves,
            stages=sol.stages,
        ),
        routing=_routing(pools, sol, problem),
    )


def _model_throughput(served, rate: float, pools: list[Pool], problem: Problem) -> ModelThroughput:
    mine = [k for k in problem.classes if k.served == served.name]
    return ModelThroughput(
        name=served.name,
        model=served.model.id,
        qps_target=served.qps_target,
        requests_per_s=_r(rate * sum(k.share for k in mine)),
        input_tokens_per_s=_r(rate * sum(k.share * k.prompt_tokens for k in mine)),
        output_tokens_per_s=_r(rate * sum(k.share * k.output_tokens for k in mine)),
        gpus=sum(p.gpus for p in pools if p.model == served.name),
    )


def _gpu_order(problem: Problem, gpu_id: str) -> int:
    return [e.gpu.id for e in problem.entries].index(gpu_id)


def _pool(c: Config, n: int, sol: Solution, problem: Problem) -> Pool:
    mine = [k for k in problem.classes if k.name in c.caps]  # its own model's classes
    busy = sum(sol.flows.get((c.key, k.name), 0.0) / c.caps[k.name].rate_per_s for k in mine if c.caps[k.name].rate_per_s > 0)
    u = min(1.0, busy / n)
    slo = problem.served_by_name(c.served).slo
    pct = slo.percentile if slo else 90.0
    classes = []
    for k in mine:
        cap = c.caps[k.name]
        r = sol.flows.get((c.key, k.name), 0.0)
        if r <= 1e-6 * max(1.0, sol.rate_per_s):
            continue  # solver round-off, not traffic
        ttft = tpot = queue = transfer = None
        has_ttft = slo is not None and slo.ttft_ms is not None
        if c.role == "prefill":
            rho = u * cap.utilisation_cap
            transfer = cap.transfer_ms
            if has_ttft:  # without a TTFT SLO the queue may grow without bound: no prediction
                queue = wait_quantile_ms(rho, cap.prefill_ms, pct) + c.deployment.eff.ttft_fixed_ms
                ttft = queue + cap.prefill_ms + cap.transfer_ms
        elif c.role == "decode":  # at the SLO percentile of the running batch (as the capacity)
            b = max(1.0, u * cap.batch)
            q = float(batch_quantile(b, pct)) if slo is not None and slo.tpot_ms is not None else b
            tpot = float(c.deployment.decode_step_ms(q, k.prompt_tokens + k.output_tokens / 2))
        elif c.deployment.engine.chunked:  # prompt chunks share the decodes' steps
            m = mixed_latency(
                c.deployment, k.prompt_tokens, k.output_tokens, max(1.0, u * cap.batch), pct,
                slo is not None and slo.tpot_ms is not None,
            )
            tpot = float(m.tpot_ms[0])
            if has_ttft:
                queue, ttft = float(m.queue_ms[0]), float(m.ttft_ms[0])
        else:
            b = max(1.0, u * cap.batch)
            phi = u * cap.utilisation_cap
            q = float(batch_quantile(b, pct, phi)) if slo is not None and slo.tpot_ms is not None else b
            step = float(c.deployment.decode_step_ms(b, k.prompt_tokens + k.output_tokens / 2))
            unit_ms = cap.utilisation_cap / cap.rate_per_s * 1e3  # prefill work per request: φ / r
            if has_ttft:
                queue = wait_quantile_ms(phi, cap.prefill_ms, pct)
                ttft = queue + cap.prefill_ms + step
            tpot = float(c.deployment.decode_step_ms(q, k.prompt_tokens + k.output_tokens / 2)) + q * unit_ms / k.output_tokens
        if cap.measured:  # the measurement met the SLOs; the model's latencies would describe another rate
            ttft = tpot = queue = None
        classes.append(
            PoolClass(
                request_class=k.name,
                requests_per_s=_r(r),
                capacity_per_instance_per_s=_r(cap.rate_per_s),
                batch=cap.batch,
                prefill_ms=_r(cap.prefill_ms),
                decode_step_ms=_r(cap.step_ms),
                predicted_ttft_ms=_r(ttft),
                ttft_queue_ms=_r(queue),
                kv_transfer_ms=_r(transfer),
                predicted_tpot_ms=_r(tpot),
                capacity_source=f"measured: {cap.measured}" if cap.measured else "model",
            )
        )
    return Pool(model=c.served, gpu=c.gpu_id, role=c.role, tp=c.tp, instances=n, gpus=n * c.tp, utilisation=_r(u), classes=classes)


def pool_id(model: str, gpu: str, role: str, tp: int) -> str:
    """A pool's name in `routing` and in deployment files: lowercase letters, digits and '-'."""
    text = f"{model}-{gpu}-{role}-tp{tp}".lower()
    return "-".join(t for t in "".join(ch if ch.isalnum() else "-" for ch in text).split("-") if t)


def _routing(pools: list[Pool], sol: Solution, problem: Problem) -> Routing:
    """Per model, class and phase, each pool's share of the requests (from the pools' per-class
    rates); prefill-to-decode pairs split each zone-to-zone (or node-local) KV flow of a class
    over the prefill pools that send it and the decode pools that receive it, by their rates."""
    ids = {id(p): pool_id(p.model, p.gpu, p.role, p.tp) for p in pools}
    zone = {e.gpu.id: e.zone for e in problem.entries}
    rate = {(id(p), pc.request_class): pc.requests_per_s for p in pools for pc in p.classes}
    rpools = [
        RoutePool(
            pool=ids[id(p)], model=p.model, gpu=p.gpu, role=p.role, tp=p.tp, instances=p.instances,
            zone=zone[p.gpu], gpus_per_node=problem.entry(p.gpu).gpu.gpus_per_node,
        )
        for p in pools
    ]
    classes, routes, pairs = [], [], []
    for k in problem.classes:
        total_share = sum(c.share for c in problem.classes if c.served == k.served)
        classes.append(
            RouteClass(
                model=k.served, request_class=k.name, prompt_tokens=int(round(k.prompt_tokens)),
                output_tokens=int(round(k.output_tokens)), share=_r(k.share / total_share if total_share > 0 else 0.0),
            )
        )
        mine = [p for p in pools if p.model == k.served and (id(p), k.name) in rate]
        for phase in ("prefill", "decode"):
            serving = [p for p in mine if p.role in (phase, "colocated")]
            total = sum(rate[id(p), k.name] for p in serving)
            if total <= 0:
                continue
            routes.append(
                Route(
                    model=k.served, request_class=k.name, phase=phase, requests_per_s=_r(total),
                    shares=[
                        RouteShare(pool=ids[id(p)], requests_per_s=rate[id(p), k.name], weight=_r(rate[id(p), k.name] / total))
                        for p in serving
                    ],
                )
            )
        pairs += _pairs(k, mine, rate, ids, zone, sol)
    return Routing(pools=rpools, classes=classes, routes=routes, pairs=pairs)


def _pairs(k, mine: list[Pool], rate, ids, zone, sol: Solution) -> list[RoutePair]:
    lanes: list[tuple[float, list[Pool], list[Pool], str]] = []
    eps = 1e-6 * max(1.0, sol.rate_per_s)
    pre = [p for p in mine if p.role == "prefill"]
    dec = [p for p in mine if p.role == "decode"]
    by_zone: dict[tuple[str, str], float] = {}
    for (za, zb, _d, kk), v in sol.milp.f.items():
        if kk == k.name and (v.value() or 0.0) > eps:
            by_zone[za, zb] = by_zone.get((za, zb), 0.0) + v.value()
    for (za, zb), r in sorted(by_zone.items()):
        path = f"zone {za}" if za == zb else f"link {za}->{zb}"
        lanes.append((r, [p for p in pre if zone[p.gpu] == za], [p for p in dec if zone[p.gpu] == zb], path))
    for (g, kk), v in sorted(sol.milp.local.items()):
        if kk == k.name and (v.value() or 0.0) > eps:
            lanes.append((v.value(), [p for p in pre if p.gpu == g], [p for p in dec if p.gpu == g], f"inside {g} nodes (scale-up fabric)"))
    flow: dict[tuple[int, int, str], float] = {}
    for r, ps, ds, path in lanes:
        sp, sd = sum(rate[id(p), k.name] for p in ps), sum(rate[id(d), k.name] for d in ds)
        if sp <= 0 or sd <= 0:
            continue
        for p in ps:
            for d in ds:
                key = (id(p), id(d), path)
                flow[key] = flow.get(key, 0.0) + r * rate[id(p), k.name] / sp * rate[id(d), k.name] / sd
    out = []
    for p in pre:
        sent = sum(v for (a, _b, _path), v in flow.items() if a == id(p))
        for d in dec:
            for (a, b, path), v in flow.items():
                if a == id(p) and b == id(d) and v > eps and sent > 0:
                    out.append(
                        RoutePair(
                            model=k.served, request_class=k.name, prefill_pool=ids[id(p)], decode_pool=ids[id(d)],
                            requests_per_s=_r(v), weight=_r(v / sent), path=path,
                        )
                    )
    return out


def _slo_estimates(pools: list[Pool], problem: Problem) -> list[SloEstimate]:
    """Worst predicted TTFT and TPOT per class over the pools that serve it."""
    out = []
    for k in problem.classes:
        slo = problem.served_of(k).slo
        rows = [pc for p in pools for pc in p.classes if pc.request_class == k.name]
        worst = max((pc for pc in rows if pc.predicted_ttft_ms is not None), key=lambda pc: pc.predicted_ttft_ms, default=None)
        tpots = [pc.predicted_tpot_ms for pc in rows if pc.predicted_tpot_ms is not None]
        ttft, tpot = (worst.predicted_ttft_ms if worst else None), (max(tpots) if tpots else None)
        met = True
        if slo and slo.ttft_ms is not None and ttft is not None:
            met &= ttft <= slo.ttft_ms * (1 + 1e-6)
        if slo and slo.tpot_ms is not None and tpot is not None:
            met &= tpot <= slo.tpot_ms * (1 + 1e-6)
        out.append(
            SloEstimate(
                request_class=k.name,
                ttft_ms=_r(ttft),
                ttft_queue_ms=worst.ttft_queue_ms if worst else None,
                ttft_prefill_ms=worst.prefill_ms if worst else None,
                ttft_transfer_ms=worst.kv_transfer_ms if worst else None,
                ttft_slo_ms=slo.ttft_ms if slo else None,
                tpot_ms=_r(tpot),
                tpot_slo_ms=slo.tpot_ms if slo else None,
                met=bool(met),
            )
        )
    return out


def _kv_flows(sol: Solution, problem: Problem) -> list[KvFlow]:
    from planner.optimize.milp import GBIT, kv_gb_per_request

    classes = {k.name: k for k in problem.classes}
    totals: dict[tuple[str, str, str], list[float]] = {}
    for (za, zb, d, k), v in sol.milp.f.items():
        r = v.value() or 0.0
        if r <= 1e-6 * max(1.0, sol.rate_per_s):  # solver round-off, not traffic
            continue
        t = totals.setdefault((za, zb, d, ""), [0.0, 0.0])
        t[0] += r
        t[1] += r * kv_gb_per_request(problem, d, classes[k])
    for (g, k), v in sol.milp.local.items():
        r = v.value() or 0.0
        if r <= 1e-6 * max(1.0, sol.rate_per_s):  # solver round-off, not traffic
            continue
        e = problem.entry(g)
        d = problem.served_of(classes[k]).kv_dtype_on(e)
        t = totals.setdefault((e.zone, e.zone, d, g), [0.0, 0.0])
        t[0] += r
        t[1] += r * kv_gb_per_request(problem, d, classes[k])
    out = []
    for (za, zb, d, local), (rate, gb_s) in totals.items():
        link = problem.link_gbit_s(za, zb) if za != zb else None
        cap = link * GBIT / 1e9 if link else None
        path = f"inside {local} nodes (scale-up fabric)" if local else f"zone {za}" if za == zb else f"link {za}->{zb}"
        out.append(
            KvFlow(
                from_zone=za,
                to_zone=zb,
                kv_dtype=d,
                requests_per_s=_r(rate),
                gb_per_s=_r(gb_s),
                path=path,
                link_capacity_gb_per_s=_r(cap),
                share_of_link=_r(gb_s / cap) if cap else None,
            )
        )
    return out


def _nic_use(sol: Solution) -> list[NicUse]:
    out = []
    for name, c in sol.milp.constraints.items():
        fam, _, gpu = name.partition(":")
        if fam not in ("kv-egress", "kv-ingress"):
            continue
        flow = nic_flow_gb_s(c)
        cap = nic_capacity_gb_s(c)
        if flow <= 1e-12:
            continue
        out.append(
            NicUse(
                gpu=gpu,
                direction="egress" if fam == "kv-egress" else "ingress",
                gb_per_s=_r(flow),
                capacity_gb_per_s=_r(cap),
                share_of_capacity=_r(flow / cap) if cap > 0 else 0.0,
            )
        )
    return out


def mix_capacity_per_gpu(c: Config, problem: Problem) -> float:
    """Requests/s per GPU for its model's class mix (harmonic: busy time adds up)."""
    t = total = 0.0
    for k in problem.classes:
        if k.served != c.served:
            continue
        r = c.caps[k.name].rate_per_s
        if r <= 0:
            return 0.0
        t += k.share / r
        total += k.share
    return total / t / c.tp if t > 0 else 0.0


def advantage_table(problem: Problem, table: CapacityTable) -> list[Advantage]:
    out = []
    for s, e in ((s, e) for s in problem.served for e in problem.entries):
        best: dict[str, tuple[float, int]] = {}
        for c in table.for_gpu(e.gpu.id, s.name):
            v = mix_capacity_per_gpu(c, problem)
            if v > best.get(c.role, (0.0, 0))[0]:
                best[c.role] = (v, c.tp)
        if not best:
            continue
        pre, dec, col = (best.get(r, (0.0, 0))[0] for r in ("prefill", "decode", "colocated"))
        price = e.price_usd_per_hour  # purchase mode: a type with none owned at its purchase price
        out.append(
            Advantage(
                model=s.name,
                gpu=e.gpu.id,
                price_usd_per_hour=_r(price),
                prefill_per_gpu_per_s=_r(pre),
                decode_per_gpu_per_s=_r(dec),
                colocated_per_gpu_per_s=_r(col),
                prefill_to_decode_ratio=_r(pre / dec) if dec > 0 else None,
                usd_per_hour_per_prefill_rps=_r(price / pre) if pre > 0 else None,
                usd_per_hour_per_decode_rps=_r(price / dec) if dec > 0 else None,
                best_tp={r: tp for r, (v, tp) in best.items() if v > 0},
            )
        )
    return out


def _gain(plan_score: float, base_score: float, objective: str) -> float | None:
    if base_score == float("-inf") or math.isinf(plan_score) or math.isinf(base_score):
        return None
    if objective == "min-cost":  # scores are negative costs: how much more the baseline costs
        g = (base_score / plan_score - 1) if plan_score < 0 else None
    else:
        g = (plan_score / base_score - 1) if base_score > 0 else None
    return None if g is None else (0.0 if abs(g) < 1e-6 else g)  # within the tie-break tolerance


def _plan_outcome(sol: Solution) -> Outcome:
    return Outcome("plan", True, sol.rate_per_s, sol.cost_usd_per_hour, sol.instances)


# a simpler plan (one GPU type, or no disaggregation) this close to the optimum is flagged: 1% is
# well inside the performance model's held-out error (median 3-13% per engine, README "Accuracy"),
# so the optimum's edge over it is not a measured fact
NEAR_TIE_REL = 0.01


def _baseline(b: Outcome, sol: Solution, problem: Problem) -> Baseline:
    obj = sol.objective
    gain = _gain(_plan_outcome(sol).score(obj), b.score(obj), obj)
    return Baseline(
        name=b.name,
        feasible=b.feasible,
        objective_value=_r(objective_value(obj, b.rate_per_s, b.cost_usd_per_hour, problem)) if b.feasible else None,
        requests_per_s=_r(b.rate_per_s) if b.feasible else None,
        cost_usd_per_hour=_r(b.cost_usd_per_hour) if b.feasible else None,
        gain_of_plan=_r(gain),
        pools=dict(sorted(b.instances.items())) if b.instances else None,
        reason=b.reason or None,
        proven=b.proven,
        near_tie=b.feasible and gain is not None and 0 <= gain <= NEAR_TIE_REL and b.instances != sol.instances,
    )


def _marginal(m: Marginal, sol: Solution, problem: Problem, shadow: dict[str, float]) -> MarginalValue:
    o = m.outcome
    obj = sol.objective
    base = objective_value(obj, sol.rate_per_s, sol.cost_usd_per_hour, problem)

    def _d(new: float, old: float, sig: int = SIG) -> float | None:
        if math.isinf(new) or math.isinf(old):
            return None
        d = new - old
        if abs(d) <= 1e-6 * max(1.0, abs(old)):  # tie-break tolerance, not value
            return 0.0
        return float(f"{d:.{sig}g}") + 0.0

    return MarginalValue(
        gpu=m.gpu_id,
        added_gpus=m.added_gpus,
        feasible=o.feasible,
        delta_requests_per_s=_d(o.rate_per_s, sol.rate_per_s) if o.feasible else None,
        delta_cost_usd_per_hour=_d(o.cost_usd_per_hour, sol.cost_usd_per_hour) if o.feasible else None,
        # a difference of two optima that solvers reach within 1e-6 of each other: 4 digits,
        # so that HiGHS and CBC print the same (tokens/$ objectives are ~1e5: 1e-6 of it is 0.1)
        delta_objective=_d(objective_value(obj, o.rate_per_s, o.cost_usd_per_hour, problem), base, 4) if o.feasible else None,
        lp_shadow_price=_r(shadow[m.gpu_id] * m.added_gpus) if m.gpu_id in shadow else None,
        proven=o.proven and sol.proven_optimal,
        price_usd_per_hour=_r(next(e.price_usd_per_hour for e in problem.entries if e.gpu.id == m.gpu_id)),
    )


_MEANING = {
    "gpus": "every GPU of this type is in use",
    "link": "the link between these zones is full of KV-cache transfers",
    "kv-egress": "the prefill pools' NICs are saturated by KV-cache transfers",
    "kv-ingress": "the decode pools' NICs are saturated by KV-cache transfers",
    "busy": "this pool runs at its SLO-limited capacity",
    "budget": "the plan spends the whole budget",
}
_MEANING_NO_SLO = {"busy": "this pool runs at its capacity (saturated throughput: no SLOs)"}
_MEANING_NONE_OWNED = "none owned: every GPU of this type in use is bought"


def _binding(sol: Solution, problem: Problem) -> list[Binding]:
    out = []
    for name, slack in sol.slacks.items():
        fam = name.split(":", 1)[0]
        if fam not in _MEANING:
            continue
        if fam == "busy" and name.split(":", 1)[1] not in sol.instances:
            continue  # an unused configuration is trivially at 0 of 0
        if fam in ("kv-egress", "kv-ingress") and not nic_capacity_gb_s(sol.milp.constraints[name]):
            continue  # no pool of that role on that GPU type: 0 of 0
        meaning = _MEANING[fam]
        if fam == "gpus":
            e = problem.entry(name.split(":", 1)[1].rsplit("/", 1)[-1])
            if e.count == 0:
                if not any(c.gpu_id == e.gpu.id for c in sol.milp.configs if sol.instances.get(c.key)):
                    continue  # none owned and none used: 0 of 0
                meaning = _MEANING_NONE_OWNED
        if fam == "busy" and not problem.has_slo:
            meaning = _MEANING_NO_SLO["busy"]
        scale = max(1.0, abs(sol.milp.constraints[name].constant))
        if slack <= 1e-6 * scale:
            out.append(Binding(constraint=name, family=fam, meaning=meaning))
    return out


def engine_use(gpu) -> EngineUse | None:
    r, info = gpu.engine, gpu.profile
    if info is None or r is None:
        return None
    error = {
        k: {m: {q: round(float(x), 4) for q, x in v.items() if q in ("median_abs", "p90_abs")} for m, v in acc.items()}
        for k, acc in (info.error or {}).items()
    }
    return EngineUse(
        engine=r.id,
        versions=r.versions,
        profile_family=info.family,
        fitted_on=info.fitted_family,
        borrowed=info.borrowed,
        measured_points=info.rows,
        measured_error=error,
        source=gpu.efficiency.source,
        memory_rule=r.memory_rule,
        memory_fraction=r.memory_fraction,
        memory_flag=r.memory_flag,
        max_num_seqs=r.max_num_seqs,
        max_batched_tokens=r.max_batched_tokens,
        scheduler=r.scheduler,
    )


def _notes(problem: Problem, table: CapacityTable) -> list[str]:
    notes = []
    for e in problem.entries:
        if e.gpu.efficiency.source.startswith("borrowed"):
            notes.append(f"{e.gpu.id}: {e.gpu.engine.id if e.gpu.engine else 'default'} efficiency parameters {e.gpu.efficiency.source}")
        if e.network_source != "fleet file":
            notes.append(f"{e.gpu.id}: network {e.gpu.network_gbit_s:g} Gb/s per GPU, {e.network_source}")
    for label, lines in table.tp_notes.items():
        notes.extend(f"{label}: {n}" for n in lines)
    notes.extend(table.notes)
    for served in problem.served:
        notes.extend(served.notes)
    if not problem.has_slo:
        notes.append("no SLOs: offline batch work; queues may grow, capacities are saturated throughput")
    return notes
