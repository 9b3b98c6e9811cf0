"""`planner estimate`: the performance model's numbers for one configuration."""

from __future__ import annotations

from planner.catalog import catalog
from planner.errors import InfeasibleError, InputError
from planner.perf.capacity import MAX_NUM_SEQS, compute_dtype
from planner.perf.model import GPU_MEMORY_UTILIZATION, Deployment


def resolve_deployment(
    gpu_id: str, model_id: str, tp: int, weight_dtype: str | None = None, kv_dtype: str = "bf16"
) -> Deployment:
    """The Deployment for command-line choices: catalog ids, weight dtype (default: the model's
    native one), a power-of-two TP within the node, a math dtype the GPU supports. Errors name
    the option (--gpu, --model, --tp, --dtype)."""
    cat = catalog()
    gpu, model = cat.gpu(gpu_id, "--gpu"), cat.model(model_id, "--model")
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
) -> dict:
    d = resolve_deployment(gpu_id, model_id, tp, weight_dtype, kv_dtype)
    gpu, model, wdt, cdt = d.gpu, d.model, d.weight_dtype, d.compute_dtype
    ctx = context_tokens or prompt_tokens
    fits = d.kv_budget_bytes >= ctx * d.kv_bytes_per_token_per_gpu
    return {
        "gpu": gpu.id,
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
        "memory": {
            "usable_bytes_per_gpu": round(gpu.mem_bytes * GPU_MEMORY_UTILIZATION),
            "weight_bytes_per_gpu": round(d.weight_bytes_per_gpu),
            "workspace_bytes_per_gpu": round(d.activation_workspace_bytes),
            "kv_budget_bytes_per_gpu": round(max(0.0, d.kv_budget_bytes)),
            "kv_bytes_per_token_per_gpu": round(d.kv_bytes_per_token_per_gpu, 1),
            "max_tokens_in_cache": d.max_tokens_in_cache(),
            "max_batch_at_context": min(d.max_batch(ctx), MAX_NUM_SEQS),
            "fits": fits,
        },
        "efficiency": {n: v for n, v in zip(gpu.efficiency.names(), gpu.efficiency.as_vector())}
        | {"source": gpu.efficiency.source},
    }
