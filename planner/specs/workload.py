"""Workload profile: which model, request shapes, traffic and latency SLOs.

Example (`workloads/chat-llama70b.yaml`)::

    name: chat
    model: llama-3.1-70b        # catalog id, or a mapping with the architecture
    weight_dtype: bf16          # optional; default: the model's native dtype
    kv_dtype: bf16              # optional; default: bf16
    classes:                    # request classes: shares must sum to 1
      - {name: short, prompt_tokens: 512, output_tokens: 256, share: 0.7}
      - {name: long, prompt_tokens: 4096, output_tokens: 512, share: 0.3}
    traffic:
      qps: max                  # or a number: the target in requests/s
    slo:                        # optional: without it the workload is offline batch work
      ttft_ms: 2000
      tpot_ms: 80
      percentile: 90
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from planner.specs.base import Strict, at, bounded

Dtype = Literal["fp16", "bf16", "fp8"]
TokenCount = Annotated[int, Field(ge=1, le=10_000_000)]


class ModelArchitecture(Strict):
    """An explicit architecture for a model that is not in the catalog."""

    id: str = Field(min_length=1, max_length=64)
    layers: Annotated[int, Field(ge=1, le=1000)]
    hidden: Annotated[int, Field(ge=1)]
    heads: Annotated[int, Field(ge=1)]
    kv_heads: Annotated[int, Field(ge=1)]
    head_dim: Annotated[int, Field(ge=1)]
    total_params_b: bounded(0.001, 1e5, "billion parameters")
    active_params_b: bounded(0.001, 1e5, "billion parameters") | None = None
    native_dtype: Dtype = "bf16"
    max_context_tokens: TokenCount = 131072
    kv_bytes_per_token_bf16: bounded(1, 1e9, "bytes") | None = None

    @model_validator(mode="after")
    def _active_le_total(self) -> "ModelArchitecture":
        if self.active_params_b is not None and self.active_params_b > self.total_params_b:
            raise ValueError("active_params_b cannot exceed total_params_b")
        if self.kv_heads > self.heads:
            raise ValueError("kv_heads cannot exceed heads")
        return self


class RequestClass(Strict):
    """One request class: mean prompt and output tokens (not necessarily whole: a class
    derived from a distribution carries its members' exact means) and its share of requests."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    prompt_tokens: bounded(1, 1e7, "tokens")
    output_tokens: bounded(1, 1e7, "tokens")
    share: Annotated[float, Field(gt=0, le=1)]


def _qps(v: object) -> object:
    if v in ("max", "trace"):
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError("must be 'max', 'trace' (the trace's arrival rate) or a number of requests/s")
    if not (v == v and 1e-6 <= v <= 1e7):  # v == v: not NaN
        raise ValueError("must be a positive, finite number of requests/s (1e-06 to 1e+07), or 'max'")
    return float(v)


class Traffic(Strict):
    qps: Annotated[Literal["max", "trace"] | float, BeforeValidator(_qps)] = "max"


class LognormalTokens(Strict):
    mean: bounded(1, 1e7, "tokens")
    sigma: bounded(0.01, 5, "(the standard deviation of the log)")


class Lognormal(Strict):
    prompt_tokens: LognormalTokens
    output_tokens: LognormalTokens


class RequestSource(Strict):
    """Request classes from a distribution (see `planner.specs.distributions`)."""

    trace: str | None = Field(default=None, min_length=1, max_length=4096)  # relative to the workload file
    lognormal: Lognormal | None = None
    prompt_buckets: Annotated[int, Field(ge=1, le=16)] = 3
    output_buckets: Annotated[int, Field(ge=1, le=16)] = 2

    @model_validator(mode="after")
    def _one_source(self) -> "RequestSource":
        if (self.trace is None) == (self.lognormal is None):
            raise ValueError("give exactly one of trace or lognormal")
        return self


class Slo(Strict):
    ttft_ms: bounded(0.001, 1e8, "ms") | None = None
    tpot_ms: bounded(0.001, 1e7, "ms") | None = None
    percentile: Annotated[float, Field(ge=50, lt=100)] = 90.0


class WorkloadSpec(Strict):
    name: str | None = Field(default=None, max_length=128)
    description: str | None = None
    model: Annotated[str, Field(min_length=1, max_length=64)] | ModelArchitecture
    weight_dtype: Dtype | None = None
    kv_dtype: Dtype = "bf16"
    # when prefill and decode GPUs store the KV cache in different dtypes (a fleet entry's
    # kv_dtype): allow the handoff (the wire carries the sender's dtype, the receiver converts)
    # or forbid such pairings
    kv_conversion: Literal["allow", "forbid"] = "allow"
    classes: list[RequestClass] | None = Field(default=None, min_length=1, max_length=64)
    requests: RequestSource | None = None
    traffic: Traffic = Traffic()
    slo: Slo | None = None
    tp_degrees: list[Annotated[int, Field(ge=1, le=64)]] = [1, 2, 4, 8]

    @field_validator("tp_degrees")
    @classmethod
    def _powers_of_two(cls, v: list[int]) -> list[int]:
        if not v:
            raise ValueError("give at least one tensor-parallel degree")
        for t in v:
            if t & (t - 1):
                raise ValueError(f"tensor-parallel degree {t} is not a power of two")
        return sorted(set(v))

    @model_validator(mode="after")
    def _classes(self) -> "WorkloadSpec":
        if (self.classes is None) == (self.requests is None):
            raise ValueError(at(("classes",), "give exactly one of classes (a histogram) or requests (a distribution)"))
        if self.traffic.qps == "trace" and (self.requests is None or self.requests.trace is None):
            raise ValueError(at(("traffic", "qps"), "qps: trace needs requests.trace"))
        if self.classes is None:
            return self
        names = [c.name for c in self.classes]
        for i, n in enumerate(names):
            if n in names[:i]:
                raise ValueError(at(("classes", i, "name"), f"request class name '{n}' is used twice"))
        total = sum(c.share for c in self.classes)
        if abs(total - 1.0) > 1e-6:
            raise ValueError(at(("classes",), f"class shares must sum to 1 (they sum to {total:.6g})"))
        return self

    @property
    def has_slo(self) -> bool:
        return self.slo is not None and (self.slo.ttft_ms is not None or self.slo.tpot_ms is not None)
