"""The network in the plan: NIC and zone-link limits on KV handoffs, and KV-dtype conversion."""

from __future__ import annotations

import pytest

from conftest import write
from golden_cases import ROOT
from planner.api import load_problem, plan_problem
from planner.optimize.milp import kv_gb_per_request

# figures of the 2023 engine profile (see conftest.legacy_engine)
pytestmark = pytest.mark.usefixtures("legacy_engine")

CHAT = ROOT / "workloads" / "chat-llama70b.yaml"
SHORT = ROOT / "workloads" / "short-prompt-llama70b.yaml"
HALLS = ROOT / "fleets" / "h100-a100-two-halls.yaml"


def plan(fleet, workload, **kw):
    return plan_problem(load_problem(fleet, workload), explain=kw.get("explain", False))


def split(p) -> dict[tuple[str, str], int]:
    out: dict[tuple[str, str], int] = {}
    for pool in p.pools:
        out[(pool.gpu, pool.role)] = out.get((pool.gpu, pool.role), 0) + pool.gpus
    return out


def nic_fleet(tmp_path, gbit_s: float):
    return write(
        tmp_path,
        f"nic{gbit_s:g}.yaml",
        f"gpus:\n  - {{type: h100-sxm, count: 16, price_usd_per_hour: 2.95, network_gbit_s: {gbit_s}}}\n"
        f"  - {{type: a100-80-sxm, count: 32, price_usd_per_hour: 2.5, network_gbit_s: {gbit_s}}}\n",
    )


CHAT_8B = """model: llama-3.1-8b
classes:
  - {name: short, prompt_tokens: 384, output_tokens: 128, share: 0.3}
  - {name: medium, prompt_tokens: 1024, output_tokens: 256, share: 0.5}
  - {name: long, prompt_tokens: 3072, output_tokens: 384, share: 0.2}
slo: {ttft_ms: 1000, tpot_ms: 40}
"""


def vm_fleet(tmp_path, gbit_s: float, gpus_per_node: int):
    """8 H100 + 16 A100; gpus_per_node 1: one GPU per cloud VM, so every KV handoff crosses the
    network; 8: HGX/DGX nodes, whose NVLink can carry handoffs between instances of one type."""
    return write(
        tmp_path,
        f"vm{gbit_s:g}-{gpus_per_node}.yaml",
        f"gpus:\n  - {{type: h100-sxm, count: 8, price_usd_per_hour: 2.95, network_gbit_s: {gbit_s}, gpus_per_node: {gpus_per_node}}}\n"
        f"  - {{type: a100-80-sxm, count: 16, price_usd_per_hour: 2.5, network_gbit_s: {gbit_s}, gpus_per_node: {gpus_per_node}}}\n",
    )


def test_slow_network_moves_the_plan_from_disaggregated_to_colocated(tmp_path):
    """Only the network changes. One GPU per VM: at 100 Gb/s the H100s prefill for the A100s;
    at 5 Gb/s the handoffs do not fit through the NICs and every GPU serves colocated. With
    8-GPU nodes the same 5 Gb/s keeps disaggregation alive inside the nodes."""
    w = write(tmp_path, "chat8b.yaml", CHAT_8B)
    fast, slow = plan(vm_fleet(tmp_path, 100, 1), w), plan(vm_fleet(tmp_path, 5, 1), w)
    assert split(fast)[("h100-sxm", "prefill")] == 7 and split(fast)[("a100-80-sxm", "decode")] == 16
    assert fast.throughput.requests_per_s == pytest.approx(171.66, abs=0.01)
    assert {role for _, role in split(slow)} == {"colocated"} and not slow.kv_flows
    assert slow.throughput.requests_per_s == pytest.approx(121.28, abs=0.01)
    nodes = plan(vm_fleet(tmp_path, 5, 8), w)
    inside = sum(f.gb_per_s for f in nodes.kv_flows if f.path.startswith("inside"))
    assert inside > 10 and nodes.throughput.requests_per_s == pytest.approx(144.14, abs=0.01)


def test_slow_nics_on_hgx_nodes_keep_handoffs_inside_nodes(tmp_path):
    fast, slow = plan(nic_fleet(tmp_path, 400), CHAT), plan(nic_fleet(tmp_path, 1), CHAT)
    assert split(fast)[("h100-sxm", "prefill")] == 14 and split(fast)[("a100-80-sxm", "decode")] == 32
    assert fast.throughput.requests_per_s == pytest.approx(30.1844, rel=1e-5)
    # at 1 Gb/s a 3072-token prompt's KV (1.0 GB) takes 4 s to leave a TP2 prefill instance through
    # its NICs, beyond the 2 s TTFT (capacities keep the NIC time: conservative); the H100s
    # colocate, the A100s pair prefill and decode instances inside their nodes
    assert split(slow)[("h100-sxm", "colocated")] == 16
    assert all(f.path == "inside a100-80-sxm nodes (scale-up fabric)" for f in slow.kv_flows)
    assert slow.throughput.requests_per_s == pytest.approx(20.87, abs=0.01)


def test_short_prompts_stay_disaggregated_on_slow_nics(tmp_path):
    fast, slow = plan(nic_fleet(tmp_path, 400), SHORT), plan(nic_fleet(tmp_path, 5), SHORT)
    for p in (fast, slow):
        assert split(p).get(("h100-sxm", "prefill"), 0) > 0 and split(p).get(("a100-80-sxm", "decode"), 0) == 32
    # 128 prompt tokens: 42 MB of KV per request; 5 Gb/s NICs cost under 1% of the throughput
    assert slow.throughput.requests_per_s >= 0.99 * fast.throughput.requests_per_s


def test_a_slow_link_between_halls_keeps_handoffs_inside_each_hall(tmp_path):
    wide = plan(HALLS, CHAT)
    narrow_fleet = write(tmp_path, "halls10.yaml", HALLS.read_text().replace("gbit_s: 400                # one", "gbit_s: 10                # one"))
    narrow = plan(narrow_fleet, CHAT)
    cross = [f for f in wide.kv_flows if f.path.startswith("link")]
    assert [(f.from_zone, f.to_zone) for f in cross] == [("hall-a", "hall-b")]  # H100 prefill -> A100 decode
    assert cross[0].gb_per_s == pytest.approx(11.84, rel=1e-3)
    assert cross[0].link_capacity_gb_per_s == 50.0
    # 10 Gb/s = 1.25 GB/s between the halls: most handoffs stay inside a hall
    per_direction: dict[str, float] = {}
    for f in narrow.kv_flows:
        if f.path.startswith("link"):
            per_direction[f.path] = per_direction.get(f.path, 0.0) + f.gb_per_s
    assert per_direction and all(v <= 1.25 * (1 + 1e-6) for v in per_direction.values()), per_direction
    assert split(narrow)[("a100-80-sxm", "prefill")] > 0 and split(narrow)[("h100-sxm", "decode")] > 0
    assert narrow.throughput.requests_per_s < wide.throughput.requests_per_s
    assert narrow.throughput.requests_per_s == pytest.approx(27.9245, rel=1e-5)


def test_unlinked_zones_exchange_nothing(tmp_path):
    text = HALLS.read_text()
    fleet = write(tmp_path, "nolink.yaml", text[: text.index("links:")] + text[text.index("gpus:") :])
    p = plan(fleet, CHAT)
    assert p.kv_flows and all(not f.path.startswith("link") for f in p.kv_flows)


def test_kv_dtype_conversion_carries_the_senders_bytes_or_is_forbidden(tmp_path):
    fleet = write(
        tmp_path,
        "fp8.yaml",
        "gpus:\n  - {type: h100-sxm, count: 16, price_usd_per_hour: 2.95, kv_dtype: fp8}\n"
        "  - {type: a100-80-sxm, count: 32, price_usd_per_hour: 2.5}\n",
    )
    p = plan(fleet, CHAT)
    assert {f.kv_dtype for f in p.kv_flows} >= {"fp8"}, p.kv_flows
    # the wire carries the sender's dtype: FP8 from the H100s, half the BF16 bytes
    problem = load_problem(fleet, CHAT)
    k = problem.classes[0]
    assert kv_gb_per_request(problem, "fp8", k) == pytest.approx(k.prompt_tokens * 163840 / 1e9)
    assert kv_gb_per_request(problem, "bf16", k) == pytest.approx(k.prompt_tokens * 327680 / 1e9)
    # only the H100s store FP8; their NICs carry every handoff they send outside their nodes
    sent = sum(f.gb_per_s for f in p.kv_flows if f.kv_dtype == "fp8" and not f.path.startswith("inside"))
    egress = next(n for n in p.nic_use if (n.gpu, n.direction) == ("h100-sxm", "egress"))
    assert egress.gb_per_s == pytest.approx(sent, rel=1e-4)
    forbid = write(tmp_path, "w.yaml", CHAT.read_text() + "kv_conversion: forbid\n")
    q = plan(fleet, forbid)
    # FP8 caches from the H100s may only go to FP8 decode pools: the H100s' own
    fp8_handed = sum(f.requests_per_s for f in q.kv_flows if f.kv_dtype == "fp8")
    h100_decoded = sum(c.requests_per_s for p in q.pools if (p.gpu, p.role) == ("h100-sxm", "decode") for c in p.classes)
    assert fp8_handed == pytest.approx(h100_decoded, rel=1e-4)
    assert q.throughput.requests_per_s <= p.throughput.requests_per_s * (1 + 1e-9)  # a restriction costs
