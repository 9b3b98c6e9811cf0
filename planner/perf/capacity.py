"""Per-instance capacities: how many requests per second of each class one instance of a
configuration (GPU type, TP degree, role) serves within the SLOs.

    prefill    prompts are packed into passes of up to the engine's max_batched_tokens; the instance
               is an M/D/1 queue whose utilisation cap keeps the TTFT percentile (queueing +
               prefill + KV transfer) within the SLO. capacity = ρ · batch / T_prefill.
    decode     continuous batching: the largest mean batch b whose KV fits (full prompt + output
               per request reserved) and whose step time meets the TPOT SLO, both at the
               batch's percentile b + z_p·√b (see `batch_quantile`).
               capacity = b / (τ(b) · output tokens).
    colocated  one instance does both (DESIGN.md): at rate r, prefill takes φ = r·T_p of its
               time and each request sees a TPOT of τ(b) + b·T_p/o; capacity
               r(b) = b / (b·T_p + o·τ(b)), for the largest b meeting memory, TPOT and TTFT
               (memory and TPOT at the batch's percentile, as for decode). T_p is the pass
               time per prompt with n prompts to a pass, n no more than a prefill-first
               scheduler gathers: 1 + r·τ(b) (the prompt that finds the instance busy, plus
               those arriving during one decode step).

Batch headroom (checked with the discrete-event simulator, `planner/sim`): the number of running
sequences of a decode instance fluctuates around its mean b like a Poisson count (M/G/∞), so
planning the mean batch at the TPOT limit puts half the requests over the SLO. Memory and TPOT
are therefore checked at the SLO percentile of the batch, b + z_p·√b (z_p the standard normal
quantile; 90th: b + 1.28√b). Without a TPOT SLO (offline batch work) the mean batch is planned.

Mixed classes share an instance through the optimiser's busy-time constraint; each class's
capacity is computed as if the instance served that class alone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from planner.catalog.types import Gpu
from planner.perf.measured import apply_measured  # measured capacities replace estimates
from planner.perf.model import Deployment
from planner.perf.table import CapacityTable, ClassCapacity, Config  # noqa: F401 (re-exported)
from planner.perf.queueing import max_utilisation, wait_quantile_ms, wait_quantile_ms_array
from planner.problem import PlanClass, Problem, Served

ROLES = ("prefill", "decode", "colocated")


def compute_dtype(gpu: Gpu, weight_dtype: str, kv_dtype: str) -> tuple[str | None, str]:
    """(dtype prefill GEMMs run at, or None, and the reason when None)."""
    if kv_dtype == "fp8" and gpu.fp8 == "none":
        return None, f"{gpu.id} cannot hold an FP8 KV cache (no FP8 support)"
    if weight_dtype == "fp8":
        if gpu.fp8 in ("ocp", "fnuz"):
            cdt = "fp8"
        elif gpu.fp8 == "weight-only":  # W8A16: FP8 weights, 16-bit math (vLLM Marlin kernels)
            cdt = "bf16" if gpu.bf16 else "fp16"
        else:
            return None, f"{gpu.id} has no FP8 support, not even weight-only; use weight_dtype fp16"
    elif weight_dtype == "bf16" and not gpu.bf16:
        return None, f"{gpu.id} has no bf16 support; set weight_dtype: fp16 to run the model in fp16"
    else:
        cdt = weight_dtype
    if not gpu.tflops.get(cdt):
        return None, (
            f"{gpu.id} has no {cdt} tensor rate in the catalog (unverified); use another weight_dtype "
            f"or give overrides.tflops_dense.{cdt}"
        )
    return cdt, ""


def build_capacity_table(problem: Problem) -> CapacityTable:
    table = CapacityTable(configs=[])
    for served in problem.served:
        _add_served(table, problem, served)
    apply_measured(table, problem)
    return table


def _add_served(table: CapacityTable, problem: Problem, served: Served) -> None:
    """Configurations of one model on every GPU type (keys of `excluded`/`tp_notes`: the GPU id,
    or "<workload> on <gpu>" when several models share the fleet)."""
    classes = [k for k in problem.classes if k.served == served.name]
    longest = max(c.prompt_tokens + c.output_tokens for c in classes)
    prefix = f"{served.name}/" if problem.multi else ""
    for entry in problem.entries:
        gpu = entry.gpu
        label = f"{served.name} on {gpu.id}" if problem.multi else gpu.id
        kv_dtype = served.kv_dtype_on(entry)
        cdt, why = compute_dtype(gpu, served.weight_dtype, kv_dtype)
        if cdt is None:
            table.excluded[label] = why
            continue
        notes: list[str] = []
        largest: Deployment | None = None
        fitted = False
        for tp in served.tp_degrees:
            if tp > gpu.max_tp:
                notes.append(f"TP{tp} exceeds the {gpu.max_tp}-GPU node/scale-up domain")
                continue
            d = Deployment(gpu, served.model, tp, served.weight_dtype, kv_dtype, cdt, gpu.efficiency)
            largest = d
            need = longest * d.kv_bytes_per_token_per_gpu
            if d.kv_budget_bytes < need:
                notes.append(
                    f"TP{tp} does not fit: {d.weight_bytes_per_gpu / 1e9:.1f} GB weights per GPU + workspace "
                    f"leave {max(d.kv_budget_bytes, 0) / 1e9:.1f} GB of {d.usable_bytes_per_gpu / 1e9:.1f} GB "
                    f"for KV, one {longest:g}-token request needs {need / 1e9:.2f} GB"
                )
                continue
            if tp > entry.max_count:  # kept in the table (a marginal re-solve may add GPUs); unused here
                notes.append(f"TP{tp} needs {tp} GPUs, the fleet has {entry.max_count}")
            fitted = True
            for role in ROLES:
                caps = {c.name: class_capacity(d, role, c, served) for c in classes}
                table.configs.append(Config(gpu.id, tp, role, d, caps, served.name, prefix))
        if notes:
            table.tp_notes[label] = notes
        if not fitted:
            table.excluded[label] = _fits_nowhere(served.model.id, gpu, largest, longest)


def _fits_nowhere(model_id: str, gpu: Gpu, largest: Deployment | None, longest: int) -> str:
    """The model fits on no TP degree of this GPU: by how much, at the largest one allowed."""
    if largest is None:
        return f"{model_id} fits on no {gpu.id} configuration: no TP degree allowed"
    d = largest
    need = d.weight_bytes_per_gpu + d.activation_workspace_bytes + longest * d.kv_bytes_per_token_per_gpu
    have = d.usable_bytes_per_gpu
    return (
        f"{model_id} fits on no {gpu.id} configuration: at TP{d.tp}, the most its node allows, one "
        f"{longest:g}-token request needs {need / 1e9:.1f} GB per GPU ({d.weight_bytes_per_gpu / 1e9:.1f} GB of "
        f"weights) of {have / 1e9:.1f} GB usable, {(need - have) / 1e9:.1f} GB too much"
    )


def class_capacity(d: Deployment, role: str, c: PlanClass, served: Served) -> ClassCapacity:
    if role == "prefill":
        return _prefill(d, c, served)
    if role == "decode":
        return _decode(d, c, served)
    return _colocated(d, c, served)


def kv_transfer_bytes(d: Deployment, prompt_tokens: int) -> float:
    return prompt_tokens * d.model.kv_bytes_per_token(d.kv_dtype)


def _slo(served: Served) -> tuple[float | None, float | None, float]:
    s = served.slo
    if s is None:
        return None, None, 90.0
    return s.ttft_ms, s.tpot_ms, s.percentile


def _prompt_batches(d: Deployment, s: float) -> list[int]:
    most = max(1, int(d.max_batched_tokens // s))
    out, b = [], 1
    while b < most:
        out.append(b)
        b *= 2
    out.append(most)
    return out


def _prefill(d: Deployment, c: PlanClass, served: Served) -> ClassCapacity:
    ttft, _, pct = _slo(served)
    s = c.prompt_tokens
    kv_bytes = kv_transfer_bytes(d, s)
    # each of the t GPUs sends its shard of the KV over its own NIC
    transfer_ms = kv_bytes / (d.tp * d.gpu.network_gbit_s * 1e9 / 8) * 1e3
    best = ClassCapacity(0.0, kv_bytes=kv_bytes, transfer_ms=transfer_ms)
    fastest = math.inf
    for b in _prompt_batches(d, s):
        if b * s > d.max_tokens_in_cache():
            break
        service = d.prefill_ms(s, b)
        fastest = min(fastest, service + transfer_ms)
        if ttft is None:
            rho, limit = 1.0, "saturated (no TTFT SLO)"
        else:
            rho = max_utilisation(service, ttft - service - transfer_ms - d.eff.ttft_fixed_ms, pct)
            limit = "ttft-slo"
        rate = rho * b / service * 1e3
        if rate > best.rate_per_s:
            wait = wait_quantile_ms(rho, service, pct) if rho < 1 else 0.0
            best = ClassCapacity(
                rate, b, service, 0.0, rho, wait + service + transfer_ms + d.eff.ttft_fixed_ms, 0.0, transfer_ms, kv_bytes, limit
            )
    if best.rate_per_s == 0.0:
        reason = (
            f"prefill of {s:g} tokens + KV transfer takes {fastest:.0f} ms > TTFT SLO {ttft:g} ms"
            if math.isfinite(fastest)
            else f"{s:g}-token prompt does not fit in the KV cache"
        )
        return ClassCapacity(0.0, kv_bytes=kv_bytes, transfer_ms=transfer_ms, reason=reason)
    return best


def _decode_batches(d: Deployment, c: PlanClass) -> np.ndarray:
    most = min(d.max_batch(c.prompt_tokens + c.output_tokens), d.max_num_seqs)
    return np.arange(1, most + 1, dtype=float)


def batch_quantile(b: np.ndarray, percentile: float, phi: np.ndarray | float = 0.0) -> np.ndarray:
    """The percentile of the running-sequence count whose mean is b (Poisson, normal
    approximation): b + z_p·√b, at least b; batch 1 keeps no headroom, so that a
    configuration that serves one request at a time stays feasible (and its reasons exact).
    A colocated instance that spends a share φ of its time on prefill passes: the spread
    amplified to z_p·√b / (1 - φ)² (a stall lengthens the lives and lets more prompts in)."""
    b = np.asarray(b, dtype=float)
    spread = np.sqrt(b) / np.maximum(1 - np.asarray(phi, dtype=float), 1e-9) ** 2
    return np.where(b <= 1, b, b + _z(percentile) * spread)


def _z(percentile: float) -> float:
    """The standard normal quantile of a percentile (0 below the median)."""
    return max(0.0, NormalDist().inv_cdf(percentile / 100))


def _headroom(d: Deployment, c: PlanClass, served: Served, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(the batch at the SLO percentile, whether it fits in memory); the mean batch itself
    without a TPOT SLO."""
    _, tpot, pct = _slo(served)
    if tpot is None:
        return b, np.ones_like(b, dtype=bool)
    q = batch_quantile(b, pct)
    return q, q <= min(d.max_batch(c.prompt_tokens + c.output_tokens), d.max_num_seqs)


def _decode(d: Deployment, c: PlanClass, served: Served) -> ClassCapacity:
    _, tpot, _ = _slo(served)
    b = _decode_batches(d, c)
    if len(b) == 0:
        return ClassCapacity(0.0, reason="the request's KV does not fit")
    ctx = c.prompt_tokens + c.output_tokens / 2
    step = d.decode_step_ms(b, ctx)
    q, fits = _headroom(d, c, served, b)
    seen = d.decode_step_ms(q, ctx)  # the step time at the batch's percentile
    ok = fits if tpot is None else fits & (seen <= tpot)
    if not ok.any():
        if not fits[0]:
            return ClassCapacity(0.0, reason="the request's KV does not fit with batch headroom")
        return ClassCapacity(0.0, reason=f"decode step at batch 1 takes {step[0]:.1f} ms > TPOT SLO {tpot:g} ms")
    rate = np.where(ok, b / (step * c.output_tokens) * 1e3, 0.0)
    i = int(np.argmax(rate))
    limit = _batch_limit(d, i, len(b), ok, fits)
    return ClassCapacity(float(rate[i]), int(b[i]), 0.0, float(step[i]), 0.0, 0.0, float(seen[i]), limit=limit)


def _batch_limit(d: Deployment, i: int, n: int, ok: np.ndarray, fits: np.ndarray) -> str:
    if i + 1 < n and not ok[i + 1]:
        return "slo" if fits[i + 1] else "memory"
    if n == d.max_num_seqs:
        return "max-num-seqs"
    return "memory"


def _colocated(d: Deployment, c: PlanClass, served: Served) -> ClassCapacity:
    if d.engine.chunked:
        return _colocated_mixed(d, c, served)
    return _colocated_passes(d, c, served)


def _colocated_mixed(d: Deployment, c: PlanClass, served: Served) -> ClassCapacity:
    """Chunked prefill / in-flight batching: every step carries the running decodes and prompt
    tokens up to the token budget N (`Deployment.step_ms`). At a mean batch b of decodes
    (rate r = b / (o·τ), Little) a step carries p = r·s·τ = b·s/o prompt tokens on average, so
    the mean step is τ(b) = mean_step(b, p) explicitly (a share p/c of the steps carry a chunk of
    c = min(s, N-b) prompt tokens, the rest decode only) and TPOT = τ. A prompt needs max(1, s/(N-b))
    steps that carry its chunks, τ_pf = step(b, min(s, N-b)) each; it queues for the budget as
    an M/D/1 queue at utilisation u = p/(N-b). TTFT = wait at the SLO percentile + its chunk
    steps + half a step in flight + the engine's fixed first-token latency. Memory and TPOT at
    the batch's SLO percentile, as for decode."""
    ttft, tpot, pct = _slo(served)
    s, o = c.prompt_tokens, c.output_tokens
    b = _decode_batches(d, c)
    if len(b) == 0:
        return ClassCapacity(0.0, reason="the request's KV does not fit")
    budget = float(d.max_batched_tokens)
    m = mixed_latency(d, s, o, b, pct, tpot is not None)
    step, seen_tpot, ttft_pred, tau_pf, p = m.step_ms, m.tpot_ms, m.ttft_ms, m.chunk_step_ms, m.prompt_tokens_per_step
    fits = m.fits
    if tpot is not None:
        q = batch_quantile(b, pct)
        fits = fits & ((b <= 1) | (q <= min(d.max_batch(s + o), d.max_num_seqs)))
    ok = fits.copy()
    if tpot is not None:
        ok &= seen_tpot <= tpot
    if ttft is not None:
        ok &= ttft_pred <= ttft
    if not ok.any():
        if not fits[0]:
            reason = f"a {s:g}-token prompt does not fit the {budget:g}-token step budget beside the decodes"
        elif tpot is not None and seen_tpot[0] > tpot:
            reason = f"TPOT with prompt chunks at batch 1 is {seen_tpot[0]:.1f} ms > SLO {tpot:g} ms"
        else:
            reason = f"TTFT at batch 1 is {ttft_pred[0]:.0f} ms > SLO {ttft:g} ms"
        return ClassCapacity(0.0, reason=reason)
    rate = np.where(ok, b / (step * o) * 1e3, 0.0)
    i = int(np.argmax(rate))
    phi = float(p[i] / (b[i] + p[i]))  # share of the step's tokens that are prompt tokens
    return ClassCapacity(
        float(rate[i]),
        int(b[i]),
        float(tau_pf[i]),
        float(step[i]),
        phi,
        float(ttft_pred[i]),
        float(seen_tpot[i]),
        limit=_batch_limit(d, i, len(b), ok, fits),
    )


@dataclass(frozen=True)
class MixedLatency:
    """Latencies of a chunked-prefill / in-flight-batching colocated instance at mean decode
    batches b (arrays over b)."""

    step_ms: np.ndarray  # the mean step
    tpot_ms: np.ndarray  # the step at the batch's SLO percentile
    ttft_ms: np.ndarray  # wait (percentile) + chunk steps + half a step + fixed latency
    queue_ms: np.ndarray  # the wait for the token budget and the fixed latency
    chunk_step_ms: np.ndarray  # a step that carries this prompt's chunk
    prompt_tokens_per_step: np.ndarray
    fits: np.ndarray  # the budget keeps up with the prompt tokens arriving


def mixed_latency(d: Deployment, s: float, o: float, b, pct: float, headroom: bool) -> MixedLatency:
    """See `_colocated_mixed`; `headroom`: TPOT at the batch's SLO percentile (a TPOT SLO)."""
    b = np.atleast_1d(np.asarray(b, dtype=float))
    ctx = s + o / 2
    budget = float(d.max_batched_tokens)
    p = b * s / o
    step = np.asarray(d.mean_step_ms(b, ctx, p, s), dtype=float)
    avail = budget - b
    fits = (avail > 0) & (p < avail)
    q = batch_quantile(b, pct) if headroom else b
    # the prompts that arrive during a request's o steps: Poisson with mean b (Little), so at
    # the SLO percentile b + z_p·√b, at batch 1 too (one request at a time still meets others'
    # prompts; found with the simulator: without it small colocated batches miss their TPOT)
    arrivals = b + _z(pct) * np.sqrt(b) if headroom else b
    seen = np.asarray(d.mean_step_ms(q, ctx, arrivals * s / o, s), dtype=float)
    safe = np.maximum(avail, 1.0)
    tau_pf = np.asarray(d.step_ms(b, ctx, np.minimum(s, safe), s), dtype=float)
    service = np.maximum(1.0, s / safe) * tau_pf
    u = np.where(fits, p / safe, 1.0)
    queue = wait_quantile_ms_array(u, 1.0, pct) * service + 0.5 * step + d.eff.ttft_fixed_ms
    return MixedLatency(step, seen, queue + service, queue, tau_pf, p, fits)


def _colocated_passes(d: Deployment, c: PlanClass, served: Served) -> ClassCapacity:
    """A prefill-first scheduler (vLLM 2023): best over prompts-per-pass n (packing amortises the pass cost but lengthens TTFT)."""
    b = _decode_batches(d, c)
    if len(b) == 0:
        return ClassCapacity(0.0, reason="the request's KV does not fit")
    step = d.decode_step_ms(b, c.prompt_tokens + c.output_tokens / 2)  # the same for every n
    best: ClassCapacity | None = None
    in_cache = d.max_tokens_in_cache()
    for n in _prompt_batches(d, c.prompt_tokens):
        if n * c.prompt_tokens > in_cache:
            break
        cap = _colocated_at(d, c, served, n, b, step)
        if n > 1 and n > 1 + cap.rate_per_s * cap.step_ms / 1e3:
            break  # a prefill-first scheduler does not gather n prompts at this rate
        if best is None or cap.rate_per_s > best.rate_per_s:
            best = cap
    return best or ClassCapacity(0.0, reason="the request's KV does not fit")


def _colocated_at(
    d: Deployment, c: PlanClass, served: Served, n: int, b: np.ndarray, step: np.ndarray
) -> ClassCapacity:
    """Capacity with n prompts packed per prefill pass, over mean decode batches `b` with step
    times `step` (ms)."""
    ttft, tpot, pct = _slo(served)
    s, o = c.prompt_tokens, c.output_tokens
    pass_ms = d.prefill_ms(s, n)
    unit_ms = pass_ms / n  # prefill work per request, prompts packed n to a pass
    rate_per_ms = b / (b * unit_ms + o * step)
    phi = rate_per_ms * unit_ms
    # the running batch and the prompts prefilled during a request's life: b on average
    # (Little), a Poisson spread √b that prefill stalls amplify (a stall lengthens the lives
    # and lets more prompts in): at the SLO percentile b + z_p·√b / (1 - φ)²
    q, fits = b, np.full(len(b), True)
    if tpot is not None:
        q = batch_quantile(b, pct, phi)
        fits = (b <= 1) | (q <= min(d.max_batch(s + o), d.max_num_seqs))
    seen_tpot = d.decode_step_ms(q, s + o / 2) + q * unit_ms / o
    ok = fits.copy() if tpot is None else fits & (seen_tpot <= tpot)
    ttft_pred = wait_quantile_ms_array(phi, pass_ms, pct) + pass_ms + step
    if ttft is not None:
        ok &= ttft_pred <= ttft
    if not ok.any():
        if tpot is not None and seen_tpot[0] > tpot:
            reason = f"TPOT with interleaved prefill at batch 1 is {seen_tpot[0]:.1f} ms > SLO {tpot:g} ms"
        else:
            reason = f"TTFT at batch 1 is {ttft_pred[0]:.0f} ms > SLO {ttft:g} ms"
        return ClassCapacity(0.0, reason=reason)
    rate = np.where(ok, rate_per_ms * 1e3, 0.0)
    i = int(np.argmax(rate))
    return ClassCapacity(
        float(rate[i]),
        int(b[i]),
        pass_ms,
        float(step[i]),
        float(phi[i]),
        float(ttft_pred[i]),
        float(seen_tpot[i]),
        limit=_batch_limit(d, i, len(b), ok, fits),
    )
