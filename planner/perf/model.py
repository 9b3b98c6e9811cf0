"""The performance model: memory fit, prefill latency and decode step time.

Symbols follow DESIGN.md: P active parameters, W weight bytes, L layers, d hidden size,
kv KV bytes per token, F peak dense FLOP/s in the compute dtype, B memory bandwidth, t the
tensor-parallel degree. All times are milliseconds.

Prefill of b prompts of s tokens on t GPUs::

    T = max(b(2Ps + 2Ls²d_attn) / (tF·mfu),  W/t / (B·mbu))
        + max(2L · 2(t-1)/t · b·s·d·2 bytes / bw_ar,              (two all-reduces per layer)
              2L·log2(t)·α + L·o_prefill)                         (fixed per-layer costs)

Decode step at batch b, mean context c::

    τ = max(W_read(b)/t / (B·mbu),  2Pb / (tF·mfu))              (weight GEMMs, roofline)
        + b·c·kv_gpu / (B·mbu)                                     (attention streams the KV)
        + 2L·[log2(t)·α + 2(t-1)/t · b·d·2 bytes / bw_ar]
        + L·(o_decode + b·o_seq)

Departure from DESIGN.md's single roofline over W + b·c·kv: the weight GEMMs and the attention
kernels run one after the other, so their times add; and the measured data needs a per-sequence
term (decode time grows with batch far faster than the KV bytes alone explain). MoE: decode
reads only the experts its batch touches, E·(1-(1-k/E)^b) of them per layer in expectation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from planner.catalog.types import Gpu, Model
from planner.perf.efficiency import Efficiency

ACTIVATION_BYTES = 2.0  # activations travel in 16-bit between layers (bf16/fp16)

# vLLM's default gpu_memory_utilization: the engine claims 90% of device memory; the rest is
# CUDA context, NCCL buffers and allocator slack (vLLM docs, EngineArgs).
GPU_MEMORY_UTILIZATION = 0.90
# Activation workspace is sized for one scheduler step of this many tokens (vLLM's default
# max_num_batched_tokens for chunked prefill is 8192 on large GPUs).
MAX_BATCHED_TOKENS = 8192


@dataclass(frozen=True)
class Deployment:
    """One model on one GPU type at one TP degree, with dtypes resolved."""

    gpu: Gpu
    model: Model
    tp: int
    weight_dtype: str
    kv_dtype: str
    compute_dtype: str  # the dtype whose peak FLOP/s prefill GEMMs run at
    eff: Efficiency

    # --- sizes -------------------------------------------------------------------------
    @property
    def weight_bytes(self) -> float:
        return self.model.weight_bytes(self.weight_dtype)

    @property
    def weight_bytes_per_gpu(self) -> float:
        return self.weight_bytes / self.tp

    @property
    def kv_bytes_per_token_per_gpu(self) -> float:
        kv = self.model.kv_bytes_per_token(self.kv_dtype)
        if self.model.attention == "mla":
            return kv  # the MLA latent is replicated on every TP rank, not sharded
        return kv / min(self.tp, self.model.kv_heads)

    @property
    def activation_workspace_bytes(self) -> float:
        m = self.model
        per_token = (4 * m.hidden + 2 * m.intermediate / self.tp) * ACTIVATION_BYTES
        return MAX_BATCHED_TOKENS * per_token

    @property
    def kv_budget_bytes(self) -> float:
        """Memory left for the KV cache on each GPU (may be negative: the model does not fit)."""
        return (
            self.gpu.mem_bytes * GPU_MEMORY_UTILIZATION
            - self.weight_bytes_per_gpu
            - self.activation_workspace_bytes
        )

    def max_tokens_in_cache(self) -> int:
        return max(0, int(self.kv_budget_bytes // self.kv_bytes_per_token_per_gpu))

    def max_batch(self, context_tokens: float) -> int:
        """Requests of `context_tokens` (prompt + output) whose KV fits at once."""
        return int(self.max_tokens_in_cache() // max(1, context_tokens))

    # --- rates -------------------------------------------------------------------------
    @property
    def flops_per_s(self) -> float:
        return self.gpu.tflops[self.compute_dtype] * 1e12

    @property
    def bw_bytes_per_s(self) -> float:
        return self.gpu.mem_bw_tb_s * 1e12

    def _allreduce_ms(self, message_bytes: float) -> tuple[float, float]:
        """(latency part, bandwidth part) of the 2L all-reduces of one forward pass, ms."""
        t = self.tp
        if t == 1:
            return 0.0, 0.0
        e, n = self.eff, 2 * self.model.layers
        bus_gb_s = e.allreduce_gb_s
        if self.gpu.tp_over_pcie and self.gpu.pcie_gb_s_bidir:
            bus_gb_s = min(bus_gb_s, self.gpu.pcie_gb_s_bidir / 2)  # one direction of the PCIe link
        latency = n * math.log2(t) * e.allreduce_latency_us * 1e-3
        bandwidth = n * 2 * (t - 1) / t * message_bytes / (bus_gb_s * 1e9) * 1e3
        return latency, bandwidth

    # --- times -------------------------------------------------------------------------
    def prefill_ms(self, prompt_tokens: float, batch: int = 1) -> float:
        m, e, t = self.model, self.eff, self.tp
        s = float(prompt_tokens)
        flops = batch * (2 * m.active_params * s + 2 * m.layers * s * s * m.attention_dim)
        compute_s = flops / (t * self.flops_per_s * e.mfu)
        weights_s = self.model.weight_bytes_read(self.weight_dtype, batch * s) / t / (
            self.bw_bytes_per_s * e.mbu
        )
        latency, bandwidth = self._allreduce_ms(batch * s * m.hidden * ACTIVATION_BYTES)
        overhead = m.layers * e.prefill_overhead_us_per_layer * 1e-3
        # large all-reduce transfers hide the fixed per-layer cost (launches, NCCL set-up), small
        # passes pay it: the larger of the two shows (this fits the TP4/TP8 rows best)
        return max(compute_s, weights_s) * 1e3 + max(bandwidth, overhead + latency)

    def decode_step_ms(self, batch, context_tokens: float):
        """Step time for a batch (a number, or a numpy array of batch sizes)."""
        m, e, t = self.model, self.eff, self.tp
        b = np.asarray(batch, dtype=float) if not isinstance(batch, (int, float)) else float(batch)
        weights_s = self.model.weight_bytes_read(self.weight_dtype, b) / t / (
            self.bw_bytes_per_s * e.mbu
        )
        compute_s = 2 * m.active_params * b / (t * self.flops_per_s * e.mfu)
        kv_s = b * context_tokens * self.kv_bytes_per_token_per_gpu / (self.bw_bytes_per_s * e.mbu)
        comm = sum(self._allreduce_ms(b * m.hidden * ACTIVATION_BYTES))
        overhead = m.layers * (e.decode_overhead_us_per_layer + b * e.decode_us_per_seq_layer) * 1e-3
        return (np.maximum(weights_s, compute_s) + kv_s) * 1e3 + comm + overhead
