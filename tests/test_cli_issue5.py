"""The simulate, calibrate and model commands through typer's runner."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from conftest import ROOT, write
from planner.cli import app
from planner.perf.calibrate import load_profile

RUN = CliRunner()
FLEET = str(ROOT / "fleets" / "h100-a100.yaml")
CHAT = str(ROOT / "workloads" / "chat-llama70b.yaml")
SPLITWISE = str(ROOT / "planner" / "perf" / "data" / "splitwise" / "perf_model.csv")


def test_simulate_command_json_and_load(tmp_path):
    plan = tmp_path / "plan.json"
    assert RUN.invoke(app, ["solve", FLEET, CHAT, "-q", "--no-explain", "--json", str(plan)]).exit_code == 0
    planned = json.loads(plan.read_text())["throughput"]["requests_per_s"]
    r = RUN.invoke(app, ["simulate", str(plan), CHAT, "--fleet", FLEET, "--requests", "8000", "--seed", "3", "--json", "-"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    total = doc["throughput"][-1]
    assert total["planned_requests_per_s"] == planned
    assert 0.9 < total["throughput_ratio"] < 1.1
    again = RUN.invoke(app, ["simulate", str(plan), CHAT, "--fleet", FLEET, "--requests", "8000", "--seed", "3", "--json", "-"])
    assert again.stdout == r.stdout  # same seed, same bytes
    bad = RUN.invoke(app, ["simulate", str(plan), CHAT, "--load", "0"])
    assert bad.exit_code == 2 and "--load must be in (0, 100]" in bad.stderr
    missing = RUN.invoke(app, ["simulate", str(tmp_path / "nope.json"), CHAT])
    assert missing.exit_code == 2 and "nope.json" in missing.stderr


def test_calibrate_command_writes_a_profile_a_fleet_uses(tmp_path):
    out = tmp_path / "h100.profile.yaml"
    r = RUN.invoke(app, ["calibrate", SPLITWISE, "--gpu", "h100-sxm", "--model", "llama-2-70b", "--out", str(out), "--no-rows"])
    assert r.exit_code == 0, r.output
    assert "profile written to" in r.output
    eff = load_profile(out)
    assert 0.3 < eff.mfu <= 1.0 and 0.3 < eff.mbu <= 0.9
    fleet = write(tmp_path, "f.yaml", f"gpus:\n  - type: h100-sxm\n    count: 8\n    efficiency_profile: {out.name}\n")
    plan = RUN.invoke(app, ["solve", str(fleet), CHAT, "-q", "--no-explain", "--json", "-"])
    assert plan.exit_code == 0, plan.output
    gpus = json.loads(plan.stdout)["gpus"]
    assert gpus[0]["efficiency_source"].startswith(f"profile {out}")
    nofile = write(tmp_path, "g.yaml", "gpus:\n  - type: h100-sxm\n    count: 8\n    efficiency_profile: missing.yaml\n")
    r = RUN.invoke(app, ["solve", str(nofile), CHAT, "-q"])
    assert r.exit_code == 2 and f"{nofile}:4:" in r.stderr and "gpus[0].efficiency_profile: no such file" in r.stderr


def test_calibrate_command_json_errors(tmp_path):
    r = RUN.invoke(app, ["calibrate", SPLITWISE, "--gpu", "a100-80-sxm", "--json", "--no-rows"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["gpu"] == "a100-80-sxm"
    bad = write(tmp_path, "m.csv", "gpu,model,tp,phase,batch,prompt_tokens,context_tokens,latency_ms\nh100-sxm,llama-3.1-70b,2,prefill,1,512,0,-5\n")
    r = RUN.invoke(app, ["calibrate", str(bad), "--gpu", "h100-sxm"])
    assert r.exit_code == 2 and f"{bad}:2" in r.stderr


def test_model_command_grid_json():
    r = RUN.invoke(app, ["model", "--gpu", "h100-sxm", "--model", "llama-3.1-70b", "--tp", "2", "--batches", "1,32",
                         "--prompts", "512", "--contexts", "1024,16384", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["memory"]["max_tokens_in_cache"] == 35087
    text = RUN.invoke(app, ["model", "--gpu", "h100-sxm", "--model", "llama-3.1-70b", "--tp", "2"])
    assert text.exit_code == 0 and "Decode step" in text.output and "kv" in text.output
    bad = RUN.invoke(app, ["model", "--gpu", "h100-sxm", "--model", "llama-3.1-70b", "--batches", "1,x"])
    assert bad.exit_code == 2 and "--batches" in bad.stderr
