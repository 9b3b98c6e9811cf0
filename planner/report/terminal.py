"""The terminal report: the plan first, then why (advantage, baselines, marginal values)."""

from __future__ import annotations

import math

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from planner.plan import Plan
from planner.problem import UNLIMITED_PURCHASE
from planner.report.fmt import columns_table, num, plain_table, signed_pct

_f, _pct = num, signed_pct


def render(plan: Plan, console: Console, explain: bool = True) -> None:
    for part in report_parts(plan, explain):
        console.print(part)


def report_parts(plan: Plan, explain: bool = True) -> list:
    i = plan.inputs
    status = "proven optimal" if plan.status == "optimal" else f"not proven optimal (MIP gap {plan.mip_gap:.3%})"
    if len(plan.models) > 1:
        slo = "per-model SLOs"
    elif i.ttft_slo_ms or i.tpot_slo_ms:
        parts = [f"TTFT p{i.slo_percentile:g} ≤ {i.ttft_slo_ms:g} ms" if i.ttft_slo_ms else "", f"TPOT ≤ {i.tpot_slo_ms:g} ms" if i.tpot_slo_ms else ""]
        slo = ", ".join(p for p in parts if p)
    else:
        slo = "no SLOs (offline batch)"
    target = f", target {i.qps_target:g} req/s" if i.qps_target else ""
    head = Text.assemble(
        ("planner ", "bold"),
        f"{i.workload} on {i.fleet}: {i.model} ({i.weight_dtype} weights, {i.kv_dtype} KV), {slo}\n",
        f"objective {i.objective}{target}: {status}",
    )
    parts: list = [head, _pools(plan), _summary(plan)]
    if len(plan.models) > 1:
        parts.append(_models(plan))
    parts.append(_slo(plan))
    parts.append(_engines(plan))
    if explain:
        parts += [_advantage(plan), _baselines(plan), _marginal(plan), _binding(plan)]
    if plan.excluded or plan.notes:
        parts.append(_notes(plan))
    return parts


def _engines(plan: Plan) -> Table:
    """Per GPU type: the engine profile its capacities come from, and how well it is measured."""
    t = columns_table(
        "Engine profiles (the performance model's parameters per GPU type)",
        ("GPU", "engine", "profile", "measured points", "held-out TPOT |err| med/p90", "memory", "max seqs", "step tokens"),
        left=("GPU", "engine", "profile"),
    )
    for g in plan.gpus:
        e = g.engine
        if e is None:
            continue
        fam = f"{e.profile_family} (borrowed from {e.fitted_on})" if e.borrowed else e.profile_family
        held = (e.measured_error.get("held_out") or {}).get("tpot")
        err = f"{held['median_abs']:.1%} / {held['p90_abs']:.1%}" if held else "-"
        mem = f"{e.memory_fraction:g} of {'device' if e.memory_rule == 'total' else 'free after weights'}"
        t.add_row(g.gpu, f"{e.engine} {e.versions}", fam, str(e.measured_points), err, mem, str(e.max_num_seqs), str(e.max_batched_tokens))
    return t


def _pools(plan: Plan) -> Table:
    cols = ("GPU", "role", "TP", "inst.", "GPUs", "class", "batch", "load / SLO cap.", "cap. per inst. req/s", "served req/s")
    t = columns_table("Plan", cols, left=("GPU", "role", "class"), heavy=True)
    for p in plan.pools:
        for j, c in enumerate(p.classes):
            first = j == 0
            t.add_row(
                p.gpu if first else "",
                p.role if first else "",
                str(p.tp) if first else "",
                str(p.instances) if first else "",
                str(p.gpus) if first else "",
                c.request_class,
                str(c.batch),
                f"{p.utilisation:.1%}" if first else "",
                _f(c.capacity_per_instance_per_s, 3) + (" m" if c.capacity_source != "model" else ""),
                _f(c.requests_per_s, 3),
            )
    sources = sorted({c.capacity_source for p in plan.pools for c in p.classes if c.capacity_source != "model"})
    if sources:
        t.caption = "m: measured capacity (" + "; ".join(s.removeprefix("measured: ") for s in sources) + "); others modelled"
    return t


def _summary(plan: Plan) -> Table:
    t = plain_table(show_header=False)
    t.add_column("", style="bold")
    t.add_column("")
    tp, c = plan.throughput, plan.cost
    t.add_row("throughput", f"{_f(tp.requests_per_s, 3)} req/s")
    t.add_row("", f"{tp.input_tokens_per_s:,.0f} input tok/s, {tp.output_tokens_per_s:,.0f} output tok/s")
    t.add_row("cost", f"${c.usd_per_hour:,.2f}/h for GPUs in use (owned fleet ${c.owned_usd_per_hour:,.2f}/h)")
    if c.usd_per_million_output_tokens is not None:
        t.add_row("", f"${c.usd_per_million_output_tokens:,.3f} per million output tokens")
    used = ", ".join(
        f"{g.gpu} {g.used}/{g.owned}" + (f" owned + {g.bought} bought" if g.bought else "")
        for g in plan.gpus
        if g.owned or g.bought
    )
    t.add_row("GPUs used", used or "none")
    for i, g in enumerate(g for g in plan.gpus if g.buy_limit):
        limit = "unlimited" if g.buy_limit >= UNLIMITED_PURCHASE else f"at most {g.buy_limit}"
        nodes = ""
        if g.buy_node_gpus:
            idle = max(0, g.bought - g.used)
            nodes = f" = {g.bought // g.buy_node_gpus} nodes of {g.buy_node_gpus}" + (
                f", {idle} idle (${idle * g.buy_price_usd_per_hour:,.2f}/h)" if idle else ""
            )
        t.add_row(
            "GPUs to buy" if i == 0 else "",
            f"{g.gpu}: {g.bought}{nodes} ({limit}) at ${g.buy_price_usd_per_hour:,.3f}/h each: {g.buy_price_source}",
        )
    singles = next((b for b in plan.baselines if b.name == "buying single GPUs" and b.feasible), None)
    if singles is not None and singles.cost_usd_per_hour is not None:
        extra = c.usd_per_hour - singles.cost_usd_per_hour
        t.add_row(
            "whole nodes",
            f"cost ${extra:,.2f}/h more than buying single GPUs (${singles.cost_usd_per_hour:,.2f}/h for "
            f"{singles.requests_per_s:,.3f} req/s; baselines)",
        )
    for i, f in enumerate(plan.kv_flows):
        link = f", {f.share_of_link:.1%} of {f.link_capacity_gb_per_s:,.0f} GB/s" if f.share_of_link is not None else ""
        t.add_row(
            "KV handoffs" if i == 0 else "",
            f"{f.requests_per_s:,.2f} req/s, {f.gb_per_s:,.2f} GB/s of {f.kv_dtype} KV {_kv_path(f.path)}{link}",
        )
    for i, n in enumerate(plan.nic_use):
        t.add_row(
            "NICs" if i == 0 else "",
            f"{n.gpu} {n.direction} {n.gb_per_s:,.2f} GB/s of {n.capacity_gb_per_s:,.0f} GB/s ({n.share_of_capacity:.1%})",
        )
    return t


def _kv_path(path: str) -> str:
    """The plan's KV path in words: within nodes (scale-up fabric), in a zone or over a link (NICs)."""
    if path.startswith("inside "):
        return path  # "inside h100-sxm nodes (scale-up fabric)"
    if path.startswith("zone "):
        return f"over the NICs within {path}"
    return f"over the NICs and {path}"


def _models(plan: Plan) -> Table:
    t = columns_table("Models sharing the fleet", ("workload", "model", "target req/s", "served req/s", "output tok/s", "GPUs"), left=("workload", "model"))
    for m in plan.models:
        t.add_row(m.name, m.model, _f(m.qps_target, 3), _f(m.requests_per_s, 3), _f(m.output_tokens_per_s, 0), str(m.gpus))
    return t


def _slo(plan: Plan) -> Table:
    t = columns_table("Predicted latency at the planned load (worst pool)", ("class", "TTFT ms", "= queue", "+ prefill", "+ KV transfer", "SLO", "TPOT ms", "SLO", "met"), left=("class",))
    for s in plan.slo_estimates:
        t.add_row(
            s.request_class,
            _f(s.ttft_ms, 0),
            _f(s.ttft_queue_ms, 0),
            _f(s.ttft_prefill_ms, 0),
            _f(s.ttft_transfer_ms, 1),
            _f(s.ttft_slo_ms, 0),
            _f(s.tpot_ms, 1),
            _f(s.tpot_slo_ms, 0),
            "yes" if s.met else "NO",
        )
    return t


def _advantage(plan: Plan) -> Group:
    multi = len(plan.models) > 1
    cols = ("GPU", "$/h", "prefill req/s", "decode req/s", "colocated req/s", "prefill/decode", "$/h per prefill req/s", "$/h per decode req/s")
    t = columns_table(
        "Comparative advantage (per GPU, this workload's class mix)", (("model",) if multi else ()) + cols, left=("model", "GPU")
    )
    for a in plan.advantage:
        t.add_row(
            *((a.model,) if multi else ()),
            a.gpu,
            _f(a.price_usd_per_hour),
            _f(a.prefill_per_gpu_per_s, 3),
            _f(a.decode_per_gpu_per_s, 3),
            _f(a.colocated_per_gpu_per_s, 3),
            _f(a.prefill_to_decode_ratio, 2),
            _f(a.usd_per_hour_per_prefill_rps),
            _f(a.usd_per_hour_per_decode_rps),
        )
    return Group(t, Text(advantage_sentence(plan) if not multi else ""))


def advantage_sentence(plan: Plan) -> str:
    """What the plan does with each GPU type and why, in words, for any number of types (one model)."""
    rows = sorted((a for a in plan.advantage if a.prefill_to_decode_ratio), key=lambda a: -a.prefill_to_decode_ratio)
    if not rows:
        return ""
    use = {}
    for a in rows:
        use[a.gpu] = tuple(sum(p.gpus for p in plan.pools if p.gpu == a.gpu and p.role == r) for r in ("prefill", "decode", "colocated"))
    avail = {g.gpu: g.owned + (g.buy_limit or 0) for g in plan.gpus}
    out = []
    if len(rows) > 1:
        out.append(
            "Prefill/decode capacity ratio: "
            + ", ".join(f"{a.gpu} {a.prefill_to_decode_ratio:.2f}" for a in rows)
            + f"; {rows[0].gpu} has the comparative advantage in prefill, {rows[-1].gpu} in decode."
        )
    does = []
    for a in rows:
        pre, dec, col = use[a.gpu]
        roles = [f"{n} {r}" for n, r in ((pre, "prefill"), (dec, "decode"), (col, "colocated")) if n]
        does.append(f"{a.gpu} " + (" + ".join(roles) + " GPUs" if roles else "unused"))
    out.append("The plan: " + "; ".join(does) + ".")
    against = [(hi.gpu, lo.gpu) for i, hi in enumerate(rows) for lo in rows[i + 1:] if use[lo.gpu][0] and use[hi.gpu][1]]
    if against:
        hi, lo = against[0]
        out.append(
            f"It goes against comparative advantage where {lo} prefills while {hi} decodes: integer instance sizes, "
            "SLO limits and the fleet's counts decide the split (see the binding constraints and baselines)."
        )
    elif len([a for a in rows if any(use[a.gpu])]) > 1:
        out.append("No type prefills while a more prefill-leaning type decodes: the split follows comparative advantage.")
    used = [a for a in rows if any(use[a.gpu])]
    cost_aware = plan.inputs.objective in ("min-cost", "max-tokens-per-dollar")
    for a in rows:
        if any(use[a.gpu]) or not avail.get(a.gpu) or not used:
            continue
        if not cost_aware:
            out.append(f"{a.gpu} is unused: its GPUs would add no throughput within the limits that bind (below).")
            continue
        pre_best = min(used, key=lambda u: u.usd_per_hour_per_prefill_rps or math.inf)
        dec_best = min(used, key=lambda u: u.usd_per_hour_per_decode_rps or math.inf)
        dearer = [
            f"{phase} (${mine:.2f} vs ${best:.2f} per req/s on {g})"
            for phase, mine, best, g in (
                ("prefill", a.usd_per_hour_per_prefill_rps, pre_best.usd_per_hour_per_prefill_rps, pre_best.gpu),
                ("decode", a.usd_per_hour_per_decode_rps, dec_best.usd_per_hour_per_decode_rps, dec_best.gpu),
            )
            if mine is not None and best is not None and mine > best
        ]
        if len(dearer) == 2:
            out.append(
                f"{a.gpu} is unused: per req/s it costs more in both phases, {dearer[0]} and {dearer[1]}; "
                "comparative advantage decides a split only between types that are each worth their price."
            )
        elif dearer:
            out.append(f"{a.gpu} is unused: it costs more per req/s in {dearer[0]}, and the other phase is served where it is.")
        else:
            out.append(f"{a.gpu} is unused: integer instance sizes and the fleet's counts leave it out.")
    return " ".join(out)


def _baselines(plan: Plan) -> Table:
    extra = plan.objective_unit not in ("requests/s", "USD/hour")  # else it repeats a column
    cols = ("baseline",) + ((plan.objective_unit,) if extra else ()) + ("req/s", "$/h", "plan is better by", "note")
    t = columns_table("Baselines on the same inputs", cols, left=("baseline", "note"))
    for b in plan.baselines:
        t.add_row(
            b.name,
            *((_f(b.objective_value, 3),) if extra else ()),
            _f(b.requests_per_s, 3),
            _f(b.cost_usd_per_hour),
            _pct(b.gain_of_plan) if b.feasible else "infeasible",
            "near-tie: " + ", ".join(f"{k} x{n}" for k, n in (b.pools or {}).items()) if b.near_tie else (b.reason or ""),
        )
    if any(b.near_tie for b in plan.baselines):
        t.caption = (
            "near-tie: a simpler plan within 1% of the optimum on its objective, well inside the performance "
            "model's error: consider running it instead (its pools listed)"
        )
    return t


def _marginal(plan: Plan) -> Table:
    unit = plan.objective_unit
    cols = ("add", "at $/h each", "Δ req/s", "Δ $/h", f"Δ objective ({unit})", "LP shadow price")
    unproven = any(not m.proven for m in plan.marginal_values)
    t = columns_table("Marginal value of more GPUs (re-solved)", cols + (("note",) if unproven else ()), left=("add", "note"))
    for m in plan.marginal_values:
        t.add_row(
            f"+{m.added_gpus} {m.gpu}",
            _f(m.price_usd_per_hour),
            _f(m.delta_requests_per_s, 3),
            _f(m.delta_cost_usd_per_hour),
            _f(m.delta_objective, 3),
            _f(m.lp_shadow_price, 3),
            *(("" if m.proven else "not proven: within the solves' gaps",) if unproven else ()),
        )
    return t


def _binding(plan: Plan) -> Table:
    t = plain_table("Binding constraints")
    t.add_column("constraint")
    t.add_column("meaning")
    for b in plan.binding:
        t.add_row(b.constraint, b.meaning)
    return t


def _notes(plan: Plan) -> Text:
    lines = [f"excluded {e.gpu}: {e.reason}" for e in plan.excluded] + [f"note: {n}" for n in plan.notes]
    return Text("\n".join(lines), style="dim")
