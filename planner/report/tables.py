"""Catalog and estimate tables for the terminal (rich), and their JSON rows."""

from __future__ import annotations

from rich.table import Table

from planner.catalog import catalog
from planner.report.fmt import columns_table, plain_table


def gpu_rows() -> list[dict]:
    out = []
    for g in catalog().gpus.values():
        out.append(
            {
                "id": g.id,
                "name": g.name,
                "family": g.family,
                "mem_gib": round(g.mem_bytes / 2**30, 1),
                "mem_bw_tb_s": g.mem_bw_tb_s,
                "tflops_dense": g.tflops,
                "fp8": g.fp8,
                "bf16": g.bf16,
                "max_tp": g.max_tp,
                "network_gbit_s": g.network_gbit_s,
                "price_usd_per_hour": g.price_usd_per_hour,
                "price_source": g.price_source,
                "sources": list(g.sources),
                "verification": g.verification,
                "efficiency_source": g.efficiency.source,
            }
        )
    return out


def gpus_table() -> Table:
    t = columns_table("GPU catalog (dense TFLOP/s; sources: planner/catalog/data/gpus.yaml)", ("id", "GiB", "TB/s", "bf16 TF", "fp8 TF", "fp8", "max TP", "NIC Gb/s", "$/h", "sources", "verification"), left=("id", "fp8", "sources", "verification"))
    for r in gpu_rows():
        tf = r["tflops_dense"]
        t.add_row(
            r["id"],
            f"{r['mem_gib']:g}",
            f"{r['mem_bw_tb_s']:g}",
            f"{tf['bf16'] or tf['fp16'] or 0:g}",
            "-" if tf["fp8"] is None else f"{tf['fp8']:g}",
            r["fp8"],
            str(r["max_tp"]),
            f"{r['network_gbit_s']:g}",
            "-" if r["price_usd_per_hour"] is None else f"{r['price_usd_per_hour']:g}",
            ", ".join(r["sources"]),
            r["verification"],
        )
    t.optional = ("verification", "sources")
    return t


def model_rows() -> list[dict]:
    out = []
    for m in catalog().models.values():
        out.append(
            {
                "id": m.id,
                "total_params_b": m.total_params_b,
                "active_params_b": m.active_params_b,
                "layers": m.layers,
                "hidden": m.hidden,
                "heads": m.heads,
                "kv_heads": m.kv_heads,
                "attention": m.attention,
                "native_dtype": m.native_dtype,
                "kv_bytes_per_token_bf16": m.kv_bytes_per_token_bf16,
                "max_context_tokens": m.max_context_tokens,
                "moe": None if m.moe is None else {"experts": m.moe.experts, "experts_per_token": m.moe.experts_per_token},
                "source": m.source,
            }
        )
    return out


def models_table() -> Table:
    t = columns_table("Model catalog (sources: planner/catalog/data/models.yaml)", ("id", "params B", "active B", "layers", "hidden", "heads/kv", "attn", "dtype", "KV B/token", "context", "MoE"), left=("id", "attn", "dtype", "MoE"))
    for r in model_rows():
        moe = r["moe"]
        t.add_row(
            r["id"],
            f"{r['total_params_b']:g}",
            f"{r['active_params_b']:g}",
            str(r["layers"]),
            str(r["hidden"]),
            f"{r['heads']}/{r['kv_heads']}",
            r["attention"],
            r["native_dtype"],
            f"{r['kv_bytes_per_token_bf16']:,.0f}",
            f"{r['max_context_tokens']:,}",
            "-" if moe is None else f"{moe['experts']}x top-{moe['experts_per_token']}",
        )
    t.optional = ("hidden", "attn", "dtype")
    return t


def estimate_table(r: dict) -> Table:
    t = plain_table(
        f"{r['model']} on {r['gpu']} TP{r['tp']} ({r['weight_dtype']} weights, {r['kv_dtype']} KV, {r['compute_dtype']} math)",
        show_header=False,
    )
    t.add_column("", style="bold")
    t.add_column("")
    mem = r["memory"]
    t.add_row("prefill", f"{r['prefill_ms']:,.1f} ms for {r['batch']} x {r['prompt_tokens']} tokens ({r['prefill_tokens_per_s']:,.0f} tok/s)")
    t.add_row("decode step", f"{r['decode_step_ms']:,.2f} ms at batch {r['batch']}, context {r['context_tokens']} ({r['decode_tokens_per_s']:,.0f} tok/s)")
    t.add_row("weights / GPU", f"{mem['weight_bytes_per_gpu'] / 1e9:,.2f} GB")
    t.add_row("KV budget / GPU", f"{mem['kv_budget_bytes_per_gpu'] / 1e9:,.2f} GB of {mem['usable_bytes_per_gpu'] / 1e9:,.2f} GB usable")
    t.add_row("KV cache", f"{mem['max_tokens_in_cache']:,} tokens; max batch at this context {mem['max_batch_at_context']}")
    t.add_row("fits", "yes" if mem["fits"] else "NO")
    t.add_row("efficiency", r["efficiency"]["source"])
    return t
