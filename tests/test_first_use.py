"""What a capacity engineer hits on first use (issue 12, items 5-15): units, words, the terminal.

The inputs are the issue's own (`first-use/y/`), inlined; each test failed before its fix.
"""

from __future__ import annotations

import json

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from conftest import write
from golden_cases import ROOT
from planner.api import plan_files
from planner.cli import app
from planner.report.terminal import advantage_sentence

RUN = CliRunner()
FLEET = str(ROOT / "fleets" / "h100-a100.yaml")
CHAT = str(ROOT / "workloads" / "chat-llama70b.yaml")

FLEET_16_16 = """\
name: h100-a100
gpus:
  - {type: h100-sxm, count: 16, price_usd_per_hour: 2.95, gpus_per_node: 8}
  - {type: a100-80-sxm, count: 16, price_usd_per_hour: 2.50, gpus_per_node: 8}
"""
BATCH = """\
name: batch-llama70b
model: llama-3.1-70b
classes:
  - {name: doc, prompt_tokens: 2000, output_tokens: 200, share: 1.0}
traffic: {qps: max}
"""
SLO = BATCH.replace("batch-llama70b", "slo-llama70b") + "slo: {ttft_ms: 2000, tpot_ms: 50, percentile: 90}\n"
CLOUD = """\
name: cloud-rent
gpus:
  - {type: l4, count: 0, gpus_per_node: 8, buy: {max: unlimited, price_usd_per_hour: 0.80}}
  - {type: l40s, count: 0, gpus_per_node: 8, buy: {max: unlimited, price_usd_per_hour: 1.95}}
  - {type: a100-80-sxm, count: 0, gpus_per_node: 8, buy: {max: unlimited, price_usd_per_hour: 2.50}}
  - {type: h100-sxm, count: 0, gpus_per_node: 8, buy: {max: unlimited, price_usd_per_hour: 2.95}}
"""
LLAMA8B = """\
name: chat-llama8b
model: llama-3.1-8b
classes:
  - {name: short, prompt_tokens: 512, output_tokens: 128, share: 0.5}
  - {name: long, prompt_tokens: 2048, output_tokens: 384, share: 0.5}
traffic: {qps: 100}
slo: {ttft_ms: 1000, tpot_ms: 50, percentile: 90}
"""


@pytest.fixture
def textbook(tmp_path):
    return str(write(tmp_path, "fleet.yaml", FLEET_16_16)), str(write(tmp_path, "batch.yaml", BATCH))


@pytest.fixture
def cloud(tmp_path):
    return str(write(tmp_path, "cloud.yaml", CLOUD)), str(write(tmp_path, "llama8b.yaml", LLAMA8B))


def _widest(text: str) -> int:
    return max(cell_len(line) for line in text.splitlines())


# item 15: the report fits the terminal it is printed on
def test_report_fits_80_columns_without_cutting_a_number():
    r = RUN.invoke(app, ["solve", FLEET, CHAT], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    assert _widest(r.output) <= 80
    assert "…" not in r.output  # before: 'h100…', 'pref…', '100.…'
    for whole in ("a100-80-sxm", "colocated", "49.440 req/s", "100.0%", "14.832", "$127.20/h"):
        assert whole in r.output


def test_piped_report_is_laid_out_for_120_columns():
    r = RUN.invoke(app, ["solve", FLEET, CHAT])  # no terminal, no $COLUMNS
    assert r.exit_code == 0
    assert 100 < _widest(r.output) <= 120  # before: fixed 140-200 whatever the terminal
    assert RUN.invoke(app, ["solve", FLEET, CHAT]).output == r.output  # byte-stable


def test_catalog_at_80_columns_leaves_out_columns_and_says_so():
    r = RUN.invoke(app, ["catalog", "gpus"], env={"COLUMNS": "80"})
    assert r.exit_code == 0
    assert _widest(r.output) <= 80 and "h100-sxm" in r.output
    assert "left out to fit 80 columns: verification, sources" in r.output


# items 5 and 6: one unit per figure, named; effectively optimal plans are proven
def test_compare_and_sweep_speak_in_usd_per_million_output_tokens(textbook, tmp_path):
    fleet, batch = textbook
    plan = plan_files(fleet, batch, explain=False)
    assert plan.status == "optimal"  # max-tokens-per-dollar: was "not proven optimal (gap 0.000%)"
    out = tmp_path / "c.json"
    r = RUN.invoke(app, ["compare", batch, "--fleet", fleet, "--json", str(out)])
    assert r.exit_code == 0, r.output
    row = json.loads(out.read_text())["scenarios"][0]
    assert row["usd_per_million_output_tokens"] == plan.cost.usd_per_million_output_tokens == pytest.approx(3.071, abs=1e-3)
    assert row["usd_per_million_tokens"] == plan.cost.usd_per_million_tokens  # per input + output token
    assert "USD per M output tok" in " ".join(r.output.split())
    s = tmp_path / "s.json"
    r = RUN.invoke(app, ["sweep", fleet, batch, "--vary", "price:a100-80-sxm", "--values", "1,3", "--json", str(s)])
    assert r.exit_code == 0, r.output
    points = json.loads(s.read_text())["points"]
    assert all(p["status"] == "optimal" for p in points)  # was "feasible (gap 0.00%)"
    assert points[1]["usd_per_million_output_tokens"] == pytest.approx(plan.cost.usd_per_million_output_tokens, rel=1e-4)
    # item 9: the pools that won, not only GPU counts
    assert points[1]["pools"] == ["h100-sxm tp2 prefill x6", "h100-sxm tp4 decode x1"]


def test_require_optimal_passes_a_proven_tokens_per_dollar_plan(textbook):
    r = RUN.invoke(app, ["solve", *textbook, "-q", "--no-explain", "--require-optimal"])
    assert r.exit_code == 0, r.output


# item 7: purchase mode prices GPUs at what buying one costs
def test_purchase_mode_prices_the_advantage_table_and_marginal_values(cloud):
    plan = plan_files(*cloud, explain=True)
    prices = {a.gpu: a.price_usd_per_hour for a in plan.advantage}
    assert prices == {"l4": 0.8, "l40s": 1.95, "a100-80-sxm": 2.5, "h100-sxm": 2.95}  # was 0.00 each
    assert {g.gpu: g.price_source for g in plan.gpus}["l4"] == "purchase price (none owned)"
    for m in plan.marginal_values:
        assert m.price_usd_per_hour == prices[m.gpu]
        assert m.delta_cost_usd_per_hour is None or m.delta_cost_usd_per_hour >= 0  # a bought GPU saves nothing
    # item 11: none owned, none used: no "every GPU of this type is in use"
    assert not [b for b in plan.binding if b.meaning == "every GPU of this type is in use"]


# item 10: the explanation says what the plan does, for any number of types
def test_explanation_names_every_type_and_why_the_unused_are_left_out(cloud, textbook):
    text = advantage_sentence(plan_files(*cloud, explain=False))
    for gpu in ("l4", "l40s", "a100-80-sxm", "h100-sxm"):
        assert gpu in text
    assert "l40s is unused: per req/s it costs more in both phases" in text
    text = advantage_sentence(plan_files(*textbook, explain=False))
    assert "a100-80-sxm is unused" in text and "The plan: h100-sxm 12 prefill + 4 decode GPUs" in text
    assert "follows" not in text  # before: "The plan follows it" with every A100 idle


# item 11: words that fit the workload
def test_without_slos_pools_run_at_their_capacity_not_an_slo_limit(textbook):
    plan = plan_files(*textbook, explain=True)
    busy = [b.meaning for b in plan.binding if b.family == "busy"]
    assert busy and all("SLO" not in m.replace("no SLOs", "") for m in busy)


def test_kv_path_reads_as_words(tmp_path):
    r = RUN.invoke(app, ["solve", FLEET, CHAT, "--no-explain"])
    assert "KV over the NICs within zone default" in r.output and "over inside" not in r.output


# item 12: the budget is named as the cause
def test_a_budget_below_the_cheapest_plan_says_so(textbook):
    r = RUN.invoke(app, ["solve", *textbook, "--budget-usd-per-hour", "1"])
    assert r.exit_code == 1
    assert "error: the budget of $1/h buys no plan that serves traffic: the cheapest (2x a100-80-sxm colocated) costs $5.00/h" in r.output
    assert "within the SLOs" not in r.output


# item 13: compare keeps reasons whole and names same-named fleets apart
def test_compare_same_named_fleets_get_one_reference(tmp_path, textbook):
    fleet, batch = textbook
    other = write(tmp_path, "fleet-a150.yaml", FLEET_16_16.replace("2.50", "1.50"))
    out = tmp_path / "c.json"
    r = RUN.invoke(app, ["compare", batch, "--fleet", fleet, "--fleet", str(other), "--json", str(out)])
    assert r.exit_code == 0, r.output
    names = [s["name"] for s in json.loads(out.read_text())["scenarios"]]
    assert names == ["fleet", "fleet-a150"]  # both were "h100-a100": both "ref.", both starred
    assert r.output.count("ref.") == 2  # the two delta columns of the one reference row


def test_compare_gives_the_infeasibility_reason_in_full(tmp_path):
    fleet = write(tmp_path, "f.yaml", FLEET_16_16)
    chat = write(tmp_path, "chat.yaml", SLO.replace("qps: max", "qps: 75"))
    r = RUN.invoke(app, ["compare", str(chat), "--fleet", str(fleet)], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    flat = " ".join(r.output.split())
    assert "infeasible (1)" in flat
    assert "(1) h100-a100: the fleet cannot serve 75 req/s" in flat and "enough with +" in flat and "…" not in flat


# item 14: a simpler plan within 1% is flagged beside the optimum
def test_near_tie_simpler_plan_is_flagged(cloud):
    plan = plan_files(*cloud, explain=True)
    ties = [b for b in plan.baselines if b.near_tie]
    assert [b.name for b in ties] == ["no-disaggregation"]
    assert ties[0].pools == {"h100-sxm:tp1:colocated": 8} and ties[0].gain_of_plan == 0.0
    assert not [b for b in plan.baselines if b.name == "only h100-sxm" and b.near_tie]  # its pools are the plan's


# item 5 (diff) and item 11 (diff's Python None)
def test_diff_names_both_cost_units_and_no_python_none(tmp_path, textbook):
    fleet, batch = textbook
    slo = write(tmp_path, "slo.yaml", SLO)
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert RUN.invoke(app, ["solve", fleet, batch, "--json", str(a), "-q", "--no-explain"]).exit_code == 0
    assert RUN.invoke(app, ["solve", fleet, str(slo), "--json", str(b), "-q", "--no-explain"]).exit_code == 0
    r = RUN.invoke(app, ["diff", str(a), str(b)])
    assert r.exit_code == 0, r.output
    assert "USD per million output tokens" in r.output and "USD per million tokens (input + output)" in r.output
    assert "None" not in r.output and "ttft_slo_ms: none -> 2000" in " ".join(r.output.split())


# item 17: the README's scenarios are the shipped files, and each overlay kind reads as printed
def test_shipped_scenario_files_read_as_the_readme_prints_them():
    from planner.studies.compare import fleets_from_scenarios

    names = [n for n, _, _ in fleets_from_scenarios(ROOT / "scenarios" / "two-halls.yaml")]
    assert names == ["as is", "buy 8 H100", "rent H100", "rent L40S for decode", "cheaper, fewer A100", "slower link"]
    readme = (ROOT / "README.md").read_text()
    assert "source .venv/bin/activate" in readme and "DESIGN.md" not in readme
    assert [n for n, _, _ in fleets_from_scenarios(ROOT / "scenarios" / "h100-a100-purchases.yaml")] == [
        "as is", "rent H100", "buy H100", "rent A100", "rent L40S for decode"
    ]
