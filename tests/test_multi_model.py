"""Several models sharing one fleet: one optimisation, per-model results."""

from __future__ import annotations

import pytest

from conftest import write
from golden_cases import ROOT
from planner.api import load_problem, plan_problem
from planner.errors import InputError

# figures of the 2023 engine profile (see conftest.legacy_engine)
pytestmark = pytest.mark.usefixtures("legacy_engine")

FLEET = ROOT / "fleets" / "h100-a100.yaml"
BIG = ROOT / "workloads" / "assistant-llama70b.yaml"
SMALL = ROOT / "workloads" / "autocomplete-llama8b.yaml"


def test_joint_beats_a_fixed_half_of_the_fleet_each(tmp_path):
    joint = plan_problem(load_problem(FLEET, [BIG, SMALL]), "max-throughput", explain=False)
    scale = joint.throughput.requests_per_s / 50  # targets 10 + 40 req/s, scaled together
    models = {m.name: m for m in joint.models}
    assert models["assistant"].requests_per_s == pytest.approx(10 * scale, rel=1e-5)  # 6 digits in the plan
    assert models["autocomplete"].requests_per_s == pytest.approx(40 * scale, rel=1e-5)
    half = write(
        tmp_path,
        "half.yaml",
        "gpus:\n  - {type: h100-sxm, count: 8, price_usd_per_hour: 2.95}\n"
        "  - {type: a100-80-sxm, count: 16, price_usd_per_hour: 2.5}\n",
    )
    alone = [
        plan_problem(load_problem(half, w), "max-throughput", explain=False).throughput.requests_per_s / target
        for w, target in ((BIG, 10), (SMALL, 40))
    ]
    split_scale = min(alone)  # the common factor two fixed halves reach
    assert scale == pytest.approx(1.7427, rel=1e-3)
    assert split_scale == pytest.approx(1.0574, rel=1e-3)
    assert scale > 1.5 * split_scale


def test_min_cost_meets_every_target():
    plan = plan_problem(load_problem(FLEET, [BIG, SMALL]), "min-cost", explain=False)
    models = {m.name: m for m in plan.models}
    assert models["assistant"].requests_per_s == pytest.approx(10, rel=1e-9)
    assert models["autocomplete"].requests_per_s == pytest.approx(40, rel=1e-9)
    assert {p.model for p in plan.pools} == {"assistant", "autocomplete"}
    assert sum(m.gpus for m in plan.models) == sum(g.used for g in plan.gpus)
    for est in plan.slo_estimates:
        assert est.met


def test_every_model_needs_a_target(tmp_path):
    w = write(tmp_path, "w.yaml", SMALL.read_text().replace("qps: 40", "qps: max"))
    with pytest.raises(InputError, match="each needs a QPS target .* missing for autocomplete"):
        load_problem(FLEET, [BIG, w])


def test_workload_names_must_differ():
    with pytest.raises(InputError, match="two workloads are named 'assistant'"):
        load_problem(FLEET, [BIG, BIG])


def test_qps_option_scales_the_mix():
    p = load_problem(FLEET, [BIG, SMALL], qps=100)
    assert [s.qps_target for s in p.served] == pytest.approx([20, 80])
