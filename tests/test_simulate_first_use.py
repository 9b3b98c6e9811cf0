"""Issue 12, the simulator on first use: purchase-mode plans replay, TTFT counts the wait for a
decode slot, the two utilisation figures have distinct names, no false digest warning, progress
only on a terminal. Inputs are inlined (the issue's repro files)."""

from __future__ import annotations

import io
import json

import pytest

from planner.api import load_problem, plan_problem
from planner.errors import InputError
from planner.perf.capacity import build_capacity_table
from planner.report.export import plan_json
from planner.report.simulation import tty_progress
from planner.sim import simulate, simulate_files

BUY_FLEET = """name: buy-h100
gpus:
  - type: h100-sxm
    count: 0
    gpus_per_node: 8
    buy:
      max: unlimited
      purchase_usd: 30000
      amortisation_years: 4
      power_kw: 1.2
      usd_per_kwh: 0.10
      pue: 1.3
"""
CHAT = """name: chat-70b
model: llama-3.1-70b
classes:
  - {name: short, prompt_tokens: 500, output_tokens: 150, share: 0.5}
  - {name: long, prompt_tokens: 2500, output_tokens: 300, share: 0.5}
traffic: {qps: 50}
slo: {ttft_ms: 2000, tpot_ms: 80}
"""
FLEET_16_16 = """name: h100-a100
gpus:
  - {type: h100-sxm, count: 16, price_usd_per_hour: 2.95, gpus_per_node: 8}
  - {type: a100-80-sxm, count: 16, price_usd_per_hour: 2.50, gpus_per_node: 8}
"""
TTFT300 = """name: chat-70b-ttft300
model: llama-3.1-70b
classes:
  - {name: chat, prompt_tokens: 2000, output_tokens: 200, share: 1.0}
traffic: {qps: max}
slo: {ttft_ms: 300, tpot_ms: 80, percentile: 99}
"""


def _files(tmp_path, fleet: str, workload: str, **options):
    f, w = tmp_path / "fleet.yaml", tmp_path / "workload.yaml"
    f.write_text(fleet)
    w.write_text(workload)
    problem = load_problem(f, w, **options)
    plan = plan_problem(problem, explain=False)
    path = tmp_path / "plan.json"
    path.write_text(plan_json(plan))
    return f, w, path, problem, plan


@pytest.fixture(scope="module")
def bought(tmp_path_factory):
    return _files(tmp_path_factory.mktemp("buy"), BUY_FLEET, CHAT)


def test_a_plan_that_buys_gpus_replays_with_and_without_its_fleet(bought):
    fleet, wl, path, _, plan = bought
    (g,) = plan.gpus
    assert g.owned == 0 and g.bought == 36 and sum(p.gpus for p in plan.pools) == 36
    exact = simulate_files(path, wl, fleet, n_requests=4000, seed=0)
    assert exact.notes == []
    rebuilt = simulate_files(path, wl, n_requests=4000, seed=0)
    # same pools, same engine, same numbers: the rebuilt fleet may buy what the plan bought
    assert [p.model_dump() for p in rebuilt.pools] == [p.model_dump() for p in exact.pools]
    assert rebuilt.latency == exact.latency
    assert exact.throughput[-1].throughput_ratio == pytest.approx(1.0, abs=0.05)


def test_a_fleet_that_cannot_be_rebuilt_is_one_plain_error(bought, tmp_path):
    _, wl, path, _, _ = bought
    doc = json.loads(path.read_text())
    doc["gpus"][0]["buy_limit"] = None  # as if nothing could be bought: 0 GPUs owned
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    with pytest.raises(InputError) as e:
        simulate_files(bad, wl, n_requests=2000)
    msg = str(e.value)
    assert "@at:" not in msg and "|" not in msg
    assert "gpus: the fleet has no GPUs (every count is 0) and none to buy" in msg


def test_pools_beyond_owned_and_buyable_gpus_are_refused(bought, tmp_path):
    _, wl, path, _, _ = bought
    owned_only = tmp_path / "owned.yaml"
    owned_only.write_text("gpus:\n  - {type: h100-sxm, count: 16, price_usd_per_hour: 2.95}\n")
    with pytest.raises(InputError, match=r"pools use 36 h100-sxm GPUs; the fleet has 16$"):
        simulate_files(path, wl, owned_only, n_requests=2000)
    small = tmp_path / "small.yaml"
    small.write_text("gpus:\n  - {type: h100-sxm, count: 8, price_usd_per_hour: 2.95, buy: {max: 20, price_usd_per_hour: 3}}\n")
    with pytest.raises(InputError, match=r"pools use 36 h100-sxm GPUs; the fleet has 8 and may buy or rent 20 more"):
        simulate_files(path, wl, small, n_requests=2000)


@pytest.fixture(scope="module")
def ttft300(tmp_path_factory):
    # the q5 case as filed (vllm-2023, the default engine then): 2 H100 TP8 prefill
    # instances at 4.7% busy feed one A100 TP2 decode instance planned at 87.4%
    return _files(tmp_path_factory.mktemp("q5"), FLEET_16_16, TTFT300, engine="vllm-2023")


def test_ttft_counts_the_wait_for_a_decode_slot(ttft300):
    _, _, _, problem, plan = ttft300
    assert [(p.gpu, p.role, p.tp, p.instances) for p in plan.pools] == [
        ("h100-sxm", "prefill", 8, 2), ("a100-80-sxm", "decode", 2, 1),
    ]
    table = build_capacity_table(problem)
    ok = simulate(problem, table, plan, load=1.0, n_requests=20_000, seed=0)
    row = next(r for r in ok.latency if r.name == "all")
    # at the planned load: prefill 167 ms, decode wait p90 55 ms (a step boundary), p99 TTFT 285 ms
    assert row.ttft_ms_p99 == pytest.approx(285, abs=5) and row.decode_wait_ms_p90 == pytest.approx(55, abs=5)
    assert row.ttft_attainment >= 0.99 and row.meets_target
    for load in (2.0, 4.0):
        r = simulate(problem, table, plan, load=load, n_requests=20_000, seed=0)
        row = next(x for x in r.latency if x.name == "all")
        # requests wait minutes (2x: p90 123 s) to hours (4x) for the decode instance: not met
        assert row.decode_wait_ms_p90 > 100_000
        assert row.ttft_ms_p90 >= row.decode_wait_ms_p90
        assert row.ttft_attainment < 0.05 and not row.meets_target and row.both_attainment < 0.05


def test_prefill_busy_share_is_shown_beside_the_share_of_its_slo_capacity(ttft300):
    _, _, _, problem, plan = ttft300
    r = simulate(problem, build_capacity_table(problem), plan, load=2.0, n_requests=20_000, seed=0)
    pre = r.pools[0]
    # 100% of the SLO-limited capacity is 4.7% busy: a p99 TTFT of 300 ms over a 165 ms pass
    # leaves an M/D/1 queue 133 ms (planner.perf.queueing); at 2x the load, 9.4%
    assert pre.planned_utilisation == 1.0 and pre.planned_busy == pytest.approx(0.0935, abs=0.001)
    assert pre.utilisation == pytest.approx(pre.planned_busy, abs=0.003)
    assert r.pools[1].planned_busy is None


def test_an_engine_chosen_on_the_command_line_is_replayed_with_the_fleet_file(ttft300):
    fleet, wl, path, problem, plan = ttft300
    r = simulate_files(path, wl, fleet, n_requests=6000, seed=0)
    assert r.notes == ["engine: the plan's for h100-sxm (vllm-2023), a100-80-sxm (vllm-2023) (the fleet file names none; --engine to change)"]
    same = simulate(problem, build_capacity_table(problem), plan, n_requests=6000, seed=0)
    assert r.latency == same.latency


def test_the_readme_example_without_its_fleet_has_no_digest_warning(root, tmp_path):
    problem = load_problem(root / "fleets" / "h100-a100.yaml", root / "workloads" / "chat-llama70b.yaml")
    path = tmp_path / "plan.json"
    path.write_text(plan_json(plan_problem(problem, explain=False)))
    r = simulate_files(path, root / "workloads" / "chat-llama70b.yaml", n_requests=2000, warmup_s=10)
    assert [n for n in r.notes if "digest" in n] == []
    assert any("fleet rebuilt" in n for n in r.notes)
    # a plan solved for another QPS target is replayed at its own rates: no warning either
    buy = load_problem(root / "fleets" / "h100-a100-buy.yaml", root / "workloads" / "chat-llama70b.yaml", qps=40)
    path.write_text(plan_json(plan_problem(buy, objective="min-cost", explain=False)))
    r = simulate_files(path, root / "workloads" / "chat-llama70b.yaml", root / "fleets" / "h100-a100-buy.yaml", n_requests=2000, warmup_s=10)
    assert r.notes == []
    # a changed workload still warns
    other = tmp_path / "w.yaml"
    other.write_text((root / "workloads" / "chat-llama70b.yaml").read_text().replace("ttft_ms: 2000", "ttft_ms: 1500"))
    r = simulate_files(path, other, root / "fleets" / "h100-a100-buy.yaml", n_requests=2000, warmup_s=10)
    assert any("digest_sha256 differs" in n for n in r.notes)


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal():
    assert tty_progress(io.StringIO()) is None
    out = _Tty()
    show = tty_progress(out)
    show(10_000, 500_000)
    show(500_000, 500_000)
    assert out.getvalue() == "\rsimulating: 10,000 of 500,000 requests arrived\r\033[K"


def test_progress_is_called_as_the_run_goes_and_changes_nothing(ttft300):
    _, _, _, problem, plan = ttft300
    table = build_capacity_table(problem)
    calls = []
    a = simulate(problem, table, plan, n_requests=25_000, seed=3, progress=lambda i, n: calls.append((i, n)))
    b = simulate(problem, table, plan, n_requests=25_000, seed=3)
    assert calls == [(10_000, 25_000), (20_000, 25_000), (25_000, 25_000)]
    assert a.model_dump_json() == b.model_dump_json()
