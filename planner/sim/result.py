"""The simulation's result: a versioned, deterministic JSON document (same inputs and seed,
same bytes). Floats carry 6 significant digits, as in the plan (`planner.plan`)."""

from __future__ import annotations

from typing import Literal

from planner.plan import _Out

SIM_SCHEMA_VERSION = "1.1"  # 1.1: pools[].planned_busy


class SimInputs(_Out):
    fleet: str
    workload: str
    plan_digest_sha256: str
    arrivals: Literal["poisson", "trace"]
    load: float
    seed: int
    requests: int  # generated (or read from the trace)
    duration_s: float  # span of the arrivals
    warmup_s: float  # arrivals and completions before this are not measured
    measured_window_s: float


class SimThroughput(_Out):
    name: str  # a served model's workload name, or "total"
    planned_requests_per_s: float  # the plan's rate x load
    offered_requests_per_s: float  # arrivals in the measured window
    completed_requests_per_s: float  # completions in the measured window
    throughput_ratio: float | None  # completed / planned (x load)
    completion_ratio: float | None  # completed / offered


class SimLatency(_Out):
    scope: Literal["overall", "model", "class"]
    name: str
    requests: int  # measured requests (arrived within the window), all of which completed
    ttft_ms_p50: float | None
    ttft_ms_p90: float | None
    ttft_ms_p99: float | None
    tpot_ms_p50: float | None
    tpot_ms_p90: float | None
    tpot_ms_p99: float | None
    decode_wait_ms_p90: float | None  # disaggregated: KV arrived -> admitted to a decode batch
    ttft_slo_ms: float | None
    tpot_slo_ms: float | None
    slo_percentile: float | None  # the target share (90: 90% of requests within the SLOs)
    ttft_attainment: float | None  # share of requests meeting the TTFT SLO
    tpot_attainment: float | None
    both_attainment: float | None
    meets_target: bool | None  # TTFT and TPOT attainment each at least the target share


class SimPool(_Out):
    model: str
    gpu: str
    role: Literal["prefill", "decode", "colocated"]
    tp: int
    instances: int
    requests: int  # requests this pool finished (prefill or decode) in the window
    planned_utilisation: float  # the plan's load as a share of the pool's capacity within the SLOs
    planned_busy: float | None  # prefill: busy share the plan implies at this load (rate x load x pass time / prompts)
    utilisation: float  # busy share of the window (prefill passes and decode steps)
    planned_batch: int | None  # decode/colocated: the largest planned batch of its classes
    mean_batch: float | None  # decode/colocated: mean running sequences per decode step
    mean_queue: float  # waiting requests per instance, time-averaged (prompts; decode: admission)
    max_queue: int  # the most waiting at one instance


class SimResult(_Out):
    schema_version: str
    inputs: SimInputs
    throughput: list[SimThroughput]  # per model, then "total"
    latency: list[SimLatency]  # overall, per model (several models), per class
    pools: list[SimPool]
    notes: list[str]
