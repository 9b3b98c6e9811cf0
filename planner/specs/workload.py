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
    hidden: Annotated[int, Field(ge=1, le=1_000_000)]  # the largest models have 16,384-25,600
    heads: Annotated[int, Field(ge=1, le=10_000)]
    kv_heads: Annotated[int, Field(ge=1, le=10_000)]
    head_dim: Annotated[int, Field(ge=1, le=10_000)]
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
        if self.heads % self.kv_heads:
            raise ValueError(
                f"kv_heads ({self.kv_heads}) must divide heads ({self.heads}): each KV head serves an equal group "
                "of query heads (grouped-query attention)"
            )
        return self


class RequestClass(Strict):
    """One request class: mean prompt and output tokens (not necessarily whole: a class
    derived from a distribution carries its members' exact means) and its share of requests."""

    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
    prompt_tokens: bounded(1, 1e7, "tokens")
    output_tokens: bounded(1, 1e7, "tokens")
    share: Annotated[float, Field(ge=0, le=1)]  # 0: listed but left out (the plan says so)


# class shares (and grid shares) must sum to 1 within this; within it they are normalised and
# the plan says by how much: it admits shares rounded to 3 decimals over up to 10 classes and the
# published cases whose shares sum to 0.999999; a sum further off is a mistake, not rounding
SHARE_SUM_TOL = 0.005


# QPS targets from 1e-3 req/s (3.6 requests an hour) to 1e7: below it the solvers' absolute
# tolerances (HiGHS primal feasibility 1e-7, integrality 1e-6) come within 0.1% of the traffic
# itself, and plans of 1e-6 req/s read as zero plans ("proven optimal" with 0 GPUs)
MIN_QPS = 1e-3
MAX_QPS = 1e7


def _qps(v: object) -> object:
    if v in ("max", "trace"):
        return v
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError("must be 'max', 'trace' (the trace's arrival rate) or a number of requests/s")
    if not (v == v and MIN_QPS <= v <= MAX_QPS):  # v == v: not NaN
        raise ValueError(f"must be a number of requests/s from {MIN_QPS:g} to {MAX_QPS:g}, or 'max'")
    return float(v)


class Traffic(Strict):
    qps: Annotated[Literal["max", "trace"] | float, BeforeValidator(_qps)] = "max"


class LognormalTokens(Strict):
    mean: bounded(1, 1e7, "tokens")
    sigma: bounded(0.01, 5, "(the standard deviation of the log)")


class Lognormal(Strict):
    prompt_tokens: LognormalTokens
    output_tokens: LognormalTokens


class Grid(Strict):
    """A prompt-length x output-length grid with a share per cell, as load-testing tools report
    request mixes: shares[i][j] is the share of prompts of prompt_tokens[i] tokens with
    output_tokens[j] output tokens (cells with share 0 are dropped; shares sum to 1)."""

    prompt_tokens: list[bounded(1, 1e7, "tokens")] = Field(min_length=1, max_length=16)
    output_tokens: list[bounded(1, 1e7, "tokens")] = Field(min_length=1, max_length=16)
    shares: list[list[Annotated[float, Field(ge=0, le=1)]]]

    @model_validator(mode="after")
    def _shape(self) -> "Grid":
        rows, cols = len(self.prompt_tokens), len(self.output_tokens)
        if len(self.shares) != rows or any(len(r) != cols for r in self.shares):
            raise ValueError(at(("shares",), f"shares must be {rows} rows (prompt lengths) of {cols} (output lengths)"))
        total = sum(map(sum, self.shares))
        if abs(total - 1.0) > SHARE_SUM_TOL:
            raise ValueError(at(("shares",), f"grid shares must sum to 1 within {SHARE_SUM_TOL:g} (they sum to {total:.6g})"))
        for name, values in (("prompt_tokens", self.prompt_tokens), ("output_tokens", self.output_tokens)):
            if len(set(values)) != len(values):
                raise ValueError(at((name,), f"{name} lists a length twice"))
        if sum(1 for r in self.shares for x in r if x > 0) > 64:
            raise ValueError(at(("shares",), "at most 64 cells with a share above 0"))
        return self


class RequestSource(Strict):
    """Request classes from a distribution (see `planner.specs.distributions`) or a grid."""

    trace: str | None = Field(default=None, min_length=1, max_length=4096)  # relative to the workload file
    lognormal: Lognormal | None = None
    grid: Grid | None = None
    prompt_buckets: Annotated[int, Field(ge=1, le=16)] = 3
    output_buckets: Annotated[int, Field(ge=1, le=16)] = 2

    @model_validator(mode="after")
    def _one_source(self) -> "RequestSource":
        if sum(x is not None for x in (self.trace, self.lognormal, self.grid)) != 1:
            raise ValueError("give exactly one of trace, lognormal or grid")
        return self


class MeasuredCapacity(Strict):
    """A measured per-instance capacity that replaces the performance model's estimate.

    `requests_per_s`: requests/s one instance sustained within the SLOs in a load test (for one
    class, or for every class when the workload has one). Or throughputs per instance:
    `prefill_tokens_per_s` (prefill role: requests/s = it / prompt tokens), `decode_tokens_per_s`
    (decode role: it / output tokens); a colocated instance with both serves
    1 / (prompt/prefill + output/decode) requests/s."""

    gpu: str = Field(min_length=1, max_length=64)
    tp: Annotated[int, Field(ge=1, le=64)]
    role: Literal["prefill", "decode", "colocated"]
    request_class: str | None = Field(default=None, alias="class", min_length=1, max_length=64)
    requests_per_s: bounded(1e-6, 1e7, "requests/s") | None = None
    prefill_tokens_per_s: bounded(1e-3, 1e10, "tokens/s") | None = None
    decode_tokens_per_s: bounded(1e-3, 1e10, "tokens/s") | None = None
    source: str | None = Field(default=None, max_length=256)

    @model_validator(mode="after")
    def _one_kind(self) -> "MeasuredCapacity":
        tokens = (self.prefill_tokens_per_s, self.decode_tokens_per_s)
        if self.requests_per_s is not None and any(t is not None for t in tokens):
            raise ValueError(at(("requests_per_s",), "give requests_per_s or tokens per second, not both"))
        if self.requests_per_s is None:
            need = {"prefill": ("prefill_tokens_per_s",), "decode": ("decode_tokens_per_s",),
                    "colocated": ("prefill_tokens_per_s", "decode_tokens_per_s")}[self.role]
            missing = [n for n in need if getattr(self, n) is None]
            if missing:
                raise ValueError(at((missing[0],), f"a {self.role} measurement needs requests_per_s or {' and '.join(need)}"))
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
    measured_capacities: list[MeasuredCapacity] = Field(default_factory=list, max_length=10_000)
    # true: plan only on the (configuration, class) capacities measured_capacities gives; false:
    # the configurations they do not name keep the performance model's capacities (the plan says so)
    measured_only: bool = False

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
        if not any(c.share > 0 for c in self.classes):
            raise ValueError(at(("classes",), "every class has share 0: give at least one a share above 0"))
        total = sum(c.share for c in self.classes)
        if abs(total - 1.0) > SHARE_SUM_TOL:
            raise ValueError(
                at(("classes",), f"class shares must sum to 1 within {SHARE_SUM_TOL:g} (they sum to {total:.6g})")
            )
        return self

    @property
    def has_slo(self) -> bool:
        return self.slo is not None and (self.slo.ttft_ms is not None or self.slo.tpot_ms is not None)
