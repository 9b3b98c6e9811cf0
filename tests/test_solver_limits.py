"""Solver limits: a time-out with a plan is reported as not proven optimal, with its gap; a
missing solver names the alternative."""

from __future__ import annotations

import dataclasses
import json

import pulp
from typer.testing import CliRunner

from golden_cases import ROOT
from planner.cli import app
from planner.optimize import solve as solve_module

FLEET = str(ROOT / "fleets" / "h100-a100.yaml")
CHAT = str(ROOT / "workloads" / "chat-llama70b.yaml")


def test_time_out_with_a_plan_is_marked_and_keeps_its_gap(monkeypatch):
    original = solve_module._Runner.run
    calls = {"n": 0}

    def timed_out_first(self, m, sense, objective, warm=False, **kw):
        stats, gap = original(self, m, sense, objective, warm, **kw)
        calls["n"] += 1
        if calls["n"] == 1:  # the stage that decides the objective stops early, 2% from its bound
            stats = dataclasses.replace(
                stats, status=pulp.LpSolveStatus.TimeLimit, best_bound=stats.objective * 1.02
            )
            gap = solve_module._gap(stats)
        return stats, gap

    monkeypatch.setattr(solve_module._Runner, "run", timed_out_first)
    r = CliRunner().invoke(app, ["solve", FLEET, CHAT, "--no-explain", "-q", "--json", "-", "--time-limit", "10"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["status"] == "feasible"
    assert abs(doc["mip_gap"] - 0.02) < 1e-9


def test_missing_solver_names_the_alternative(monkeypatch):
    monkeypatch.setattr(pulp.HiGHS, "available", lambda self: False)
    r = CliRunner().invoke(app, ["solve", FLEET, CHAT, "--no-explain", "-q"])
    assert r.exit_code == 3
    assert "solver 'highs' is not available" in r.stderr and "--solver cbc" in r.stderr
