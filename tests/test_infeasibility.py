"""Each infeasibility reason, with the numbers it reports checked independently."""

from __future__ import annotations

import re

import pytest

from conftest import write
from golden_cases import ROOT
from planner.api import load_problem, plan_problem
from planner.catalog import catalog
from planner.errors import InfeasibleError
from planner.optimize.solve import solve
from planner.perf.capacity import build_capacity_table
from planner.perf.model import Deployment

# figures of the 2023 engine profile (see conftest.legacy_engine)
pytestmark = pytest.mark.usefixtures("legacy_engine")

CHAT = ROOT / "workloads" / "chat-llama70b.yaml"
FLEET = ROOT / "fleets" / "h100-a100.yaml"


def reason(fleet, workload, qps=None) -> str:
    with pytest.raises(InfeasibleError) as e:
        plan_problem(load_problem(fleet, workload, qps), explain=False)
    return e.value.message


def test_model_fits_nowhere_says_by_how_much(tmp_path):
    fleet = write(tmp_path, "f.yaml", "gpus:\n  - {type: l4, count: 2}\n")
    workload = write(tmp_path, "w.yaml", CHAT.read_text().replace("llama-3.1-70b", "llama-3.1-405b"))
    msg = reason(fleet, workload)
    # by hand: TP8 (an 8-GPU L4 node); weights 405.853e9 x 2 B / 8 = 101.5 GB per GPU; usable
    # 24 GiB x 0.9 = 23.2 GB; plus workspace and one 3456-token request's KV
    gpu, model = catalog().gpu("l4"), catalog().model("llama-3.1-405b")
    d = Deployment(gpu, model, 8, "bf16", "bf16", "bf16", gpu.efficiency)
    need = 405.853e9 * 2 / 8 + d.activation_workspace_bytes + 3456 * 516096 / 8
    have = 24 * 2**30 * 0.9
    assert "fits on no l4 configuration: at TP8" in msg
    assert f"{need / 1e9:.1f} GB per GPU" in msg
    assert f"{(need - have) / 1e9:.1f} GB too much" in msg
    assert "101.5 GB of weights" in msg


def test_tp_needs_more_gpus_than_owned(tmp_path):
    fleet = write(tmp_path, "f.yaml", "gpus:\n  - {type: h100-sxm, count: 1}\n")
    assert "h100-sxm needs TP2 (2 GPUs) to fit the model; the fleet has 1" in reason(fleet, CHAT)


def test_tpot_below_reach_reports_the_best_value(tmp_path):
    workload = write(tmp_path, "w.yaml", CHAT.read_text().replace("tpot_ms: 80", "tpot_ms: 5"))
    msg = reason(FLEET, workload)
    best = re.search(r"best reachable TPOT \(batch 1\): ([0-9.]+) ms", msg)
    assert best, msg
    # independently: the fastest decode step at batch 1 over every GPU and TP that fits, for the
    # class named in the message
    cls = re.search(r"class '(\w+)' \((\d+) prompt / (\d+) output", msg)
    s, o = int(cls.group(2)), int(cls.group(3))
    steps = []
    for gid in ("h100-sxm", "a100-80-sxm"):
        gpu = catalog().gpu(gid)
        for tp in (2, 4, 8):
            d = Deployment(gpu, catalog().model("llama-3.1-70b"), tp, "bf16", "bf16", "bf16", gpu.efficiency)
            steps.append(float(d.decode_step_ms(1, s + o / 2)))
    assert float(best.group(1)) == pytest.approx(min(steps), abs=0.05)
    assert "TPOT SLO 5 ms" in msg


def test_ttft_below_reach_reports_the_best_value(tmp_path):
    workload = write(tmp_path, "w.yaml", CHAT.read_text().replace("ttft_ms: 2000", "ttft_ms: 20"))
    msg = reason(FLEET, workload)
    best = re.search(r"best reachable TTFT \(prefill \+ KV transfer, no queueing\): ([0-9.]+) ms", msg)
    assert best, msg
    cls = re.search(r"class '(\w+)' \((\d+) prompt", msg)
    s = int(cls.group(2))
    values = []
    for gid, nic in (("h100-sxm", 400), ("a100-80-sxm", 200)):
        gpu = catalog().gpu(gid)
        for tp in (2, 4, 8):
            d = Deployment(gpu, catalog().model("llama-3.1-70b"), tp, "bf16", "bf16", "bf16", gpu.efficiency)
            transfer_ms = s * 327680 / (tp * nic * 1e9 / 8) * 1e3
            values.append(d.prefill_ms(s, 1) + transfer_ms)
    assert float(best.group(1)) == pytest.approx(min(values), abs=0.05)


def test_not_enough_gpus_says_how_many_more_would_do():
    msg = reason(FLEET, CHAT, qps=40)
    served = float(re.search(r"serves at most ([0-9.]+) req/s", msg).group(1))
    problem = load_problem(FLEET, CHAT)
    table = build_capacity_table(problem)
    assert served == pytest.approx(solve(problem, table, "max-throughput").rate_per_s, rel=1e-3)
    assert "nearest feasible plan: " in msg and "x h100-sxm TP2 prefill" in msg
    more = dict((g, int(k)) for k, g in re.findall(r"\+(\d+) ([a-z0-9-]+)", msg))
    assert set(more) == {"h100-sxm", "a100-80-sxm"}
    for gpu_id, k in more.items():
        count = problem.entry(gpu_id).count
        enough = solve(problem.with_count(gpu_id, count + k), table, "max-throughput", tie_break=False).rate_per_s
        short = solve(problem.with_count(gpu_id, count + k - 1), table, "max-throughput", tie_break=False).rate_per_s
        assert enough >= 40 * (1 - 1e-9) > short, (gpu_id, k, enough, short)


def test_slow_network_is_named(tmp_path):
    fleet = write(
        tmp_path,
        "f.yaml",
        "gpus:\n  - {type: h100-sxm, count: 16, network_gbit_s: 1}\n  - {type: a100-80-sxm, count: 32, network_gbit_s: 1}\n",
    )
    msg = reason(fleet, CHAT, qps=40)
    # 3072 prompt tokens x 327,680 B = 1.007 GB over 2 GPUs x 1 Gb/s = 4027 ms > the 2000 ms TTFT
    assert "moving the KV cache takes half the 2000 ms TTFT budget or more" in msg
    assert "4027 ms for 'long' at TP2" in msg
    # the nearest plan keeps the long class off disaggregated pools: the H100s colocate, and A100
    # pairs hand shorter prompts over inside their nodes (the scale-up fabric, not the 1 Gb/s NICs)
    nearest = msg.split("nearest feasible plan: ")[1].split(";")[0]
    assert "h100-sxm TP4 colocated" in nearest and "h100-sxm TP2 prefill" not in nearest
