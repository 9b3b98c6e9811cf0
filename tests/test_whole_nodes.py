"""Buying whole nodes (issue 12, item 8): hand-computed on measured capacities.

One H100 instance (TP1, colocated) serves 1 / (0.6/5 + 0.4/1.3) = 2.33813 req/s of this mix.
The fleet owns 2 H100 at $1/h and may rent more only as 8-GPU servers at $3/h per GPU.
"""

from __future__ import annotations

import pytest

from conftest import write
from planner.api import load_problem, plan_problem

FLEET = """\
name: nodes
gpus:
  - type: h100-sxm
    count: 2
    price_usd_per_hour: 1.0
    gpus_per_node: 8
    buy: {max: unlimited, price_usd_per_hour: 3.0, whole_nodes: true}
"""
WORKLOAD = """\
name: mix
model: llama-3.1-8b
tp_degrees: [1]
classes:
  - {name: short, prompt_tokens: 512, output_tokens: 128, share: 0.6}
  - {name: long, prompt_tokens: 2048, output_tokens: 256, share: 0.4}
measured_only: true
measured_capacities:
  - {gpu: h100-sxm, tp: 1, role: colocated, class: short, requests_per_s: 5.0}
  - {gpu: h100-sxm, tp: 1, role: colocated, class: long, requests_per_s: 1.3}
"""
ONE = 1 / (0.6 / 5.0 + 0.4 / 1.3)


def _plan(tmp_path, qps: float, fleet: str = FLEET):
    problem = load_problem(write(tmp_path, "f.yaml", fleet), write(tmp_path, "w.yaml", WORKLOAD), qps=qps)
    return plan_problem(problem, "min-cost", "highs", explain=True)


def test_owned_gpus_first_while_they_suffice(tmp_path):
    plan = _plan(tmp_path, 2 * ONE)
    assert plan.cost.usd_per_hour == pytest.approx(2.0) and plan.gpus[0].bought == 0


def test_a_third_gpu_costs_a_whole_node(tmp_path):
    plan = _plan(tmp_path, 3 * ONE)
    g = plan.gpus[0]
    # one node of 8 at $3/h is paid whatever runs on it: the 3 instances run on bought GPUs
    assert (g.bought, g.buy_node_gpus) == (8, 8)
    assert plan.cost.usd_per_hour == pytest.approx(24.0)
    singles = next(b for b in plan.baselines if b.name == "buying single GPUs")
    assert singles.cost_usd_per_hour == pytest.approx(2 * 1.0 + 3.0)  # 2 owned + 1 rented GPU
    assert not singles.near_tie


def test_single_gpu_purchases_are_unchanged(tmp_path):
    plan = _plan(tmp_path, 3 * ONE, FLEET.replace(", whole_nodes: true", ""))
    assert plan.gpus[0].bought == 1 and plan.gpus[0].buy_node_gpus is None
    assert plan.cost.usd_per_hour == pytest.approx(5.0)
    assert not [b for b in plan.baselines if b.name == "buying single GPUs"]
