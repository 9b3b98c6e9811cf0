"""RUNBOOK.md: for people. What runs where, the SLOs and the predicted load per pool, what to
watch, and when the plan stops holding."""

from __future__ import annotations

from planner.deploy.layout import PoolLaunch
from planner.plan import Plan


def _f(x: float | None, unit: str = "") -> str:
    return "-" if x is None else f"{x:.4g}{unit}"


def runbook(plan: Plan, pools: list[PoolLaunch], target: str, version_of: dict[str, str], files: list[str], warnings: list[str]) -> str:
    i = plan.inputs
    L = [
        f"# Runbook: {i.workload} on {i.fleet} (`planner deploy --target {target}`)",
        "",
        f"Plan: inputs digest `{i.digest_sha256[:16]}`, objective {i.objective}, status {plan.status}; "
        f"{plan.throughput.requests_per_s:.4g} requests/s for ${plan.cost.usd_per_hour:.4g}/h.",
        f"SLOs: TTFT {_f(i.ttft_slo_ms, ' ms')}, TPOT {_f(i.tpot_slo_ms, ' ms')} at p{_f(i.slo_percentile)}.",
        "",
        "## What runs where",
        "",
        "| pool | role | GPU | TP | replicas | engine (planned / launched) | nodes: GPUs (port) |",
        "|---|---|---|---|---|---|---|",
    ]
    for p in pools:
        where = "; ".join(f"{r.node}: {','.join(map(str, r.gpus))} ({r.port})" for r in p.replicas)
        L.append(f"| {p.id} | {p.role} | {p.gpu} | {p.tp} | {p.instances} | {p.engine} {p.engine_versions} / {version_of[p.id]} | {where} |")
    L += [
        "",
        "Each replica keeps its tensor-parallel group inside one node. Launch settings per pool: model, TP, weight and",
        "KV-cache dtypes, the memory fraction and the batch and context limits the plan assumed (see the files).",
        "",
        "## Predicted load per pool (watch these)",
        "",
        "| pool | class | requests/s | predicted TTFT p-SLO ms | predicted TPOT ms | load / SLO capacity |",
        "|---|---|---|---|---|---|",
    ]
    for p in pools:
        for k, r in p.load.items():
            L.append(f"| {p.id} | {k} | {r:.4g} | {_f(p.predicted_ttft_ms[k])} | {_f(p.predicted_tpot_ms[k])} | {p.utilisation:.1%} |")
    L += [
        "",
        "## Routing",
        "",
        "`routing.json` (the plan's `routing` section) gives, per class and phase, the share of requests each pool",
        "should serve, and which decode pools each prefill pool hands KV caches to. Classes are told apart by prompt and",
        "output length (`routing.classes`). A round-robin router sends the same share to every replica whatever its GPU;",
        "on a mixed fleet the slower type then becomes the queue. Where the target's router takes no weights, check the",
        "per-pool request rates in its metrics against the table above.",
        "",
        "## What to watch",
        "",
        "- Utilisation per pool near the plan's (the engines' `num_requests_running` / `num_requests_waiting` gauges).",
        "- Queue: a waiting queue that grows on one pool means it gets more than its share: fix the weights first.",
        "- TTFT and TPOT at the SLO percentile against the predictions above (prefill pools: TTFT; decode: TPOT).",
        "- KV-transfer time on decode pools (the plan's `kv_flows` and `nic_use`): a saturated NIC shows up as TTFT.",
        "",
        "## When the plan stops holding",
        "",
        "The plan is sized for the traffic and class mix above. `planner simulate` replays it at 1.3x the planned rate",
        "(and at other rates): when it reports SLOs missed there, re-plan before the traffic gets there, and re-plan at",
        "once when the measured class mix or lengths drift from `routing.classes`, or a GPU type is lost.",
        "",
        "## Files",
        "",
    ]
    L += [f"- `{f}`" for f in files]
    if warnings:
        L += ["", "## Warnings", ""] + [f"- {w}" for w in warnings]
    return "\n".join(L) + "\n"
