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
from planner.perf.efficiency import Efficiency, EngineRules

ACTIVATION_BYTES = 2.0  # activations travel in 16-bit between layers (bf16/fp16)


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

    # --- the engine ------------------------------------------------------------------------
    @property
    def engine(self) -> EngineRules:
        """The serving engine's rules (memory, batch, scheduler), carried by the GPU type (a GPU
        built by hand without them: the catalog's default engine)."""
        if self.gpu.engine is not None:
            return self.gpu.engine
        from planner.catalog import catalog

        return catalog().engine(None, self.gpu)

    @property
    def max_num_seqs(self) -> int:
        return self.engine.max_num_seqs

    @property
    def max_batched_tokens(self) -> int:
        return self.engine.max_batched_tokens

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
        return self.max_batched_tokens * per_token

    @property
    def usable_bytes_per_gpu(self) -> float:
        """Memory the engine lets weights, workspace and KV cache use: a share of the device
        (vLLM gpu_memory_utilization, SGLang mem_fraction_static), or everything, with the KV
        cache then taking a share of what is left (TensorRT-LLM free_gpu_memory_fraction)."""
        e = self.engine
        return self.gpu.mem_bytes * (e.memory_fraction if e.memory_rule == "total" else 1.0)

    @property
    def kv_budget_bytes(self) -> float:
        """Memory left for the KV cache on each GPU (may be negative: the model does not fit)."""
        left = self.usable_bytes_per_gpu - self.weight_bytes_per_gpu - self.activation_workspace_bytes
        if self.engine.memory_rule == "free" and left > 0:
            return left * self.engine.memory_fraction
        return left

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
        bus_gb_s = e.allreduce_gb_s  # the engine profile's effective rate on this interconnect
        if self.gpu.tp_over_pcie and self.gpu.pcie_gb_s_bidir:
            bus_gb_s = min(bus_gb_s, self.gpu.pcie_gb_s_bidir / 2)  # at most one direction of the PCIe link
        latency = n * math.log2(t) * e.allreduce_latency_us * 1e-3
        bandwidth = n * 2 * (t - 1) / t * message_bytes / (bus_gb_s * 1e9) * 1e3
        return latency, bandwidth

    # --- times -------------------------------------------------------------------------
    def prefill_ms(self, prompt_tokens: float, batch: int = 1) -> float:
        m, e, t = self.model, self.eff, self.tp
        s = float(prompt_tokens)
        attn = batch * 2 * m.layers * s * s * m.attention_dim / (t * self.flops_per_s * e.mfu)
        compute_s = self._gemm_s(batch * s) + attn
        weights_s = self.model.weight_bytes_read(self.weight_dtype, batch * s) / t / (
            self.bw_bytes_per_s * e.mbu
        )
        latency, bandwidth = self._allreduce_ms(batch * s * m.hidden * ACTIVATION_BYTES)
        overhead = m.layers * e.prefill_overhead_us_per_layer * 1e-3
        # large all-reduce transfers hide the fixed per-layer cost (launches, NCCL set-up), small
        # passes pay it: the larger of the two shows (this fits the TP4/TP8 rows best)
        return max(compute_s, weights_s) * 1e3 + max(bandwidth, overhead + latency)

    def _gemm_s(self, tokens):
        """Seconds of weight-GEMM math for `tokens` tokens: dense layers at mfu, the routed
        experts of an MoE model at mfu x moe_mfu_factor (grouped GEMMs)."""
        m, e = self.model, self.eff
        rate = self.tp * self.flops_per_s * e.mfu
        expert = m.routed_params_per_token
        return 2 * (m.active_params - expert) * tokens / rate + 2 * expert * tokens / (rate * e.moe_mfu_factor)

    def step_ms(self, batch, context_tokens, prefill_tokens=0.0, prompt_tokens=1.0):
        """One step of a chunked-prefill scheduler: `batch` running decodes at mean context
        `context_tokens`, plus `prefill_tokens` prompt tokens (chunks of prompts of
        `prompt_tokens` tokens) in the same forward pass. Numbers or numpy arrays.

        The prompt tokens share the step's weight reads with the decodes (one GEMM over
        b + p rows), add their attention math and their share of the all-reduce traffic, and
        a step carrying a whole prompt pays the per-layer prefill cost once. With no prefill
        tokens this is `decode_step_ms`."""
        m, e, t = self.model, self.eff, self.tp
        b = np.asarray(batch, dtype=float)
        p = np.asarray(prefill_tokens, dtype=float)
        s = np.asarray(prompt_tokens, dtype=float)
        tokens = b + p
        weights_s = self.model.weight_bytes_read(self.weight_dtype, tokens) / t / (self.bw_bytes_per_s * e.mbu)
        attn_s = 2 * m.layers * p * s * m.attention_dim / (t * self.flops_per_s * e.mfu)
        compute_s = self._gemm_s(tokens) + attn_s
        kv_s = b * context_tokens * self.kv_bytes_per_token_per_gpu / (self.bw_bytes_per_s * e.mbu)
        comm = sum(self._allreduce_ms(tokens * m.hidden * ACTIVATION_BYTES))
        overhead = m.layers * (
            e.decode_overhead_us_per_layer
            + b * e.decode_us_per_seq_layer
            + np.minimum(1.0, p / np.maximum(s, 1.0)) * e.prefill_overhead_us_per_layer
        ) * 1e-3
        return (np.maximum(weights_s, compute_s) + kv_s) * 1e3 + comm + overhead

    def mean_step_ms(self, batch, context_tokens, prefill_tokens, prompt_tokens):
        """The mean step of a chunked-prefill scheduler that carries `prefill_tokens` prompt
        tokens per step on average: prompts arrive whole, so a share f = p / c of the steps
        carry a chunk of c = min(s, N - b) tokens and the rest decode only. The mean of the
        two step times, not the step at the mean tokens: the weight-bound decode step lets a
        few prompt tokens ride free, a whole chunk does not (Jensen: max(W, C) is convex)."""
        b = np.asarray(batch, dtype=float)
        p = np.asarray(prefill_tokens, dtype=float)
        chunk = np.maximum(np.minimum(np.asarray(prompt_tokens, dtype=float), self.max_batched_tokens - b), 1.0)
        share = np.minimum(1.0, p / chunk)
        full = self.step_ms(b, context_tokens, np.where(share >= 1.0, p, chunk), prompt_tokens)
        bare = self.step_ms(b, context_tokens, 0.0, prompt_tokens)
        return share * full + (1 - share) * bare

    def decode_step_ms(self, batch, context_tokens: float):
        """Step time for a batch (a number, or a numpy array of batch sizes)."""
        m, e, t = self.model, self.eff, self.tp
        b = np.asarray(batch, dtype=float) if not isinstance(batch, (int, float)) else float(batch)
        weights_s = self.model.weight_bytes_read(self.weight_dtype, b) / t / (
            self.bw_bytes_per_s * e.mbu
        )
        compute_s = self._gemm_s(b)
        kv_s = b * context_tokens * self.kv_bytes_per_token_per_gpu / (self.bw_bytes_per_s * e.mbu)
        comm = sum(self._allreduce_ms(b * m.hidden * ACTIVATION_BYTES))
        overhead = m.layers * (e.decode_overhead_us_per_layer + b * e.decode_us_per_seq_layer) * 1e-3
        return (np.maximum(weights_s, compute_s) + kv_s) * 1e3 + comm + overhead
