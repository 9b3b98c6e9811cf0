"""Resolve typed specs against the catalog: the planning problem, every fact in place.

specs (what the user wrote) + catalog (what we know)  ->  Problem (what we plan with).
Overrides are applied here; names the catalog does not know end in an InputError with a
did-you-mean, positioned at the offending line of the input file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

from planner.catalog import Catalog, catalog
from planner.catalog.types import Gpu, Model
from planner.errors import InputError
from planner.specs import FleetSpec, Located, WorkloadSpec
from planner.specs.distributions import classes_from_lognormal, classes_from_samples, read_trace
from planner.specs.workload import MeasuredCapacity, ModelArchitecture, RequestClass, Slo


@dataclass(frozen=True)
class FleetEntry:
    gpu: Gpu
    count: int
    price_usd_per_hour: float
    price_source: str
    zone: str = "default"
    kv_dtype: str | None = None  # the dtype this type's pools store KV in; None: each workload's
    network_source: str = ""
    buy_max: int = 0  # purchase mode: GPUs that may be bought or rented on top of `count`
    buy_price_usd_per_hour: float = 0.0
    buy_price_source: str = ""
    buy_whole_nodes: bool = False  # purchase mode: buy in whole nodes of gpu.gpus_per_node

    def cost_usd_per_hour(self, used: int, bought: int) -> float:
        """USD/h of `used` GPUs in use of which `bought` are bought (all paid, idle or not: whole
        nodes may leave some idle): bought ones at the purchase price, the rest at the owned price."""
        return self.buy_price_usd_per_hour * bought + self.price_usd_per_hour * max(0, used - bought)

    @property
    def max_count(self) -> int:
        """Owned plus the most that may be bought."""
        return self.count + self.buy_max


@dataclass(frozen=True)
class Served:
    """One model with its workload: request classes, traffic, SLOs, dtypes."""

    name: str
    model: Model
    weight_dtype: str
    kv_dtype: str  # for GPU types that do not set their own
    classes: tuple[RequestClass, ...]  # the workload's classes; shares sum to 1
    slo: Slo | None
    qps_target: float | None  # None: as much as possible
    tp_degrees: tuple[int, ...]
    kv_conversion: str = "allow"
    # measured capacities replacing the model's, each with where it was given (file:line:col)
    measured: tuple[tuple[MeasuredCapacity, str], ...] = ()
    measured_only: bool = False  # plan only on measured capacities
    notes: tuple[str, ...] = ()  # what reading the workload changed (shares normalised, classes left out)

    def kv_dtype_on(self, entry: FleetEntry) -> str:
        return entry.kv_dtype or self.kv_dtype


@dataclass(frozen=True)
class PlanClass:
    """A request class of the joint problem: one served model's class, with its share of the
    total request rate (several models: the mix their QPS targets set)."""

    name: str  # the class name; "<workload>/<class>" when several models share the fleet
    served: str
    prompt_tokens: float
    output_tokens: float
    share: float


@dataclass(frozen=True)
class Problem:
    fleet_name: str
    entries: tuple[FleetEntry, ...]
    served: tuple[Served, ...]
    links_gbit_s: tuple[tuple[str, str, float], ...] = ()  # (zone, zone, Gb/s each way), one per pair
    budget_usd_per_hour: float | None = None  # plans may cost at most this (purchase/budget form)
    roles: tuple[str, ...] = ("prefill", "decode", "colocated")  # roles the serving engine supports

    # --- the joint problem -------------------------------------------------------------
    @property
    def multi(self) -> bool:
        return len(self.served) > 1

    @cached_property
    def classes(self) -> tuple[PlanClass, ...]:
        if not self.multi:
            s = self.served[0]
            return tuple(PlanClass(c.name, s.name, c.prompt_tokens, c.output_tokens, c.share) for c in s.classes)
        total = sum(s.qps_target for s in self.served)
        return tuple(
            PlanClass(f"{s.name}/{c.name}", s.name, c.prompt_tokens, c.output_tokens, c.share * s.qps_target / total)
            for s in self.served
            for c in s.classes
        )

    @property
    def qps_target(self) -> float | None:
        """Total requests/s to serve (several models: the sum of their targets)."""
        if not self.multi:
            return self.served[0].qps_target
        return sum(s.qps_target for s in self.served)

    def with_qps_target(self, qps: float) -> "Problem":
        """Scale every model's target so that they sum to `qps` (one model: set it)."""
        if not self.multi:
            return replace(self, served=(replace(self.served[0], qps_target=qps),))
        factor = qps / self.qps_target
        return replace(self, served=tuple(replace(s, qps_target=s.qps_target * factor) for s in self.served))

    def served_by_name(self, name: str) -> Served:
        return next(s for s in self.served if s.name == name)

    def served_of(self, k: PlanClass) -> Served:
        return self.served_by_name(k.served)

    @property
    def has_slo(self) -> bool:
        return any(s.slo is not None for s in self.served)

    @property
    def workload_name(self) -> str:
        return " + ".join(s.name for s in self.served)

    @property
    def slo(self) -> Slo | None:
        """The SLOs of a single-model problem (several models: each has its own)."""
        return None if self.multi else self.served[0].slo

    # --- fleet ------------------------------------------------------------------------
    def link_gbit_s(self, a: str, b: str) -> float | None:
        """Bandwidth each way between two zones; None when they are not linked."""
        for x, y, bw in self.links_gbit_s:
            if {x, y} == {a, b}:
                return bw
        return None

    def entry(self, gpu_id: str) -> FleetEntry:
        return next(e for e in self.entries if e.gpu.id == gpu_id)

    def restricted(self, gpu_ids: set[str]) -> "Problem":
        return replace(self, entries=tuple(e for e in self.entries if e.gpu.id in gpu_ids))

    def with_entries(self, entries: tuple[FleetEntry, ...]) -> "Problem":
        return replace(self, entries=entries)

    def with_count(self, gpu_id: str, count: int) -> "Problem":
        return replace(
            self, entries=tuple(replace(e, count=count) if e.gpu.id == gpu_id else e for e in self.entries)
        )

    @property
    def mean_prompt_tokens(self) -> float:
        return sum(c.share * c.prompt_tokens for c in self.classes)

    @property
    def mean_output_tokens(self) -> float:
        return sum(c.share * c.output_tokens for c in self.classes)


# `buy: {max: unlimited}`: the optimiser may buy up to this many GPUs of the type (a bound the
# MILP needs; a plan that reaches it says so)
UNLIMITED_PURCHASE = 100_000


def resolve(
    fleet: FleetSpec,
    workload: WorkloadSpec | list[WorkloadSpec],
    fleet_doc: Located | None = None,
    workload_doc: Located | None | list[Located | None] = None,
    cat: Catalog | None = None,
    qps_target: float | None = None,
    engine: str | None = None,
) -> Problem:
    """Fleet + one workload, or several (one model each) sharing the fleet. `engine` (the
    command line's --engine) replaces every GPU type's engine."""
    cat = cat or catalog()
    workloads = workload if isinstance(workload, list) else [workload]
    docs = workload_doc if isinstance(workload_doc, list) else [workload_doc] * len(workloads)
    entries = []
    for i, g in enumerate(fleet.gpus):
        where = f"{fleet_doc.where(('gpus', i, 'type'))}: gpus[{i}].type" if fleet_doc else f"gpus[{i}].type"
        gpu = _on_engine(cat, cat.gpu(g.type, where), g, engine, fleet_doc, i)
        if g.efficiency_profile is not None:
            gpu = replace(gpu, efficiency=_profile(g.efficiency_profile, fleet_doc, i))
        gpu = _apply_overrides(gpu, g)
        price = g.price_usd_per_hour
        source = "fleet file"
        if price is None and g.count == 0:
            price, source = 0.0, "none owned"
        if price is None:
            if gpu.price_usd_per_hour is None:
                raise InputError(
                    f"{fleet_doc.where(('gpus', i)) if fleet_doc else 'fleet'}: gpus[{i}].price_usd_per_hour: "
                    f"the catalog has no price for '{gpu.id}'; give one"
                )
            price, source = float(gpu.price_usd_per_hour), f"catalog: {gpu.price_source}"
        network = "fleet file" if g.network_gbit_s is not None else f"catalog default: {gpu.network_source}"
        buy_max, buy_price, buy_source = 0, 0.0, ""
        if g.buy is not None:
            buy_max = UNLIMITED_PURCHASE if g.buy.max == "unlimited" else g.buy.max
            buy_price, buy_source = g.buy.usd_per_hour()
            if g.count == 0 and g.price_usd_per_hour is None:
                # none owned: the type's price is what buying one costs (the plan's cost is the
                # same either way; the advantage table, marginal values and shadow prices need it)
                price, source = buy_price, "purchase price (none owned)"
        entries.append(
            FleetEntry(
                gpu, g.count, float(price), source, fleet.zone_of(g), g.kv_dtype, network, buy_max, buy_price, buy_source,
                buy_whole_nodes=bool(g.buy is not None and g.buy.whole_nodes),
            )
        )
    served = [_served(w, d, cat) for w, d in zip(workloads, docs)]
    names = [s.name for s in served]
    for i, n in enumerate(names):
        if n in names[:i]:
            raise InputError(f"{docs[i].source if docs[i] else 'workload'}: two workloads are named '{n}'; names label each model")
    problem = Problem(
        fleet_name=fleet.name or "fleet",
        entries=tuple(entries),
        served=tuple(served),
        links_gbit_s=tuple((link.between[0], link.between[1], link.gbit_s) for link in fleet.links),
    )
    if problem.multi:
        missing = [s.name for s in served if s.qps_target is None]
        if missing:
            raise InputError(
                f"several models share the fleet: each needs a QPS target (traffic.qps) to set their mix; "
                f"missing for {', '.join(missing)}"
            )
    if qps_target is not None:
        problem = problem.with_qps_target(qps_target)
    return problem


def _served(workload: WorkloadSpec, workload_doc: Located | None, cat: Catalog) -> Served:
    model = _model(workload, workload_doc, cat)
    weight_dtype = workload.weight_dtype or model.native_dtype
    if weight_dtype not in ("fp16", "bf16", "fp8"):
        raise InputError(
            f"{workload_doc.where(('model',)) if workload_doc else 'workload'}: model '{model.id}' ships "
            f"{model.native_dtype} weights; set weight_dtype to fp16, bf16 or fp8"
        )
    classes, trace_rate = _classes(workload, workload_doc)
    classes, notes = _normalised(classes, workload.name or "workload")
    longest = max(c.prompt_tokens + c.output_tokens for c in classes)
    if longest > model.max_context_tokens:
        i = max(range(len(classes)), key=lambda j: classes[j].prompt_tokens + classes[j].output_tokens)
        path = ("classes", i) if workload.classes is not None else ("requests",)
        where = workload_doc.where(path) if workload_doc else "workload"
        raise InputError(
            f"{where}: {'classes[%d]' % i if workload.classes is not None else f'requests: class {classes[i].name}'}: "
            f"{longest:g} tokens (prompt + output) exceed {model.id}'s context window of {model.max_context_tokens}"
        )
    if workload.traffic.qps == "max":
        target = None
    elif workload.traffic.qps == "trace":
        target = trace_rate
    else:
        target = float(workload.traffic.qps)
    return Served(
        name=workload.name or "workload",
        model=model,
        weight_dtype=weight_dtype,
        kv_dtype=workload.kv_dtype,
        classes=tuple(classes),
        slo=workload.slo if workload.has_slo else None,
        qps_target=target,
        tp_degrees=tuple(workload.tp_degrees),
        kv_conversion=workload.kv_conversion,
        measured=tuple(
            (m, f"{workload_doc.where(('measured_capacities', i)) if workload_doc else 'workload'}: measured_capacities[{i}]")
            for i, m in enumerate(workload.measured_capacities)
        ),
        measured_only=workload.measured_only,
        notes=tuple(notes),
    )


def _normalised(classes: list[RequestClass], name: str) -> tuple[list[RequestClass], list[str]]:
    """Classes with share 0 left out, and shares scaled to sum to exactly 1 (the spec admits
    sums within SHARE_SUM_TOL of 1); with a note for each change."""
    notes = []
    zero = [c.name for c in classes if c.share <= 0]
    if zero:
        notes.append(f"{name}: class{'es' if len(zero) > 1 else ''} {', '.join(zero)} with share 0 left out")
    kept = [c for c in classes if c.share > 0]
    total = sum(c.share for c in kept)
    if total != 1.0:
        kept = [c.model_copy(update={"share": c.share / total}) for c in kept]
        if abs(total - 1.0) > 1e-12:
            notes.append(f"{name}: class shares summed to {total:.9g}; each was divided by it to sum to 1")
    return kept, notes


def _classes(workload: WorkloadSpec, doc: Located | None) -> tuple[list[RequestClass], float | None]:
    """The workload's classes: its explicit histogram, or bucketed from a trace or a
    log-normal; and the trace's arrival rate (requests/s) where there is a trace."""
    if workload.classes is not None:
        return list(workload.classes), None
    r = workload.requests
    if r.trace is not None:
        base = Path(doc.source).parent if doc else Path(".")
        path = Path(r.trace) if Path(r.trace).is_absolute() else base / r.trace
        try:
            trace = read_trace(path)
        except InputError as e:
            where = doc.where(("requests", "trace")) if doc else "workload"
            raise InputError(f"{where}: requests.trace: {e.message}") from None
        classes = classes_from_samples(trace.prompt_tokens, trace.output_tokens, r.prompt_buckets, r.output_buckets)
        return classes, trace.rate_per_s or None
    if r.grid is not None:
        g = r.grid
        return [
            RequestClass(name=f"p{p:g}-o{o:g}", prompt_tokens=p, output_tokens=o, share=share)
            for p, row in zip(g.prompt_tokens, g.shares)
            for o, share in zip(g.output_tokens, row)
            if share > 0
        ], None
    ln = r.lognormal
    classes = classes_from_lognormal(
        ln.prompt_tokens.mean, ln.prompt_tokens.sigma, ln.output_tokens.mean, ln.output_tokens.sigma,
        r.prompt_buckets, r.output_buckets,
    )
    return classes, None


def _model(workload: WorkloadSpec, doc: Located | None, cat: Catalog) -> Model:
    if isinstance(workload.model, str):
        return cat.model(workload.model, f"{doc.where(('model',))}: model" if doc else "model")
    a: ModelArchitecture = workload.model
    kv = a.kv_bytes_per_token_bf16 or 2 * a.layers * a.kv_heads * a.head_dim * 2
    return Model(
        id=a.id,
        layers=a.layers,
        hidden=a.hidden,
        heads=a.heads,
        kv_heads=a.kv_heads,
        head_dim=a.head_dim,
        attention="mha" if a.kv_heads == a.heads else "gqa",
        attention_dim=a.heads * a.head_dim,
        intermediate=4 * a.hidden,
        total_params_b=a.total_params_b,
        active_params_b=a.active_params_b or a.total_params_b,
        native_dtype=a.native_dtype,
        weight_bytes_per_param=2.0 if a.native_dtype in ("fp16", "bf16") else 1.0,
        kv_bytes_per_token_bf16=float(kv),
        max_context_tokens=a.max_context_tokens,
        source="workload file (explicit architecture)",
    )


def _on_engine(cat: Catalog, gpu: Gpu, g, override: str | None, fleet_doc: Located | None, i: int) -> Gpu:
    """The GPU type as its engine serves it: the engine's profile for its family and its rules,
    with the fleet entry's launch settings on top."""
    choice = g.engine
    if override is not None:
        return cat.gpu_on(gpu, override, "--engine")
    if choice is None:
        return cat.gpu_on(gpu, None)
    where = f"{fleet_doc.where(('gpus', i, 'engine'))}: gpus[{i}].engine" if fleet_doc else f"gpus[{i}].engine"
    gpu = cat.gpu_on(gpu, choice.name, where)
    rules = gpu.engine
    changes = {
        k: getattr(choice, k) for k in ("memory_fraction", "max_num_seqs", "max_batched_tokens") if getattr(choice, k) is not None
    }
    if choice.version is not None:
        changes["versions"] = f"{choice.version} (profile: {rules.versions})"
    return replace(gpu, engine=replace(rules, **changes)) if changes else gpu


def _profile(path: str, fleet_doc: Located | None, i: int):
    """A calibration profile's efficiency parameters (`planner calibrate --out`)."""
    from planner.catalog.profiles import load_profile

    base = Path(fleet_doc.source).parent if fleet_doc else Path(".")
    p = Path(path) if Path(path).is_absolute() else base / path
    if not p.is_file():
        where = fleet_doc.where(("gpus", i, "efficiency_profile")) if fleet_doc else "fleet"
        raise InputError(f"{where}: gpus[{i}].efficiency_profile: no such file: {p}")
    return load_profile(p)


def _apply_overrides(gpu: Gpu, entry) -> Gpu:
    changes: dict = {}
    if entry.gpus_per_node is not None:
        changes["gpus_per_node"] = entry.gpus_per_node
    if entry.network_gbit_s is not None:
        changes["network_gbit_s"] = entry.network_gbit_s
    o = entry.overrides
    if o is not None:
        if o.mem_bytes is not None:
            changes["mem_bytes"] = o.mem_bytes
        if o.mem_bw_tb_s is not None:
            changes["mem_bw_tb_s"] = o.mem_bw_tb_s
        if o.scaleup_domain_gpus is not None:
            changes["scaleup_domain_gpus"] = o.scaleup_domain_gpus
        if o.tflops_dense is not None:
            t = dict(gpu.tflops)
            t.update({k: v for k, v in o.tflops_dense.model_dump().items() if v is not None})
            changes["tflops"] = t
        if o.efficiency is not None:
            changes["efficiency"] = gpu.efficiency.with_overrides(o.efficiency.model_dump())
    return replace(gpu, **changes) if changes else gpu
