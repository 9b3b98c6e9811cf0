"""The performance model over a grid of shapes, for one GPU type, model and TP degree.

    prefill   Deployment.prefill_ms(prompt_tokens, batch): one pass of `batch` prompts, per
              (batch, prompt length)
    decode    Deployment.decode_step_ms(batch, context_tokens): one step of `batch` sequences
              at a mean context of `context_tokens`, per (batch, context length)
    memory    weights per GPU, activation workspace, KV budget, KV bytes per token, tokens the
              cache holds, and the largest batch at each context length

Every cell carries its time even where the shape does not fit, and a `limit` that says why it
does not: "weights" (the weights alone exceed the usable memory), "kv-cache" (batch x tokens
exceeds the tokens the KV cache holds), "max-context" (longer than the model's context window).
The engine's scheduler cap (`max_num_seqs` running sequences) is reported, not enforced.
Dtypes and their errors are `estimate.resolve_deployment`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from planner.errors import InputError
from planner.perf.efficiency import Efficiency
from planner.perf.estimate import resolve_deployment
from planner.perf.model import Deployment


@dataclass(frozen=True)
class Cell:
    batch: int
    tokens: float  # prompt length (prefill) or mean context (decode)
    time_ms: float
    tokens_per_s: float  # prefill: prompt tokens processed; decode: tokens generated
    limit: str = ""  # "" (fits), weights, kv-cache, max-context

    @property
    def fits(self) -> bool:
        return not self.limit


@dataclass(frozen=True)
class MemoryBudget:
    usable_bytes_per_gpu: float
    weight_bytes_per_gpu: float
    workspace_bytes_per_gpu: float
    kv_budget_bytes_per_gpu: float  # negative: the weights do not fit
    kv_bytes_per_token_per_gpu: float
    max_tokens_in_cache: int
    max_batch_by_context: dict[int, int]  # context length -> requests whose KV fits at once
    max_num_seqs: int = 0  # the engine's scheduler cap


@dataclass(frozen=True)
class ModelGrid:
    deployment: Deployment
    batches: list[int]
    prompt_lengths: list[int]
    context_lengths: list[int]
    prefill: list[list[Cell]]  # [batch][prompt length]
    decode: list[list[Cell]]  # [batch][context length]
    memory: MemoryBudget

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (times in ms, sizes in bytes)."""
        d = self.deployment

        def cells(rows: list[list[Cell]], key: str) -> list[dict[str, Any]]:
            return [
                {
                    "batch": c.batch,
                    key: c.tokens,
                    "time_ms": round(c.time_ms, 3),
                    "tokens_per_s": round(c.tokens_per_s, 1),
                    "fits": c.fits,
                    "limit": c.limit or None,
                }
                for row in rows
                for c in row
            ]

        m = self.memory
        return {
            "gpu": d.gpu.id,
            "model": d.model.id,
            "tp": d.tp,
            "weight_dtype": d.weight_dtype,
            "kv_dtype": d.kv_dtype,
            "compute_dtype": d.compute_dtype,
            "batches": list(self.batches),
            "prompt_lengths": list(self.prompt_lengths),
            "context_lengths": list(self.context_lengths),
            "prefill": cells(self.prefill, "prompt_tokens"),
            "decode": cells(self.decode, "context_tokens"),
            "memory": {
                "usable_bytes_per_gpu": round(m.usable_bytes_per_gpu),
                "weight_bytes_per_gpu": round(m.weight_bytes_per_gpu),
                "workspace_bytes_per_gpu": round(m.workspace_bytes_per_gpu),
                "kv_budget_bytes_per_gpu": round(m.kv_budget_bytes_per_gpu),
                "kv_bytes_per_token_per_gpu": round(m.kv_bytes_per_token_per_gpu, 1),
                "max_tokens_in_cache": m.max_tokens_in_cache,
                "max_batch_by_context": {str(c): b for c, b in m.max_batch_by_context.items()},
                "max_num_seqs": m.max_num_seqs,
            },
            "efficiency": {n: getattr(d.eff, n) for n in Efficiency.all_names()} | {"source": d.eff.source},
        }


def model_grid(
    gpu_id: str,
    model_id: str,
    tp: int,
    batches: Sequence[int] = (1, 8, 32),
    prompt_lengths: Sequence[int] = (512, 2048),
    context_lengths: Sequence[int] = (1024, 4096),
    weight_dtype: str | None = None,
    kv_dtype: str = "bf16",
    efficiency: Efficiency | None = None,
    engine: str | None = None,
) -> ModelGrid:
    """Prefill and decode times over batches x lengths, and the memory budget.

    `efficiency` replaces the catalog's parameters (e.g. `calibrate.load_profile(path)`)."""
    for name, values in (("batches", batches), ("prompt lengths", prompt_lengths), ("context lengths", context_lengths)):
        bad = [v for v in values if int(v) != v or v < 1]
        if bad or not values:
            raise InputError(f"{name}: expected whole numbers >= 1, got {list(values) or 'none'}")
    d = resolve_deployment(gpu_id, model_id, tp, weight_dtype, kv_dtype, engine)
    if efficiency is not None:
        d = replace(d, eff=efficiency)
    cache = d.max_tokens_in_cache()
    max_ctx = d.model.max_context_tokens

    def limit(batch: int, tokens: float) -> str:
        if d.kv_budget_bytes <= 0:
            return "weights"
        if tokens > max_ctx:
            return "max-context"
        return "kv-cache" if batch * tokens > cache else ""

    prefill = []
    decode = []
    for b in batches:
        row = []
        for s in prompt_lengths:
            ms = d.prefill_ms(s, b)
            row.append(Cell(b, s, ms, b * s / ms * 1e3, limit(b, s)))
        prefill.append(row)
        row = []
        for c in context_lengths:
            ms = float(d.decode_step_ms(b, c))
            row.append(Cell(b, c, ms, b / ms * 1e3, limit(b, c)))
        decode.append(row)
    memory = MemoryBudget(
        usable_bytes_per_gpu=d.usable_bytes_per_gpu,
        max_num_seqs=d.max_num_seqs,
        weight_bytes_per_gpu=d.weight_bytes_per_gpu,
        workspace_bytes_per_gpu=d.activation_workspace_bytes,
        kv_budget_bytes_per_gpu=d.kv_budget_bytes,
        kv_bytes_per_token_per_gpu=d.kv_bytes_per_token_per_gpu,
        max_tokens_in_cache=cache,
        max_batch_by_context={int(c): d.max_batch(c) for c in context_lengths},
    )
    return ModelGrid(d, list(batches), list(prompt_lengths), list(context_lengths), prefill, decode, memory)
