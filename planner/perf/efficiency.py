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

Defaults are fitted by `planner.perf.fit` on the measured splitwise rows (vLLM 2023, FP16) and
stored in `planner/catalog/data/efficiency.yaml` with the fit's provenance.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any


@dataclass(frozen=True)
class Efficiency:
    mfu: float
    mbu: float
    allreduce_gb_s: float
    allreduce_latency_us: float
    prefill_overhead_us_per_layer: float
    decode_overhead_us_per_layer: float
    decode_us_per_seq_layer: float
    source: str = ""

    @classmethod
    def names(cls) -> list[str]:
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
