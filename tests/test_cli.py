"""The CLI's positive paths through typer's runner: solve, estimate, catalog, validate."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from golden_cases import ROOT
from planner.cli import app

RUN = CliRunner()
FLEET = str(ROOT / "fleets" / "h100-a100.yaml")
CHAT = str(ROOT / "workloads" / "chat-llama70b.yaml")


def test_solve_report_names_the_sections():
    r = RUN.invoke(app, ["solve", FLEET, CHAT])
    assert r.exit_code == 0, r.output
    for section in ("Plan", "throughput", "Comparative advantage", "Baselines", "Marginal value", "Binding constraints"):
        assert section in r.output
    assert "h100-sxm has the comparative advantage in prefill" in r.output


def test_solve_writes_json_file_atomically(tmp_path):
    out = tmp_path / "plan.json"
    r = RUN.invoke(app, ["solve", FLEET, CHAT, "--json", str(out), "-q", "--no-explain"])
    assert r.exit_code == 0, r.output
    doc = json.loads(out.read_text())
    assert doc["schema_version"] == "1.4"
    assert doc["throughput"]["requests_per_s"] > 30
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temporary left behind


def test_min_cost_with_qps_option():
    r = RUN.invoke(app, ["solve", FLEET, CHAT, "--objective", "min-cost", "--qps", "10", "--json", "-", "-q", "--no-explain"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert doc["inputs"]["objective"] == "min-cost"
    assert doc["throughput"]["requests_per_s"] == 10.0
    assert doc["cost"]["usd_per_hour"] < doc["cost"]["owned_usd_per_hour"]


def test_estimate_prints_the_model_numbers():
    r = RUN.invoke(
        app,
        ["estimate", "--gpu", "h100-sxm", "--model", "llama-2-70b", "--tp", "4", "--batch", "1", "--prompt-tokens", "2048",
         "--engine", "vllm-2023", "--json"],
    )
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    # measured: 200.7 ms (splitwise: vLLM 2023, H100 TP4, 2048 tokens); its profile is within 10% of it
    assert abs(doc["prefill_ms"] / 200.7 - 1) < 0.10
    assert doc["memory"]["weight_bytes_per_gpu"] == round(68.977e9 * 2 / 4)
    assert doc["memory"]["fits"] is True


def test_estimate_rejects_tp_beyond_the_node():
    r = RUN.invoke(app, ["estimate", "--gpu", "l4", "--model", "llama-3.1-8b", "--tp", "16"])
    assert r.exit_code == 2
    assert "exceeds" in r.output


def test_catalog_lists_the_required_gpus_and_models():
    r = RUN.invoke(app, ["catalog", "gpus", "--json"])
    assert r.exit_code == 0
    gpus = {g["id"]: g for g in json.loads(r.stdout)}
    for gid in (
        "v100-sxm2-32gb", "t4", "a10", "a10g", "l4", "l40s", "a100-40-sxm", "a100-80-sxm", "a100-40-pcie",
        "a100-80-pcie", "h100-sxm", "h100-pcie", "h100-nvl", "h200-sxm", "b200", "mi300x",
    ):
        assert gid in gpus and gpus[gid]["sources"], gid
    assert gpus["h100-sxm"]["tflops_dense"]["bf16"] == 989.5
    r = RUN.invoke(app, ["catalog", "models", "--json"])
    models = {m["id"]: m for m in json.loads(r.stdout)}
    for mid in (
        "llama-2-7b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b", "qwen2.5-72b",
        "qwen3-32b", "mixtral-8x7b", "deepseek-v3", "opt-66b", "bloom-176b",
    ):
        assert mid in models and models[mid]["source"], mid
    assert models["deepseek-v3"]["kv_bytes_per_token_bf16"] == 70272
    assert models["mixtral-8x7b"]["moe"] == {"experts": 8, "experts_per_token": 2}
    r = RUN.invoke(app, ["catalog", "gpus"])
    assert r.exit_code == 0 and "h100-sxm" in r.output


def test_validate_prints_every_row_and_the_summary():
    # --no-held-out: the held-out refits take two minutes (`make validate` runs them; the
    # held-out accuracy itself is asserted in test_engine_profiles.py)
    r = RUN.invoke(app, ["validate", "--no-held-out"])
    assert r.exit_code == 0
    assert r.output.count("EXCLUDED: corrupt") == 4
    assert "prefill: 102 rows" in r.output and "decode: 150 rows" in r.output
