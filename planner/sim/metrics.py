"""From the simulated requests and instances to the SimResult: throughput in the measured
window, latency percentiles and SLO attainment, per-pool utilisation and queues."""

from __future__ import annotations

import numpy as np

from planner.plan import _r
from planner.sim.result import (
    SIM_SCHEMA_VERSION,
    SimInputs,
    SimLatency,
    SimPool,
    SimResult,
    SimThroughput,
)


def _pct(x: np.ndarray, q: float) -> float | None:
    return _r(float(np.percentile(x, q))) if len(x) else None


def _latency(scope: str, name: str, sel: np.ndarray, ttft: np.ndarray, tpot: np.ndarray, wait: np.ndarray, slo) -> SimLatency:
    a, b, w = ttft[sel], tpot[sel], wait[sel]
    w = w[~np.isnan(w)]
    ok_ttft = a <= slo.ttft_ms * (1 + 1e-9) if slo is not None and slo.ttft_ms is not None else None
    ok_tpot = b <= slo.tpot_ms * (1 + 1e-9) if slo is not None and slo.tpot_ms is not None else None
    n = len(a)

    def share(ok) -> float | None:
        return _r(float(ok.mean())) if ok is not None and n else None

    both = None
    if ok_ttft is not None or ok_tpot is not None:
        both = (ok_ttft if ok_ttft is not None else True) & (ok_tpot if ok_tpot is not None else True)
        both = np.broadcast_to(both, (n,))
    target = slo.percentile / 100 if slo is not None else None
    meets = None
    if target is not None and n:
        meets = all(float(ok.mean()) >= target for ok in (ok_ttft, ok_tpot) if ok is not None)
    return SimLatency(
        scope=scope,
        name=name,
        requests=n,
        ttft_ms_p50=_pct(a, 50),
        ttft_ms_p90=_pct(a, 90),
        ttft_ms_p99=_pct(a, 99),
        tpot_ms_p50=_pct(b, 50),
        tpot_ms_p90=_pct(b, 90),
        tpot_ms_p99=_pct(b, 99),
        decode_wait_ms_p90=_pct(w, 90),
        ttft_slo_ms=slo.ttft_ms if slo is not None else None,
        tpot_slo_ms=slo.tpot_ms if slo is not None else None,
        slo_percentile=slo.percentile if slo is not None else None,
        ttft_attainment=share(ok_ttft),
        tpot_attainment=share(ok_tpot),
        both_attainment=share(both),
        meets_target=meets,
    )


def _planned_busy(pool) -> float:
    """A prefill pool's busy share at the planned rates: each pass of `batch` prompts takes
    `prefill_ms`. Far below 100% under a tight TTFT percentile: the capacity keeps the queue's
    tail within the SLO (`planner.perf.queueing`)."""
    busy_s = sum(c.requests_per_s * c.prefill_ms / 1e3 / max(c.batch, 1) for c in pool.classes)
    return busy_s / pool.instances


def summarise(sim, reqs: list, rates: dict[str, float], arrivals: str, seed: int, notes: list[str]) -> SimResult:
    problem, plan = sim.problem, sim.plan
    w0, w1 = sim.w0, sim.w1
    window = w1 - w0
    t_arr = np.array([r.t_arr for r in reqs])
    t_last = np.array([r.t_last for r in reqs])
    ttft = np.array([(r.t_ttft + r.fixed_s - r.t_arr) * 1e3 for r in reqs])
    tpot = np.array([r.tpot_ms for r in reqs])
    wait = np.array([r.wait_s * 1e3 if r.dec is not None else np.nan for r in reqs])
    k = np.array([r.k for r in reqs])
    model_of = np.array([sim.classes[i].served for i in range(len(sim.classes))])[k] if len(k) else np.array([])
    measured = (t_arr >= w0) & (t_arr <= w1)
    completed = (t_last >= w0) & (t_last <= w1)

    def throughput(name: str, sel: np.ndarray, planned: float) -> SimThroughput:
        offered = float((measured & sel).sum()) / window
        done = float((completed & sel).sum()) / window
        return SimThroughput(
            name=name,
            planned_requests_per_s=_r(planned),
            offered_requests_per_s=_r(offered),
            completed_requests_per_s=_r(done),
            throughput_ratio=_r(done / planned) if planned > 0 else None,
            completion_ratio=_r(done / offered) if offered > 0 else None,
        )

    everyone = np.ones(len(reqs), dtype=bool)
    tp_rows = [throughput(m, model_of == m, rates[m]) for m in rates]
    tp_rows.append(throughput("total", everyone, sum(rates.values())))

    lat = []
    slos = {s.name: s.slo for s in problem.served}
    overall_slo = problem.slo if not problem.multi else None
    lat.append(_latency("overall", "all", measured, ttft, tpot, wait, overall_slo))
    if problem.multi:
        for m in rates:
            lat.append(_latency("model", m, measured & (model_of == m), ttft, tpot, wait, slos[m]))
    for i, c in enumerate(sim.classes):
        lat.append(_latency("class", c.name, measured & (k == i), ttft, tpot, wait, slos[c.served]))

    pools = []
    for p, pool in enumerate(plan.pools):
        insts = sim.insts[p]
        steps = sum(i.n_steps for i in insts)
        decoding = pool.role != "prefill"
        pools.append(
            SimPool(
                model=pool.model,
                gpu=pool.gpu,
                role=pool.role,
                tp=pool.tp,
                instances=pool.instances,
                requests=sum(i.done for i in insts),
                planned_utilisation=pool.utilisation,
                planned_busy=_r(_planned_busy(pool) * sim.load) if pool.role == "prefill" else None,
                utilisation=_r(sum(i.busy_s for i in insts) / (window * len(insts))),
                planned_batch=max((c.batch for c in pool.classes), default=0) if decoding else None,
                mean_batch=_r(sum(i.batch_sum for i in insts) / steps) if decoding and steps else None,
                mean_queue=_r(sum(i.q_area for i in insts) / (window * len(insts))),
                max_queue=max(i.q_max for i in insts),
            )
        )
    return SimResult(
        schema_version=SIM_SCHEMA_VERSION,
        inputs=SimInputs(
            fleet=plan.inputs.fleet,
            workload=plan.inputs.workload,
            plan_digest_sha256=plan.inputs.digest_sha256,
            arrivals=arrivals,
            load=_r(sim.load),
            seed=seed,
            requests=len(reqs),
            duration_s=_r(w1),
            warmup_s=_r(w0),
            measured_window_s=_r(window),
        ),
        throughput=tp_rows,
        latency=lat,
        pools=pools,
        notes=notes,
    )
