"""`planner estimate`: the performance model's numbers for one configuration."""

from __future__ import annotations

from planner.catalog import catalog
from planner.errors import InfeasibleError, InputError
from planner.perf.capacity import compute_dtype
from planner.perf.model import Deployment


def resolve_deployment(
    gpu_id: str,
    model_id: str,
    tp: int,
    weight_dtype: str | None = None,
    kv_dtype: str = "bf16",
    engine: str | None = None,
) -> Deployment:
    """The Deployment for command-line choices: catalog ids, weight dtype (default: the model's
    native one), a power-of-two TP within the node, a math dtype the GPU supports, the serving
    engine's profile (default: the catalog's default engine). Errors name the option (--gpu,
    --model, --tp, --dtype, --engine)."""
    cat = catalog()
    gpu, model = cat.gpu(gpu_id, "--gpu"), cat.model(model_id, "--model")
    if engine is not None:
        gpu = cat.gpu_on(gpu, engine, "--engine")
    wdt = weight_dtype or model.native_dtype
    if wdt not in ("fp16", "bf16", "fp8"):
        raise InputError(f"--dtype: {model.id} ships {model.native_dtype} weights; choose fp16, bf16 or fp8")
    if tp < 1 or tp & (tp - 1):
        raise InputError(f"--tp: {tp} is not a power of two")
    if tp > gpu.max_tp:
        raise InputError(f"--tp: {tp} exceeds {gpu.id}'s {gpu.max_tp}-GPU node / scale-up domain")
    cdt, why = compute_dtype(gpu, wdt, kv_dtype)
    if cdt is None:
        raise InfeasibleError(why)
    return Deployment(gpu, model, tp, wdt, kv_dtype, cdt, gpu.efficiency)


def estimate(
    gpu_id: str,
    model_id: str,
    tp: int,
    batch: int,
    prompt_tokens: int,
    context_tokens: int | None = None,
    weight_dtype: str | None = None,
    kv_dtype: str = "bf16",
    engine: str | None = None,
    concurrency: int | None = None,
    output_tokens: int | None = None,
) -> dict:
    """The model's numbers for one configuration; with `concurrency`, also what a closed-loop
    benchmark client holding that many requests of `prompt_tokens`/`output_tokens` in flight on
    one colocated instance would measure (mean TTFT and TPOT; `planner.perf.serving`)."""
    d = resolve_deployment(gpu_id, model_id, tp, weight_dtype, kv_dtype, engine)
    gpu, model, wdt, cdt = d.gpu, d.model, d.weight_dtype, d.compute_dtype
    ctx = context_tokens or prompt_tokens
    fits = d.kv_budget_bytes >= ctx * d.kv_bytes_per_token_per_gpu
    out = {
        "gpu": gpu.id,
        "engine": d.engine.id,
        "model": model.id,
        "tp": tp,
        "weight_dtype": wdt,
        "kv_dtype": kv_dtype,
        "compute_dtype": cdt,
        "batch": batch,
        "prompt_tokens": prompt_tokens,
        "context_tokens": ctx,
        "prefill_ms": round(d.prefill_ms(prompt_tokens, batch), 3),
        "prefill_tokens_per_s": round(batch * prompt_tokens / d.prefill_ms(prompt_tokens, batch) * 1e3, 1),
        "decode_step_ms": round(float(d.decode_step_ms(batch, ctx)), 3),
        "decode_tokens_per_s": round(batch / float(d.decode_step_ms(batch, ctx)) * 1e3, 1),
        "engine_rules": {
            "memory_rule": d.engine.memory_rule,
            "memory_fraction": d.engine.memory_fraction,
            "memory_flag": d.engine.memory_flag,
            "max_num_seqs": d.max_num_seqs,
            "max_batched_tokens": d.max_batched_tokens,
            "scheduler": d.engine.scheduler,
        },
        "memory": {
            "usable_bytes_per_gpu": round(d.usable_bytes_per_gpu),
            "weight_bytes_per_gpu": round(d.weight_bytes_per_gpu),
            "workspace_bytes_per_gpu": round(d.activation_workspace_bytes),
            "kv_budget_bytes_per_gpu": round(max(0.0, d.kv_budget_bytes)),
            "kv_bytes_per_token_per_gpu": round(d.kv_bytes_per_token_per_gpu, 1),
            "max_tokens_in_cache": d.max_tokens_in_cache(),
            "max_batch_at_context": min(d.max_batch(ctx), d.max_num_seqs),
            "fits": fits,
        },
        "efficiency": {n: v for n, v in ((n, getattr(gpu.efficiency, n)) for n in gpu.efficiency.all_names())}
        | {"source": gpu.efficiency.source},
    }
    if concurrency is not None:
        out["serving"] = serving(d, prompt_tokens, output_tokens or 256, concurrency)
    return out


def serving(d: Deployment, prompt_tokens: int, output_tokens: int, concurrency: int) -> dict:
    """A closed-loop benchmark's mean TTFT, mean TPOT and output tokens/s per GPU
    (= C / (TTFT + O·TPOT) · O / GPUs, the definition of the measured serving points)."""
    from planner.perf.serving import closed_loop

    p = closed_loop(d, prompt_tokens, output_tokens, concurrency)
    ttft, tpot = float(p.ttft_ms[0]), float(p.tpot_ms[0])
    return {
        "concurrency": concurrency,
        "prompt_tokens": prompt_tokens,
        "output_tokens": output_tokens,
        "ttft_ms": round(ttft, 2),
        "tpot_ms": round(tpot, 3),
        "output_tokens_per_s_per_gpu": round(concurrency / ((ttft + output_tokens * tpot) / 1e3) * output_tokens / d.tp, 1),
        "mean_running_decodes": round(float(p.batch[0]), 1),
        "limit": str(p.limit[0]),
        "definition": "closed loop: the client keeps C requests in flight; mean TTFT and TPOT as a benchmark reports them",
    }
