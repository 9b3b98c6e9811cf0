"""Performance-model building blocks, checked against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from planner.catalog import catalog
from planner.perf.capacity import compute_dtype
from planner.perf.efficiency import Efficiency
from planner.perf.model import Deployment
from planner.perf.queueing import max_utilisation, wait_quantile_ms, wait_quantile_ms_array

CAT = catalog()
IDEAL = Efficiency(1.0, 1.0, 1e15, 0.0, 0.0, 0.0, 0.0, "ideal roofline")  # comm ~free


def dep(gpu="h100-sxm", model="llama-3.1-70b", tp=4, w="bf16", kv="bf16", eff=IDEAL):
    g, m = CAT.gpu(gpu), CAT.model(model)
    cdt, _ = compute_dtype(g, w, kv)
    return Deployment(g, m, tp, w, kv, cdt, eff)


def test_kv_bytes_per_token():
    m = CAT.model("llama-3.1-70b")
    assert m.kv_bytes_per_token("bf16") == 2 * 80 * 8 * 128 * 2 == 327680
    assert m.kv_bytes_per_token("fp8") == 163840
    assert dep(tp=4).kv_bytes_per_token_per_gpu == 327680 / 4
    # GQA with 8 KV heads: TP16 cannot split further than 8 ways
    assert dep(tp=16).kv_bytes_per_token_per_gpu == 327680 / 8


def test_mla_latent_is_replicated_across_tp():
    d = dep(gpu="h200-sxm", model="deepseek-v3", tp=8, w="fp8")
    assert d.kv_bytes_per_token_per_gpu == (512 + 64) * 61 * 2 == 70272


def test_moe_decode_reads_only_touched_experts():
    m = CAT.model("mixtral-8x7b")
    total = m.weight_bytes("bf16")
    one = m.weight_bytes_read("bf16", 1)
    # one token touches 2 of 8 experts: shared + 2/8 of expert weights
    e, k = 8, 2
    per_expert = (m.total_params - m.active_params) / (e - k)
    expected = (m.total_params - e * per_expert + 2 * per_expert) * 2
    assert one == pytest.approx(expected)
    assert one == pytest.approx(m.active_params * 2, rel=1e-9)  # k experts + shared = active
    assert m.weight_bytes_read("bf16", 10_000) == pytest.approx(total, rel=1e-9)


def test_ideal_prefill_is_the_flop_roofline():
    d = dep(tp=4)
    m = d.model
    s = 2048
    flops = 2 * m.active_params * s + 2 * m.layers * s * s * m.attention_dim
    expected_ms = flops / (4 * 989.5e12) * 1e3
    assert d.prefill_ms(s) == pytest.approx(expected_ms, rel=1e-9)


def test_ideal_decode_is_the_bandwidth_roofline():
    d = dep(tp=4)
    b, ctx = 16, 1000
    bytes_read = d.weight_bytes / 4 + b * ctx * 327680 / 4
    assert float(d.decode_step_ms(b, ctx)) == pytest.approx(bytes_read / 3.35e12 * 1e3, rel=1e-9)


def test_tp_comm_latency_term():
    eff = Efficiency(1.0, 1.0, 1e12, 10.0, 0.0, 0.0, 0.0, "")
    d1, d8 = dep(tp=1, gpu="h200-sxm", eff=eff), dep(tp=8, gpu="h200-sxm", eff=eff)
    # 2 all-reduces per layer, log2(8) = 3 steps of 10 us each
    extra = float(d8.decode_step_ms(1, 1)) - float(d1.decode_step_ms(1, 1)) / 8
    comm_ms = 2 * 80 * 3 * 10e-3
    bw = 2 * 80 * 2 * 7 / 8 * 8192 * 2 / 1e21 * 1e3
    assert extra == pytest.approx(comm_ms + bw, rel=1e-6)


def test_memory_budget_and_fit():
    d = dep(tp=2)
    usable = 85899345920 * 0.9
    weights = 70.554e9 * 2 / 2
    workspace = 8192 * (4 * 8192 + 2 * 28672 / 2) * 2
    assert d.kv_budget_bytes == pytest.approx(usable - weights - workspace)
    assert d.max_tokens_in_cache() == int((usable - weights - workspace) // (327680 / 2))
    assert dep(tp=1).kv_budget_bytes < 0  # 141 GB of weights on one 80 GB GPU


def test_dtype_support_is_enforced():
    assert compute_dtype(CAT.gpu("a100-80-sxm"), "fp8", "bf16") == ("bf16", "")  # W8A16
    assert compute_dtype(CAT.gpu("h100-sxm"), "fp8", "fp8") == ("fp8", "")
    cdt, why = compute_dtype(CAT.gpu("v100-sxm2-32gb"), "bf16", "bf16")
    assert cdt is None and "no bf16" in why
    cdt, why = compute_dtype(CAT.gpu("v100-sxm2-32gb"), "fp8", "bf16")
    assert cdt is None and "FP8" in why
    assert compute_dtype(CAT.gpu("v100-sxm2-32gb"), "fp16", "bf16") == ("fp16", "")


def test_md1_wait_quantile_formula():
    # rho 0.5, S 100 ms, p90: S / (2(1 - rho)) * ln(rho / 0.1) = 100 * ln 5
    assert wait_quantile_ms(0.5, 100, 90) == pytest.approx(100 * math.log(5))
    assert wait_quantile_ms(0.05, 100, 90) == 0.0  # most arrivals find the server idle
    assert wait_quantile_ms(1.0, 100, 90) == math.inf
    arr = wait_quantile_ms_array(np.array([0.05, 0.5, 1.0]), 100, 90)
    assert list(arr[:2]) == pytest.approx([0.0, 100 * math.log(5)]) and math.isinf(arr[2])


def test_utilisation_cap_inverts_the_quantile():
    rho = max_utilisation(100, 100 * math.log(5), 90)
    assert rho == pytest.approx(0.5, abs=1e-9)
    assert max_utilisation(100, -1, 90) == 0.0


def test_missing_tensor_rate_excludes_with_a_reason():
    # Gaudi 3's fp16 matrix rate is unverified in the reference catalog (null): no made-up number
    cdt, why = compute_dtype(CAT.gpu("gaudi3"), "fp16", "bf16")
    assert cdt is None and "no fp16 tensor rate" in why and "overrides.tflops_dense.fp16" in why
    assert compute_dtype(CAT.gpu("gaudi3"), "bf16", "bf16") == ("bf16", "")
