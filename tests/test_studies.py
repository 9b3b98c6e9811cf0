"""compare, sweep, CI gates and diff, measured capacities, --roles and the class grid (issue 4),
through typer's runner and the library."""

from __future__ import annotations

import json
import sys

import pytest
from typer.testing import CliRunner

from conftest import ROOT, write
from planner.api import load_problem, plan_problem
from planner.cli import app

# figures of the 2023 engine profile (see conftest.legacy_engine)
pytestmark = pytest.mark.usefixtures("legacy_engine")

RUN = CliRunner()
FLEET = str(ROOT / "fleets" / "h100-a100.yaml")
CHAT = str(ROOT / "workloads" / "chat-llama70b.yaml")
SCENARIOS = str(ROOT / "scenarios" / "h100-a100-purchases.yaml")


def _json(r):
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


# ---- compare ----------------------------------------------------------------------------------


def test_compare_purchase_scenarios(tmp_path):
    out = tmp_path / "cmp.json"
    r = RUN.invoke(app, ["compare", CHAT, "--scenarios", SCENARIOS, "--qps", "40", "--objective", "min-cost", "--json", str(out)])
    assert r.exit_code == 0, r.output
    c = json.loads(out.read_text())
    rows = {s["name"]: s for s in c["scenarios"]}
    assert not rows["as is"]["feasible"] and "cannot serve 40 req/s" in rows["as is"]["reason"]
    assert c["reference"] == "rent H100"  # the first feasible scenario
    for name in ("rent H100", "buy H100", "rent A100", "rent L40S for decode"):
        assert rows[name]["feasible"] and rows[name]["requests_per_s"] == pytest.approx(40.0)
    # renting and buying H100 choose the same GPUs; only the price per bought GPU differs
    rent, buy = rows["rent H100"], rows["buy H100"]
    assert rent["gpus_bought"] == buy["gpus_bought"]
    n = rent["gpus_bought"]["h100-sxm"]
    buy_price = 35000 / (4 * 8766) + 1.2 * 1.3 * 0.10
    assert rent["cost_usd_per_hour"] - buy["cost_usd_per_hour"] == pytest.approx(n * (2.95 - buy_price), rel=1e-5)
    assert c["winners"]["cost"] == ["buy H100"]
    assert buy["cost_vs_first"] == pytest.approx(buy["cost_usd_per_hour"] / rent["cost_usd_per_hour"] - 1, rel=1e-5)
    assert "buy H100" in r.output and "Winners" in r.output


def test_compare_two_fleet_files():
    cloud = str(ROOT / "fleets" / "cloud-mix.yaml")
    r = RUN.invoke(app, ["compare", CHAT, "--fleet", FLEET, "--fleet", cloud, "--json", "-"])
    c = _json(r)
    assert [s["fleet"] for s in c["scenarios"]] == ["h100-a100", "cloud-mix"]
    assert c["objective"] == "max-throughput"
    best = max(s["requests_per_s"] for s in c["scenarios"])
    assert c["winners"]["throughput"] == [s["name"] for s in c["scenarios"] if s["requests_per_s"] == best]


def test_compare_scenario_error_names_the_position(tmp_path):
    bad = write(tmp_path, "s.yaml", f"base: {FLEET}\nscenarios:\n  - name: a\n    add: {{h200: 8}}\n")
    r = RUN.invoke(app, ["compare", CHAT, "--scenarios", str(bad)])
    assert r.exit_code == 2
    assert f"{bad}:4:" in r.stderr and "scenarios[0].add.h200" in r.stderr and "not in the base fleet" in r.stderr
    both = RUN.invoke(app, ["compare", CHAT])
    assert both.exit_code == 2 and "--scenarios" in both.stderr


# ---- sweep ------------------------------------------------------------------------------------


def test_sweep_qps_costs_rise_and_mark_the_frontier():
    r = RUN.invoke(app, ["sweep", FLEET, CHAT, "--vary", "qps", "--from", "4", "--to", "28", "--steps", "5", "--json", "-"])
    s = _json(r)
    assert s["objective"] == "min-cost" and [p["value"] for p in s["points"]] == [4, 10, 16, 22, 28]
    costs = [p["cost_usd_per_hour"] for p in s["points"]]
    assert costs == sorted(costs) and costs[0] < costs[-1]
    assert all(p["on_frontier"] for p in s["points"])  # strictly rising: every point is efficient
    assert [p["requests_per_s"] for p in s["points"]] == pytest.approx([4, 10, 16, 22, 28])


def test_sweep_price_reuses_one_fleet_and_reports_infeasible_points():
    r = RUN.invoke(app, ["sweep", FLEET, CHAT, "--vary", "qps", "--values", "10,45", "--json", "-"])
    s = _json(r)
    assert s["points"][0]["feasible"] and not s["points"][1]["feasible"]
    assert "45 req/s" in s["points"][1]["reason"]
    r = RUN.invoke(app, ["sweep", FLEET, CHAT, "--vary", "price:a100-80-sxm", "--values", "0.5,3", "--qps", "20", "--json", "-"])
    a, b = _json(r)["points"]
    assert a["cost_usd_per_hour"] < b["cost_usd_per_hour"]
    assert a["gpus_used"]["a100-80-sxm"] >= b["gpus_used"].get("a100-80-sxm", 0)  # cheaper A100s: use more of them


def test_sweep_text_chart_and_plot_hint_without_matplotlib(tmp_path, monkeypatch):
    r = RUN.invoke(app, ["sweep", FLEET, CHAT, "--vary", "budget", "--values", "20,60,120"])
    assert r.exit_code == 0, r.output
    assert "cost-throughput frontier" in r.output and "*" in r.output
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the [plot] extra were not installed
    r = RUN.invoke(app, ["sweep", FLEET, CHAT, "--vary", "budget", "--values", "20,60", "--plot", str(tmp_path / "f.png")])
    assert r.exit_code == 2 and "pip install 'planner[plot]'" in r.stderr


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--vary", "price:h200", "--values", "1"], "'h200' is not in the fleet"),
        (["--vary", "speed", "--values", "1"], "unknown parameter 'speed'"),
        (["--vary", "qps"], "give --from and --to"),
        (["--vary", "qps", "--values", "1,x"], "not a comma-separated list"),
        (["--vary", "link:a:b", "--values", "1"], "no link between 'a' and 'b'"),
    ],
)
def test_sweep_errors(args, fragment):
    r = RUN.invoke(app, ["sweep", FLEET, CHAT, *args])
    assert r.exit_code == 2 and fragment in r.stderr


# ---- CI gates and diff ------------------------------------------------------------------------


def test_require_qps_and_cost_gates(tmp_path):
    out = tmp_path / "p.json"
    ok = RUN.invoke(app, ["solve", FLEET, CHAT, "-q", "--no-explain", "--require-qps", "25", "--json", str(out)])
    assert ok.exit_code == 0, ok.output
    rate = json.loads(out.read_text())["throughput"]["requests_per_s"]
    r = RUN.invoke(app, ["solve", FLEET, CHAT, "-q", "--no-explain", "--require-qps", "35", "--max-cost-usd-per-hour", "100"])
    assert r.exit_code == 1
    line = r.stderr.strip()
    assert "\n" not in line and line.startswith("error: requirement not met")
    assert f"serves {rate:,.3f} req/s < required 35 req/s" in line and "> limit $100/h" in line


def test_diff_flags_regressions(tmp_path):
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert RUN.invoke(app, ["solve", FLEET, CHAT, "-q", "--no-explain", "--json", str(a)]).exit_code == 0
    assert RUN.invoke(app, ["solve", FLEET, CHAT, "-q", "--no-explain", "--roles", "colocated", "--json", str(b)]).exit_code == 0
    same = RUN.invoke(app, ["diff", str(a), str(a), "--fail-on-regression"])
    assert same.exit_code == 0 and "same pools" in same.output
    worse = RUN.invoke(app, ["diff", str(a), str(b), "--fail-on-regression"])
    assert worse.exit_code == 1 and "regression beyond 2.0%: throughput req/s" in worse.stderr
    better = RUN.invoke(app, ["diff", str(b), str(a), "--fail-on-regression"])  # more throughput, same cost
    assert better.exit_code == 0, better.stderr
    bad = write(tmp_path, "x.json", "{}")
    r = RUN.invoke(app, ["diff", str(bad), str(a)])
    assert r.exit_code == 2 and "not a plan file" in r.stderr


# ---- --roles, measured capacities, the class grid ---------------------------------------------


def test_roles_colocated_equals_the_no_disaggregation_baseline():
    full = plan_problem(load_problem(FLEET, CHAT))
    base = next(b for b in full.baselines if b.name == "no-disaggregation")
    only = plan_problem(load_problem(FLEET, CHAT, roles=["colocated"]), explain=False)
    assert {p.role for p in only.pools} == {"colocated"}
    assert only.throughput.requests_per_s == pytest.approx(base.requests_per_s, rel=1e-6)
    with pytest.raises(Exception, match="prefill and decode go together"):
        load_problem(FLEET, CHAT, roles=["prefill"])


MEASURED = """\
name: measured
model: llama-3.1-70b
classes:
  - {name: short, prompt_tokens: 512, output_tokens: 128, share: 0.5}
  - {name: long, prompt_tokens: 2048, output_tokens: 256, share: 0.5}
slo: {ttft_ms: 2000, tpot_ms: 80}
measured_capacities:
  - {gpu: a100-80-sxm, tp: 4, role: colocated, class: short, requests_per_s: 1.25, source: load test 2026-11}
  - {gpu: a100-80-sxm, tp: 4, role: colocated, prefill_tokens_per_s: 9000, decode_tokens_per_s: 600}
"""


def test_measured_capacities_replace_the_model(tmp_path):
    w = write(tmp_path, "w.yaml", MEASURED)
    plan = plan_problem(load_problem(FLEET, str(w), roles=["colocated"]), explain=False)
    caps = {(p.gpu, p.tp, c.request_class): c for p in plan.pools for c in p.classes}
    # the second entry (all classes, from token rates) comes after the first and replaces it
    long_rate = 1 / (2048 / 9000 + 256 / 600)
    short_rate = 1 / (512 / 9000 + 128 / 600)
    assert any(gpu == "a100-80-sxm" and tp == 4 for gpu, tp, _ in caps)  # the measured pool is used
    for (gpu, tp, k), c in caps.items():
        if gpu == "a100-80-sxm" and tp == 4:
            assert c.capacity_source == "measured: measured"
            assert c.capacity_per_instance_per_s == pytest.approx(short_rate if k == "short" else long_rate, rel=1e-5)
            assert c.predicted_ttft_ms is None
        else:
            assert c.capacity_source == "model"
    r = RUN.invoke(app, ["solve", FLEET, str(w), "--roles", "colocated", "--no-explain"])
    assert r.exit_code == 0 and "m: measured capacity (measured); others modelled" in r.output


@pytest.mark.parametrize(
    "entry, fragment",
    [
        ("{gpu: h200, tp: 1, role: decode, decode_tokens_per_s: 100}", "'h200' is not in the fleet"),
        ("{gpu: a100-80-sxm, tp: 4, role: decode, class: huge, requests_per_s: 1}", "unknown request class 'huge'"),
        ("{gpu: a100-80-sxm, tp: 4, role: decode, requests_per_s: 1}", "name the class"),
        ("{gpu: a100-80-sxm, tp: 1, role: decode, requests_per_s: 1, class: short}", "TP1 does not fit"),
        ("{gpu: a100-80-sxm, tp: 4, role: colocated, decode_tokens_per_s: 1}", "needs requests_per_s or prefill_tokens_per_s"),
    ],
)
def test_measured_capacity_errors(tmp_path, entry, fragment):
    text = MEASURED.split("measured_capacities:")[0] + f"measured_capacities:\n  - {entry}\n"
    w = write(tmp_path, "w.yaml", text)
    r = RUN.invoke(app, ["solve", FLEET, str(w), "-q", "--no-explain"])
    assert r.exit_code == 2, r.output
    assert f"{w}:8:" in r.stderr and fragment in r.stderr


def test_request_class_grid(tmp_path):
    w = write(
        tmp_path,
        "g.yaml",
        "model: llama-3.1-70b\nrequests:\n  grid:\n    prompt_tokens: [512, 4096]\n    output_tokens: [128, 512]\n"
        "    shares: [[0.5, 0.2], [0.3, 0.0]]\nslo: {ttft_ms: 2000, tpot_ms: 80}\n",
    )
    p = load_problem(FLEET, str(w))
    assert [(k.name, k.prompt_tokens, k.output_tokens, k.share) for k in p.classes] == [
        ("p512-o128", 512, 128, 0.5), ("p512-o512", 512, 512, 0.2), ("p4096-o128", 4096, 128, 0.3)
    ]
    bad = write(tmp_path, "b.yaml", "model: llama-3.1-70b\nrequests:\n  grid: {prompt_tokens: [512], output_tokens: [128, 256], shares: [[1.0]]}\n")
    r = RUN.invoke(app, ["solve", FLEET, str(bad), "-q"])
    assert r.exit_code == 2 and "shares must be 1 rows (prompt lengths) of 2" in r.stderr


def test_scenarios_keep_the_base_fleets_relative_profile(tmp_path):
    from planner.perf.calibrate import calibrate_file

    (tmp_path / "f").mkdir()
    (tmp_path / "s").mkdir()
    calibrate_file(ROOT / "planner" / "perf" / "data" / "splitwise" / "perf_model.csv", "h100-sxm", out=tmp_path / "f" / "h.yaml")
    write(tmp_path / "f", "base.yaml", "gpus:\n  - {type: h100-sxm, count: 8, efficiency_profile: h.yaml}\n")
    s = write(tmp_path / "s", "sc.yaml", "base: ../f/base.yaml\nscenarios:\n  - name: as is\n  - name: more\n    add: {h100-sxm: 8}\n")
    c = _json(RUN.invoke(app, ["compare", CHAT, "--scenarios", str(s), "--json", "-"]))
    a, b = c["scenarios"]
    assert a["feasible"] and b["feasible"]  # the changed fleet still finds h.yaml beside base.yaml
    assert b["requests_per_s"] == pytest.approx(2 * a["requests_per_s"], rel=1e-5)  # 8 more H100: twice the pools
