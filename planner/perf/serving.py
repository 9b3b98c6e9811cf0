"""What a benchmark client measures: one colocated instance under a closed-loop load.

The measured serving points (`planner/perf/data/aiconfigurator/`, and what `vllm bench serve`,
genai-perf/AIPerf and GuideLLM report) come from a client that keeps C requests of S prompt and
O output tokens in flight: a new request starts when one finishes. Mean TTFT and mean TPOT at
that concurrency are what it reports, and output tokens/s per GPU = C / (TTFT + O·TPOT) · O / t.

The model (a closed queueing network, solved by mean-value analysis):

  * the engine runs steps; each step carries every running decode (b of them) and fills the
    rest of its token budget N (`max_num_batched_tokens`, the chunked-prefill budget) with
    prompt chunks (`Deployment.step_ms`). On average a step carries p = X·S·τ prompt tokens at
    throughput X; prompts arrive whole, so a share of the steps carry a chunk and the rest decode
    only, and the mean step τ is the mean of the two (`Deployment.mean_step_ms`); TPOT = τ:
    every running decode yields one token per step, slowed by the chunks that share it (the
    colocated stall);
  * prefill is a queueing station: a prompt needs max(1, S / (N - b)) steps that carry a
    prompt chunk, each τ_pf = step(b, min(S, N - b)), so its service time s_p is that many
    τ_pf; decode is a delay station of (O - 1)·τ (at most `max_num_seqs` requests at once);
  * mean-value analysis over the population n = 1..C: R(n) = s_p·(1 + κ·Q(n-1)),
    X(n) = n / (R(n) + (O-1)·τ), Q(n) = X(n)·R(n); κ (`ttft_queue_factor`) scales the queue a
    prompt finds (1: exponential service; the fixed-length requests of a benchmark arrive in
    clumps, so fitted values exceed 1); TTFT = τ/2 (the step in flight) + R(C);
  * the step times depend on X through b and p, so the two are iterated to a fixed point.

A prefill-first engine (`vllm-2023`) processes whole prompts in passes of their own: the same
network with the budget N taken whole by the pass. Planning for SLOs keeps the open-loop
(Poisson) capacities of `planner.perf.capacity`; this module predicts benchmark numbers and is
what serving points are fitted with (`planner.perf.serving_fit`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from planner.perf.model import Deployment

_OUTER = 12  # fixed-point iterations between the step times and the throughput


@dataclass(frozen=True)
class ServingPrediction:
    ttft_ms: np.ndarray
    tpot_ms: np.ndarray
    requests_per_s: np.ndarray  # per instance
    output_tokens_per_s_per_gpu: np.ndarray
    batch: np.ndarray  # mean running decodes
    limit: np.ndarray  # "prefill" | "decode" | "slots": what bounds the throughput


def closed_loop(d: Deployment, prompt_tokens, output_tokens, concurrency) -> ServingPrediction:
    """Mean TTFT, mean TPOT and throughput of a closed-loop client (arrays broadcast)."""
    s, o, c = np.broadcast_arrays(
        np.asarray(prompt_tokens, dtype=float), np.asarray(output_tokens, dtype=float), np.asarray(concurrency, dtype=float)
    )
    s, o, c = s.ravel(), o.ravel(), c.ravel()
    e = d.eff
    budget = float(d.max_batched_tokens)
    ctx = s + o / 2
    slots = np.maximum(1.0, np.minimum(float(d.max_num_seqs), [d.max_batch(x) for x in s + o]))
    dec = np.maximum(o - 1, 0.0)
    b = np.minimum(c, slots) * 0.5
    p = np.zeros_like(s)
    x = np.zeros_like(s)
    resp = np.zeros_like(s)
    service = np.zeros_like(s)
    for _ in range(_OUTER):
        tau, service = _times(d, b, ctx, p, s, budget)
        z = dec * tau
        x_new, _ = _mva(service, z, c, e.ttft_queue_factor)
        x_new = np.minimum(x_new, slots / np.maximum(z, 1e-9))  # every decode slot taken
        x = x_new if not x.any() else 0.5 * (x + x_new)
        b = np.minimum(x * z, slots)
        p = x * s * tau if d.engine.chunked else np.zeros_like(s)
    tau, service = _times(d, b, ctx, p, s, budget)
    burst = _burst_ms(d, b, ctx, s, c, budget)
    if not d.engine.chunked:  # whole-prompt passes stall the running decodes: a share x·T_p of the time
        tau = tau / np.maximum(1 - x * service, 0.05)
    ttft = np.maximum(c / np.maximum(x, 1e-12) - dec * tau, service) + 0.5 * tau + e.ttft_burst_share * burst + e.ttft_fixed_ms
    x = c / (ttft + dec * tau)
    limit = np.where(b >= slots * 0.999, "slots", np.where(x * service >= 0.5, "prefill", "decode"))
    return ServingPrediction(ttft, tau, x * 1e3, x * 1e3 * o / d.tp, b, limit)


def _burst_ms(d: Deployment, b, ctx, s, c, budget: float) -> np.ndarray:
    """Mean wait of a burst of C prompts that arrive at once: (C-1)/2 prompts ahead, each
    prefilled at the full token budget (steps of N - b prompt tokens)."""
    if not d.engine.chunked:
        per_prompt = np.array([d.prefill_ms(x, max(1, int(budget // x))) / max(1, int(budget // x)) for x in s])
    else:
        avail = np.maximum(budget - b, np.minimum(s, budget) * 0.05)
        per_prompt = np.asarray(d.step_ms(b, ctx, avail, s), dtype=float) * s / avail
    return (c - 1) / 2 * per_prompt


def _times(d: Deployment, b, ctx, p, s, budget: float) -> tuple[np.ndarray, np.ndarray]:
    """(mean step ms, prefill service ms per prompt) at b running decodes and p prompt tokens
    per step."""
    tau = np.asarray(d.mean_step_ms(b, ctx, p, s), dtype=float)
    if not d.engine.chunked:
        return tau, np.array([d.prefill_ms(x, 1) for x in s])
    avail = np.maximum(budget - b, np.minimum(s, budget) * 0.05)
    tau_pf = np.asarray(d.step_ms(b, ctx, np.minimum(s, avail), s), dtype=float)
    return tau, np.maximum(1.0, s / avail) * tau_pf


def _mva(service: np.ndarray, delay: np.ndarray, population: np.ndarray, kappa: float) -> tuple[np.ndarray, np.ndarray]:
    """Mean-value analysis of one queueing station (service `service` ms) and one delay station
    (`delay` ms) with `population` customers, in Schweitzer's approximation Q(C-1) = Q(C)(C-1)/C,
    which closes in one quadratic: R = s(1 + κ'·X·R), X = C / (R + Z), κ' = κ(C-1)/C. κ scales
    the queue a prompt finds on arrival. Returns (throughput per ms, station response ms)."""
    k = kappa * (population - 1) / population
    half = delay - service - k * service * population
    r = (-half + np.sqrt(half * half + 4 * service * delay)) / 2
    r = np.maximum(r, service)
    return population / (r + delay), r
