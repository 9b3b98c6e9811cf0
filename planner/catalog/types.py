"""Typed GPU and model facts (built from `planner/catalog/data/*.yaml` or user overrides)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from planner.perf.efficiency import Efficiency, EngineRules, ProfileInfo

DTYPE_BYTES = {"fp16": 2.0, "bf16": 2.0, "fp8": 1.0}


@dataclass(frozen=True)
class Gpu:
    id: str
    name: str
    vendor: str
    family: str
    mem_bytes: float
    mem_bw_tb_s: float
    tflops: dict[str, float | None]  # dense peak per dtype: fp16, bf16, fp8, fp4
    bf16: bool
    fp8: str  # ocp | fnuz | weight-only | none
    scaleup_domain_gpus: int
    gpus_per_node: int
    pcie_gb_s_bidir: float | None
    network_gbit_s: float
    network_source: str
    price_usd_per_hour: float | None
    price_source: str
    efficiency: Efficiency
    engine: EngineRules | None = None  # the serving engine whose profile `efficiency` is
    profile: ProfileInfo | None = None  # where `efficiency` comes from
    sources: tuple[str, ...] = ()
    verification: str = ""
    notes: str = ""

    @property
    def max_tp(self) -> int:
        """TP stays inside one node: its scale-up domain, or PCIe where there is no such link."""
        if self.scaleup_domain_gpus <= 1:
            return self.gpus_per_node
        return max(1, min(self.scaleup_domain_gpus, self.gpus_per_node))

    @property
    def tp_over_pcie(self) -> bool:
        return self.scaleup_domain_gpus <= 1

    @property
    def flop_per_byte_bf16(self) -> float:
        peak = self.tflops.get("bf16") or self.tflops.get("fp16") or 0.0
        return peak * 1e12 / (self.mem_bw_tb_s * 1e12)


@dataclass(frozen=True)
class Moe:
    experts: int
    experts_per_token: int
    shared_experts: int = 0


@dataclass(frozen=True)
class Model:
    id: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    attention: str  # mha | gqa | mla
    attention_dim: int
    intermediate: int
    total_params_b: float
    active_params_b: float
    native_dtype: str
    weight_bytes_per_param: float
    kv_bytes_per_token_bf16: float
    max_context_tokens: int
    moe: Moe | None = None
    source: str = ""
    notes: str = ""
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    @property
    def active_params(self) -> float:
        return self.active_params_b * 1e9

    @property
    def total_params(self) -> float:
        return self.total_params_b * 1e9

    def weight_bytes(self, weight_dtype: str) -> float:
        if weight_dtype == self.native_dtype:
            return self.total_params * self.weight_bytes_per_param
        return self.total_params * DTYPE_BYTES[weight_dtype]

    def weight_bytes_read(self, weight_dtype: str, tokens: float) -> float:
        """Weight bytes one forward pass over `tokens` tokens streams from memory.

        Dense models read everything. An MoE layer reads the experts its tokens are routed to:
        with E experts and k per token, E·(1-(1-k/E)^tokens) distinct experts in expectation
        (uniform routing).
        """
        total = self.weight_bytes(weight_dtype)
        if self.moe is None or self.moe.experts <= self.moe.experts_per_token:
            return total
        e, k = self.moe.experts, self.moe.experts_per_token
        per_expert = (self.total_params - self.active_params) / (e - k)
        expert_params = per_expert * e
        bytes_per_param = total / self.total_params
        touched = e * (1 - (1 - k / e) ** np.maximum(tokens, 1.0))
        return (self.total_params - expert_params + per_expert * touched) * bytes_per_param

    @property
    def routed_params_per_token(self) -> float:
        """Parameters of the routed experts one token runs through (0 for a dense model)."""
        if self.moe is None or self.moe.experts <= self.moe.experts_per_token:
            return 0.0
        e, k = self.moe.experts, self.moe.experts_per_token
        return (self.total_params - self.active_params) / (e - k) * k

    def kv_bytes_per_token(self, kv_dtype: str) -> float:
        return self.kv_bytes_per_token_bf16 * DTYPE_BYTES[kv_dtype] / 2.0
