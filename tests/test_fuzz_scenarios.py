"""Fuzzing scenario overlays through `planner compare`: random changes to the shipped base
fleet (add, remove, price, buy, new GPU types, links; valid or not) must end in exit 0 (a
comparison, infeasible scenarios as rows), or 2 with one `error:` line naming the scenarios
file; never an internal error or a traceback."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import ROOT
from planner.cli import app

RUN = CliRunner()
CHAT = str(ROOT / "workloads" / "rag-llama8b.yaml")
BASE = str(ROOT / "fleets" / "cloud-mix.yaml")
TYPES = ["l4", "l40s", "a100-80-sxm", "h100-sxm", "h200", "mi300x", "nope"]
numbers = st.sampled_from([0, 1, 2, 8, 64, -1, 0.5, 1e9, "x", None, True])
prices = st.sampled_from([0, 0.5, 1.95, 3.0, 999, 1e6, -1, "cheap"])
purchase = st.fixed_dictionaries(
    {"max": st.sampled_from([0, 4, 16, "unlimited", -2, "lots"])},
    optional={
        "price_usd_per_hour": prices,
        "purchase_usd": st.sampled_from([30000, 0, -5]),
        "amortisation_years": st.sampled_from([4, 0, 50]),
        "power_kw": st.sampled_from([1.0, -1]),
        "usd_per_kwh": st.sampled_from([0.1, 20]),
    },
)
scenario = st.fixed_dictionaries(
    {"name": st.text("abc -", min_size=1, max_size=6)},
    optional={
        "add": st.dictionaries(st.sampled_from(TYPES), numbers, max_size=2),
        "remove": st.dictionaries(st.sampled_from(TYPES), numbers, max_size=2),
        "price": st.dictionaries(st.sampled_from(TYPES), prices, max_size=2),
        "buy": st.dictionaries(st.sampled_from(TYPES), purchase, max_size=2),
        "gpus": st.lists(st.fixed_dictionaries({"type": st.sampled_from(TYPES), "count": numbers}), max_size=2),
        "links": st.lists(st.fixed_dictionaries({"between": st.just(["a", "b"]), "gbit_s": numbers}), max_size=1),
        "surprise": st.just(1),
    },
)


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(scenarios=st.lists(scenario, min_size=1, max_size=3))
def test_scenario_overlays_never_crash(tmp_path, scenarios):
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump({"base": BASE, "scenarios": scenarios}))
    r = RUN.invoke(app, ["compare", CHAT, "--scenarios", str(path), "--objective", "min-cost", "--time-limit", "5"])
    assert r.exit_code in (0, 2), (r.exit_code, r.output, scenarios)
    assert "Traceback" not in r.output
    if r.exit_code == 2:
        line = r.stderr.strip()
        assert line.startswith("error: ") and "\n" not in line and str(path) in line, line
