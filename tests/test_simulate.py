"""The discrete-event simulator (planner/sim): determinism, a hand-computed case, and the
shipped examples holding their SLOs at the planned load and breaking at 1.3x."""

from __future__ import annotations

import json

import numpy as np
import pytest

from planner.api import load_problem, plan_problem
from planner.errors import InputError
from planner.perf.capacity import build_capacity_table, kv_transfer_bytes
from planner.plan import Pool, PoolClass
from planner.report.export import plan_json
from planner.sim import simulate, simulate_files


def _solved(root, fleet: str, workload: str, engine: str | None = None):
    problem = load_problem(root / "fleets" / f"{fleet}.yaml", root / "workloads" / f"{workload}.yaml", engine=engine)
    return problem, build_capacity_table(problem), plan_problem(problem, explain=False)


@pytest.fixture(scope="module")
def chat(request):
    from tests.conftest import ROOT

    return _solved(ROOT, "h100-a100", "chat-llama70b")


@pytest.fixture(scope="module")
def conv(request):
    from tests.conftest import ROOT

    # the 2023 profile: with the default engine the conversation trace's plan mixes classes of
    # very different prompt lengths on colocated instances, and the simulator puts its TTFT
    # attainment at 58% at the planned load (an open problem of the colocated capacity model,
    # stated in the README's "Simulation")
    return _solved(ROOT, "h100-a100", "azure-conv-llama70b", "vllm-2023")


def _row(result, name="all"):
    return next(r for r in result.latency if r.name == name)


def test_same_seed_same_json_other_seed_differs(chat):
    p, t, plan = chat
    a = simulate(p, t, plan, n_requests=3000, seed=7, warmup_s=20)
    b = simulate(p, t, plan, n_requests=3000, seed=7, warmup_s=20)
    c = simulate(p, t, plan, n_requests=3000, seed=8, warmup_s=20)
    assert a.model_dump_json() == b.model_dump_json()
    assert a.model_dump_json() != c.model_dump_json()
    assert a.inputs.requests == 3000


@pytest.mark.parametrize("example", ["chat", "conv"])
def test_planned_load_holds_and_1_3x_breaks(example, request):
    p, t, plan = request.getfixturevalue(example)
    target = p.slo.percentile / 100
    ok = simulate(p, t, plan, load=1.0, n_requests=12_000, seed=1)
    row = _row(ok)
    assert row.ttft_attainment >= target and row.tpot_attainment >= target and row.meets_target
    total = ok.throughput[-1]
    assert total.name == "total" and abs(total.throughput_ratio - 1) < 0.03
    assert total.completion_ratio > 0.99

    over = simulate(p, t, plan, load=1.3, n_requests=12_000, seed=1)
    row = _row(over)
    # the queues grow: most requests miss an SLO, or completions fall behind the arrivals
    assert row.both_attainment < target - 0.3 or over.throughput[-1].completion_ratio < 0.9
    assert not row.meets_target


def test_hand_computed_single_requests_and_a_pair(chat):
    """One H100 TP2 prefill instance and one A100 TP4 decode instance, class 'short' only;
    384-token prompts with 2 output tokens. Request a arrives at t=0 and finds the instance
    idle: prefill_ms(384, 1) + its KV transfer over 2 x 400 Gb/s, then two decode steps at
    batch 1 (TPOT: the second, at context 385). b and c arrive 1 and 2 ms later, wait for a's
    pass and share the next one: prefill_ms(384, 2); their two transfers share the NICs (each
    takes twice as long); they decode together at batch 2 (a has left). Then one request
    every 10 s, each alone like a."""
    p, t, plan = chat
    pre = next(c for c in t.configs if (c.gpu_id, c.tp, c.role) == ("h100-sxm", 2, "prefill"))
    dec = next(c for c in t.configs if (c.gpu_id, c.tp, c.role) == ("a100-80-sxm", 4, "decode"))

    def pool(c):
        klass = PoolClass(
            request_class="short", requests_per_s=0.1, capacity_per_instance_per_s=1.0, batch=1, prefill_ms=0.0,
            decode_step_ms=0.0, predicted_ttft_ms=None, ttft_queue_ms=None, kv_transfer_ms=None, predicted_tpot_ms=None,
        )
        return Pool(model=c.served, gpu=c.gpu_id, role=c.role, tp=c.tp, instances=1, gpus=c.tp, utilisation=0.1, classes=[klass])

    tiny = plan.model_copy(
        update={"pools": [pool(pre), pool(dec)], "models": [plan.models[0].model_copy(update={"requests_per_s": 0.1})]}
    )
    trace = [(0.0, 384, 2), (0.001, 384, 2), (0.002, 384, 2)] + [(10.0 * i, 384, 2) for i in range(1, 10)]
    r = simulate(p, t, tiny, trace=trace, warmup_s=0.0)

    nic_bytes_per_s = 2 * 400e9 / 8
    transfer_ms = kv_transfer_bytes(pre.deployment, 384) / nic_bytes_per_s * 1e3
    p1, p2 = pre.deployment.prefill_ms(384, 1), pre.deployment.prefill_ms(384, 2)
    alone_ttft = p1 + transfer_ms
    pair_done_ms = p1 + p2 + 2 * transfer_ms
    ttft = [alone_ttft] * 10 + [pair_done_ms - 1.0, pair_done_ms - 2.0]
    d = dec.deployment
    tpot = [float(d.decode_step_ms(1, 385))] * 10 + [float(d.decode_step_ms(2, 385))] * 2
    row = _row(r)
    assert row.requests == 12
    for q, got in ((50, row.ttft_ms_p50), (90, row.ttft_ms_p90), (99, row.ttft_ms_p99)):
        assert got == pytest.approx(float(np.percentile(ttft, q)), rel=1e-5)
    for q, got in ((50, row.tpot_ms_p50), (90, row.tpot_ms_p90), (99, row.tpot_ms_p99)):
        assert got == pytest.approx(float(np.percentile(tpot, q)), rel=1e-5)
    assert row.ttft_ms_p99 > alone_ttft + p2 and row.decode_wait_ms_p90 == 0.0
    # 12 arrivals in the 90 s window; the last one, at 90 s, finishes after it
    assert r.throughput[-1].offered_requests_per_s == pytest.approx(12 / 90, rel=1e-5)
    assert r.throughput[-1].completed_requests_per_s == pytest.approx(11 / 90, rel=1e-5)
    prefill_busy_ms = 9 * p1 + p2  # the pass of the request at 90 s lies past the window
    assert r.pools[0].utilisation == pytest.approx(prefill_busy_ms / 90e3, rel=1e-5)
    assert r.pools[0].max_queue == 2 and r.pools[1].mean_batch == pytest.approx(22 / 20)  # 18 steps alone, 2 of two


def test_simulate_files_rebuilds_the_fleet_and_reports_bad_inputs(chat, root, tmp_path):
    p, t, plan = chat
    path = tmp_path / "plan.json"
    path.write_text(plan_json(plan))
    wl = root / "workloads" / "chat-llama70b.yaml"
    r = simulate_files(path, wl, n_requests=2000, warmup_s=10)
    assert any("fleet rebuilt" in n for n in r.notes)
    exact = simulate_files(path, wl, root / "fleets" / "h100-a100.yaml", n_requests=2000, warmup_s=10)
    assert not exact.notes and json.loads(exact.model_dump_json())["inputs"]["requests"] == 2000

    with pytest.raises(InputError, match="file not found"):
        simulate_files(tmp_path / "nope.json", wl)
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(InputError, match=r"bad.json:1:2: not valid JSON"):
        simulate_files(bad, wl)
    bad.write_text('{"schema_version": "1.0"}')
    with pytest.raises(InputError, match="is this a plan"):
        simulate_files(bad, wl)
    with pytest.raises(InputError, match="the plan serves chat-llama70b"):
        simulate_files(path, root / "workloads" / "rag-llama8b.yaml", root / "fleets" / "cloud-mix.yaml")
    with pytest.raises(InputError, match="--load"):
        simulate(p, t, plan, load=-1)
    with pytest.raises(InputError, match="warm-up"):
        simulate(p, t, plan, duration_s=10, warmup_s=20)


def test_node_local_handoffs_on_slow_nics_hold(tmp_path):
    """1 Gb/s NICs on the HGX/DGX fleet: the plan pairs A100 prefill and decode instances inside
    their nodes (the scale-up fabric); the simulator sends same-type handoffs over that fabric
    and the SLOs hold at the planned 20.87 req/s (TPOT 93.3% against the 90% target)."""
    fleet = tmp_path / "f.yaml"
    fleet.write_text(
        "gpus:\n  - {type: h100-sxm, count: 16, price_usd_per_hour: 2.95, network_gbit_s: 1}\n"
        "  - {type: a100-80-sxm, count: 32, price_usd_per_hour: 2.5, network_gbit_s: 1}\n"
    )
    from tests.conftest import ROOT

    problem = load_problem(fleet, ROOT / "workloads" / "chat-llama70b.yaml", engine="vllm-2023")
    plan = plan_problem(problem, explain=False)
    assert plan.throughput.requests_per_s == pytest.approx(20.8729, rel=1e-5)
    r = simulate(problem, build_capacity_table(problem), plan, n_requests=30_000, seed=0)
    row = _row(r)
    assert row.meets_target and row.both_attainment > 0.9
    assert r.throughput[-1].throughput_ratio == pytest.approx(1.0, abs=0.03)
