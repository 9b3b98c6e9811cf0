"""Efficiency parameters of the performance model, per GPU family.

A roofline with peak FLOP/s and bandwidth is several times too optimistic for real serving
engines (see `planner/perf/data/splitwise/`). These parameters close the gap:

    mfu                           share of peak dense FLOP/s that prefill GEMMs reach
    mbu                           share of peak HBM bandwidth that weight and KV streaming reach
    allreduce_gb_s                effective bus bandwidth of one tensor-parallel all-reduce
                                  (large messages: prefill activations)
    allreduce_latency_us          latency of one all-reduce per doubling of the TP degree
                                  (log2(t) steps of a tree/recursive-doubling all-reduce)
    prefill_overhead_us_per_layer fixed cost per layer of a prefill forward pass (kernel
                                  launches, scheduling; eager mode in 2023-era vLLM)
    decode_overhead_us_per_layer  the same for one decode step
    decode_us_per_seq_layer       per running sequence, per layer, per decode step (attention
                                  launch, paged-KV bookkeeping, sampling)
    ttft_queue_factor             scale of the wait a prompt spends queued for the per-step
                                  token budget of a chunked-prefill scheduler (1: M/D/1;
                                  serving profiles fit it on closed-loop TTFT)
    ttft_burst_share              share of a burst's queue in the mean TTFT of a closed-loop
                                  benchmark: the client starts all C requests at once, so the
                                  first wave queues for (C-1)/2 prompts at the full token
                                  budget; over W waves of requests its share is about 1/W
                                  (serving predictions only; open-loop planning has no burst)
    ttft_fixed_ms                 latency every request's first token carries regardless of
                                  load (HTTP, tokenisation, scheduling and detokenisation
                                  between client and engine); serving predictions only
    moe_mfu_factor                share of the dense MFU that the grouped expert GEMMs of an
                                  MoE layer reach (1: as dense)

Each serving engine has its own parameters per GPU family (`EngineRules` below holds the
engine's scheduler and memory rules): `planner/catalog/data/engines/<engine>.yaml`, fitted on
measured data with the fit's provenance (`vllm-2023`: the splitwise rows, by `make fit`; the
current engines: closed-loop serving points, by `make fit-engines`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


# parameters beyond the seven kernel-level ones: fitted on serving points only
_SERVING = ("ttft_queue_factor", "ttft_burst_share", "ttft_fixed_ms", "moe_mfu_factor")


@dataclass(frozen=True)
class Efficiency:
    mfu: float
    mbu: float
    allreduce_gb_s: float
    allreduce_latency_us: float
    prefill_overhead_us_per_layer: float
    decode_overhead_us_per_layer: float
    decode_us_per_seq_layer: float
    ttft_queue_factor: float = 1.0
    ttft_burst_share: float = 0.0
    ttft_fixed_ms: float = 0.0
    moe_mfu_factor: float = 1.0
    source: str = ""

    @classmethod
    def names(cls) -> list[str]:
        """The seven parameters of a prefill pass and a decode step: what kernel-level
        measurements fit (`planner calibrate`, `make fit`) and a profile file must give."""
        return [f.name for f in fields(cls) if f.name not in _SERVING and f.name != "source"]

    @classmethod
    def all_names(cls) -> list[str]:
        """Every parameter: the seven, and those of the serving model (closed-loop TTFT, MoE)."""
        return [f.name for f in fields(cls) if f.name != "source"]

    def as_vector(self) -> list[float]:
        return [getattr(self, n) for n in self.names()]

    @classmethod
    def from_vector(cls, v: list[float], source: str = "") -> "Efficiency":
        return cls(**dict(zip(cls.names(), (float(x) for x in v))), source=source)

    def with_overrides(self, overrides: dict[str, Any] | None) -> "Efficiency":
        if not overrides:
            return self
        given = {k: v for k, v in overrides.items() if v is not None}
        if not given:
            return self
        return replace(self, **given, source=f"{self.source}; user overrides: {sorted(given)}")


@dataclass(frozen=True)
class EngineRules:
    """What a serving engine decides that the performance model needs: how it sizes the KV cache,
    how many sequences and tokens one scheduler step may hold, and how it interleaves prefill
    with decode in a colocated instance. Loaded from `planner/catalog/data/engines/*.yaml`
    (each value sourced there)."""

    id: str  # vllm | sglang | trtllm | vllm-2023
    name: str
    versions: str  # the versions the profile describes
    memory_rule: str  # "total": fraction of device memory; "free": fraction of what weights leave
    memory_fraction: float
    memory_flag: str  # the engine's own name for the fraction
    max_num_seqs: int  # running sequences per step (default)
    max_batched_tokens: int  # tokens per scheduler step (chunked-prefill budget)
    # "chunked" (vLLM V1, SGLang): decodes first, prompt chunks fill the token budget;
    # "inflight" (TensorRT-LLM): whole prompts join the decodes' iteration within the budget;
    # "prefill-first" (vLLM 2023): prompts run in passes of their own that stall the decodes
    scheduler: str
    source: str = ""

    @property
    def chunked(self) -> bool:
        """Prompts share a step with the running decodes (chunked or in-flight batching)."""
        return self.scheduler != "prefill-first"


@dataclass(frozen=True)
class ProfileInfo:
    """Where an engine profile's parameters for one GPU family come from."""

    engine: str
    family: str
    fitted_family: str  # the family whose rows were fitted (itself unless borrowed)
    borrowed: bool
    rows: int  # measured points the fit rests on
    source: str
    error: dict  # measured error of the fit: {metric: {median_abs, p90_abs, rows}}
    why: str = ""  # borrowed: why that family
