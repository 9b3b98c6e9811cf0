"""The capacity table's types: per-class capacities of each configuration (GPU type, TP degree,
role), built by `planner.perf.capacity` and adjusted by `planner.perf.measured`."""

from __future__ import annotations

from dataclasses import dataclass, field

from planner.perf.model import Deployment
from planner.problem import Problem


@dataclass(frozen=True)
class ClassCapacity:
    rate_per_s: float  # requests/s one instance sustains within the SLOs (0: cannot serve)
    batch: int = 0  # decode/colocated: running sequences; prefill: prompts per pass
    prefill_ms: float = 0.0  # one prefill pass
    step_ms: float = 0.0  # one decode step at `batch`
    utilisation_cap: float = 0.0  # prefill: ρ cap from the TTFT SLO; colocated: prefill share φ
    ttft_ms: float = 0.0  # predicted TTFT percentile at capacity (excl. KV transfer for colocated)
    tpot_ms: float = 0.0  # predicted TPOT at capacity
    transfer_ms: float = 0.0  # KV-cache transfer of one request (prefill role)
    kv_bytes: float = 0.0  # KV bytes one request hands from prefill to decode
    limit: str = ""  # what limits the capacity (memory, tpot-slo, ttft-slo, max-num-seqs)
    reason: str = ""  # why the rate is 0
    measured: str = ""  # "": modelled; else the source of the measured rate that replaced it


@dataclass(frozen=True)
class Config:
    gpu_id: str
    tp: int
    role: str
    deployment: Deployment
    caps: dict[str, ClassCapacity]  # by (joint-problem) class name: this model's classes only
    served: str = ""  # the workload (model) it serves
    prefix: str = ""  # "<workload>/" when several models share the fleet, so keys stay unique

    @property
    def key(self) -> str:
        return f"{self.prefix}{self.gpu_id}:tp{self.tp}:{self.role}"


@dataclass
class CapacityTable:
    configs: list[Config]
    excluded: dict[str, str] = field(default_factory=dict)  # gpu id -> why it cannot serve at all
    tp_notes: dict[str, list[str]] = field(default_factory=dict)  # gpu id -> TP degrees left out and why
    notes: list[str] = field(default_factory=list)  # how the table was built (measured and modelled mixed)

    def for_gpu(self, gpu_id: str, served: str | None = None) -> list[Config]:
        return [c for c in self.configs if c.gpu_id == gpu_id and (served is None or c.served == served)]

    def usable(self, problem: Problem) -> list[Config]:
        """Configurations the problem's fleet can build (TP degree within the GPU count).

        The table itself holds every TP degree the node allows, so that re-solves with more
        GPUs (marginal values) reuse it."""
        counts = {e.gpu.id: e.max_count for e in problem.entries}
        return [c for c in self.configs if c.gpu_id in counts and c.tp <= counts[c.gpu_id]]
