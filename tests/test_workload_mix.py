"""Near-misses a user cannot see (issue 13, item 4): measured beside modelled capacities, share
sums a rounding away from 1, classes with share 0."""

from __future__ import annotations

import pytest

from conftest import write
from planner.api import load_problem, plan_problem
from planner.errors import InputError

FLEET = """\
name: knife
gpus:
  - {type: h100-sxm, count: 0, gpus_per_node: 8, buy: {max: 16, price_usd_per_hour: 2.95}}
  - {type: a100-80-sxm, count: 0, gpus_per_node: 8, buy: {max: 16, price_usd_per_hour: 2.50}}
"""
WORKLOAD = """\
name: mix
model: llama-3.1-8b
tp_degrees: [1, 2]
classes:
  - {name: short, prompt_tokens: 512, output_tokens: 128, share: 0.6}
  - {name: long, prompt_tokens: 2048, output_tokens: 256, share: 0.4}
traffic: {qps: 7}
measured_capacities:
  - {gpu: h100-sxm, tp: 1, role: colocated, class: short, requests_per_s: 5.0}
  - {gpu: h100-sxm, tp: 1, role: colocated, class: long, requests_per_s: 1.3}
  - {gpu: a100-80-sxm, tp: 1, role: colocated, class: short, requests_per_s: 2.1}
  - {gpu: a100-80-sxm, tp: 1, role: colocated, class: long, requests_per_s: 0.7}
"""


def _plan(tmp_path, workload: str):
    problem = load_problem(write(tmp_path, "f.yaml", FLEET), write(tmp_path, "w.yaml", workload))
    return plan_problem(problem, "min-cost", "highs", explain=False)


def test_modelled_configurations_beside_measured_ones_are_named(tmp_path):
    plan = _plan(tmp_path, WORKLOAD)
    # the modelled TP1/TP2 prefill and decode pools are far cheaper than the measured colocated ones
    assert plan.cost.usd_per_hour < 3 * 2.95
    note = next(n for n in plan.notes if n.startswith("measured capacities sit beside modelled ones"))
    assert "set measured_only: true" in note and "h100-sxm TP2 colocated" in note


def test_measured_only_plans_on_the_measurements_alone(tmp_path):
    plan = _plan(tmp_path, WORKLOAD.replace("traffic:", "measured_only: true\ntraffic:"))
    # 7 req/s of this mix: 3 measured H100 instances (2.338 req/s each) are the cheapest
    assert plan.cost.usd_per_hour == pytest.approx(3 * 2.95)
    assert {(p.gpu, p.tp, p.role) for p in plan.pools} == {("h100-sxm", 1, "colocated")}
    assert all(c.capacity_source != "model" for p in plan.pools for c in p.classes)
    assert "measured_only: planned on the 4 measured capacities alone" in plan.notes


def test_shares_a_rounding_away_from_one_are_normalised_and_reported(tmp_path):
    plan = _plan(tmp_path, WORKLOAD.replace("share: 0.4}", "share: 0.399999}"))  # sum 0.999999: was refused
    assert "mix: class shares summed to 0.999999; each was divided by it to sum to 1" in plan.notes
    assert plan.throughput.requests_per_s == pytest.approx(7.0)


def test_shares_further_off_are_refused(tmp_path):
    with pytest.raises(InputError, match=r"class shares must sum to 1 within 0.005 \(they sum to 0.99\)"):
        load_problem(write(tmp_path, "f.yaml", FLEET), write(tmp_path, "w.yaml", WORKLOAD.replace("share: 0.4}", "share: 0.39}")))


def test_zero_share_classes_are_left_out_and_reported(tmp_path):
    wl = WORKLOAD.replace(
        "  - {name: long, prompt_tokens: 2048, output_tokens: 256, share: 0.4}\n",
        "  - {name: long, prompt_tokens: 2048, output_tokens: 256, share: 0.4}\n"
        "  - {name: rare, prompt_tokens: 8000, output_tokens: 100, share: 0}\n",
    )
    plan = _plan(tmp_path, wl)
    assert "mix: class rare with share 0 left out" in plan.notes
    assert {c.request_class for p in plan.pools for c in p.classes} <= {"short", "long"}


def test_all_zero_shares_are_refused(tmp_path):
    wl = WORKLOAD.replace("share: 0.6}", "share: 0}").replace("share: 0.4}", "share: 0}")
    with pytest.raises(InputError, match="every class has share 0"):
        load_problem(write(tmp_path, "f.yaml", FLEET), write(tmp_path, "w.yaml", wl))
