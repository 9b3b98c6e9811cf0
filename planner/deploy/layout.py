"""What runs where: each pool of a plan as launch settings and replicas placed on nodes.

A pure function of the plan (and the catalog's model repositories): no engine knowledge here,
that lives in the sourced files under planner/catalog/data/deploy/ (see `engines.py`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from importlib import resources

import yaml

from planner.errors import InputError
from planner.plan import Plan, Pool, RoutePool, pool_id

BASE_PORT = 8000
SIDE_CHANNEL_BASE_PORT = 5600  # NIXL side channel, one per replica on a node


@dataclass(frozen=True)
class Replica:
    index: int
    node: str  # "<gpu>-node<i>", numbered per GPU type in the plan's order of pools
    gpus: tuple[int, ...]  # device indices on that node
    port: int
    side_channel_port: int


@dataclass(frozen=True)
class PoolLaunch:
    id: str
    model_name: str  # the workload (served model name)
    hf_repo: str
    gpu: str
    role: str  # prefill | decode | colocated
    tp: int
    instances: int
    zone: str
    gpus_per_node: int
    engine: str  # the plan's engine for this GPU type (vllm, sglang, trtllm, vllm-2023)
    engine_versions: str
    weight_dtype: str
    kv_dtype: str
    memory_fraction: float
    max_batch: int
    max_batched_tokens: int
    max_context: int
    utilisation: float
    load: dict[str, float]  # requests/s per class
    predicted_ttft_ms: dict[str, float | None]
    predicted_tpot_ms: dict[str, float | None]
    replicas: tuple[Replica, ...] = field(default=())


def launches(plan: Plan, where: str) -> list[PoolLaunch]:
    """Every pool of the plan with its launch settings and its replicas on nodes."""
    if plan.routing is None:
        raise InputError(
            f"{where}: no `routing` section (plan schema {plan.schema_version}; deploy needs 1.4): "
            "write the plan again with `planner solve ... --json`"
        )
    if not plan.pools:
        raise InputError(f"{where}: pools: the plan has no pools to deploy")
    places = {r.pool: r for r in plan.routing.pools}
    models = {m.name: (i, m.model) for i, m in enumerate(plan.models)}
    wdt = plan.inputs.weight_dtype.split(" + ")
    kdt = plan.inputs.kv_dtype.split(" + ")
    engines = {g.gpu: g.engine for g in plan.gpus}
    context = {}
    for c in plan.routing.classes:
        context[c.model] = max(context.get(c.model, 0), c.prompt_tokens + c.output_tokens)
    repos = hf_repos()
    out = []
    for n, p in enumerate(plan.pools):
        pid = pool_id(p.model, p.gpu, p.role, p.tp)
        place = places.get(pid)
        if place is None:
            raise InputError(f"{where}: routing.pools: no entry for pools[{n}] ({pid})")
        if p.model not in models:
            raise InputError(f"{where}: pools[{n}].model: '{p.model}' is not among models[].name")
        i, model_id = models[p.model]
        eng = engines.get(p.gpu)
        if eng is None:
            raise InputError(f"{where}: gpus: no entry with an engine for pools[{n}].gpu '{p.gpu}'")
        repo = repos.get(model_id, model_id)  # a custom model (inline architecture): its name is what we have
        out.append(
            PoolLaunch(
                id=pid, model_name=p.model, hf_repo=repo, gpu=p.gpu, role=p.role, tp=p.tp, instances=p.instances,
                zone=place.zone, gpus_per_node=place.gpus_per_node, engine=eng.engine, engine_versions=eng.versions,
                weight_dtype=wdt[i] if i < len(wdt) else wdt[0], kv_dtype=kdt[i] if i < len(kdt) else kdt[0],
                memory_fraction=eng.memory_fraction,
                max_batch=_max_batch(p, eng.max_num_seqs), max_batched_tokens=eng.max_batched_tokens,
                max_context=context.get(p.model, 0) or 4096, utilisation=p.utilisation,
                load={c.request_class: c.requests_per_s for c in p.classes},
                predicted_ttft_ms={c.request_class: c.predicted_ttft_ms for c in p.classes},
                predicted_tpot_ms={c.request_class: c.predicted_tpot_ms for c in p.classes},
            )
        )
    return _place(out, places, where)


@cache
def hf_repos() -> dict[str, str]:
    """Catalog model id -> its Hugging Face repository (the first word of `hf_repo`)."""
    text = (resources.files("planner.catalog") / "data" / "models.yaml").read_text(encoding="utf-8")
    rows = yaml.safe_load(text)["models"]
    return {r["id"]: str(r["hf_repo"]).split(" ")[0] for r in rows if r.get("hf_repo")}


def _max_batch(p: Pool, engine_default: int) -> int:
    """Decode and colocated pools: the largest running batch the plan assumed; prefill pools run
    one prompt at a time in the plan's model but keep the engine's limit (KV caches wait there
    for the decode side to pull them)."""
    if p.role == "prefill":
        return engine_default
    return max([c.batch for c in p.classes] or [engine_default])


def _place(pools: list[PoolLaunch], places: dict[str, RoutePool], where: str) -> list[PoolLaunch]:
    """Replicas onto nodes of their GPU type: largest TP first, first fit, so that no replica
    straddles two nodes (tensor parallelism stays inside a node's scale-up fabric)."""
    from dataclasses import replace

    by_gpu: dict[str, list[int]] = {}
    for i, p in enumerate(pools):
        by_gpu.setdefault(p.gpu, []).append(i)
    placed: dict[int, list[Replica]] = {i: [] for i in range(len(pools))}
    for gpu, idx in by_gpu.items():
        size = pools[idx[0]].gpus_per_node
        nodes: list[int] = []  # GPUs used per node
        ports: list[int] = []
        for i in sorted(idx, key=lambda j: (-pools[j].tp, j)):
            p = pools[i]
            if p.tp > size:
                raise InputError(f"{where}: pools: {p.id} needs TP{p.tp} but {gpu} nodes hold {size} GPUs")
            for r in range(p.instances):
                slot = next((n for n, used in enumerate(nodes) if used + p.tp <= size), None)
                if slot is None:
                    nodes.append(0)
                    ports.append(0)
                    slot = len(nodes) - 1
                first = nodes[slot]
                nodes[slot] += p.tp
                k = ports[slot]
                ports[slot] += 1
                placed[i].append(
                    Replica(r, f"{gpu}-node{slot}", tuple(range(first, first + p.tp)), BASE_PORT + k, SIDE_CHANNEL_BASE_PORT + k)
                )
    return [replace(p, replicas=tuple(placed[i])) for i, p in enumerate(pools)]
