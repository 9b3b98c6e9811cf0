"""Engine profiles: catalog data, fitted on the shipped serving points, held against them.

Bounds marked "guard" sit just above today's figures (regression guards); the others are the
targets the engine-profiles issue set (held-out TPOT median <= 12%, P90 <= 30%, output
tokens/s median <= 12%, TTFT median <= 25%).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from typer.testing import CliRunner

from conftest import write
from planner.api import load_problem, plan_problem
from planner.catalog import catalog
from planner.cli import app
from planner.errors import InputError
from planner.perf.estimate import estimate, resolve_deployment
from planner.perf.serving import closed_loop
from planner.perf.serving_fit import (
    ENGINES,
    FIT_PARAMETERS,
    METRICS,
    cross_gpu,
    cross_validate,
    errors,
    fit_profile,
    load_points,
    predict,
    start_values,
    summary,
)

RUN = CliRunner()


@pytest.fixture(scope="module")
def rows():
    return load_points()[0]


def _dense(rows, engine, family=None):
    cat = catalog()
    return [
        r
        for r in rows
        if r.engine == engine and cat.models[r.model].moe is None and (family is None or cat.gpus[r.gpu].family == family)
    ]


def test_the_shipped_rows_the_planner_can_express(rows):
    skipped = load_points()[1]
    assert len(rows) == 556
    assert sum(skipped.values()) + len(rows) == 2799  # every row of the shipped file is accounted for
    by = {}
    for r in rows:
        by[(r.engine, r.gpu)] = by.get((r.engine, r.gpu), 0) + 1
    assert by[("vllm", "h100-sxm")] == 90 and by[("trtllm", "h100-sxm")] == 206 and by[("sglang", "h100-sxm")] == 60


@pytest.mark.parametrize("engine", ENGINES)
def test_profiles_carry_their_provenance(engine):
    cat = catalog()
    eff, info = cat.profile(engine, "hopper")
    assert not info.borrowed and info.rows > 50
    assert info.source.startswith(f"fitted on {info.rows} measured serving points ({engine}")
    assert set(info.error) >= {"fitted", "held_out"}
    amp_eff, amp = cat.profile(engine, "ampere")
    assert amp.borrowed and amp.fitted_family == "hopper" and "no rows" in amp.why
    assert amp_eff.mfu == eff.mfu and amp_eff.allreduce_gb_s == pytest.approx(eff.allreduce_gb_s * 0.667)
    ada, info = cat.profile(engine, "ada")
    assert ada.allreduce_gb_s == 8.0 and "PCIe" in info.why  # an estimate a fleet can override


@pytest.mark.parametrize("engine", ENGINES)
def test_stored_profiles_on_the_rows_they_were_fitted_on(rows, engine):
    cat = catalog()
    for family in ("hopper", "blackwell"):
        sub = _dense(rows, engine, family)
        if not sub:
            continue
        eff, info = cat.profile(engine, family)
        acc = summary(errors(sub, predict(sub, eff, engine)))
        stored = info.error["fitted"]
        for m in METRICS:  # the data file says what the shipped rows give
            assert acc[m]["median_abs"] == pytest.approx(stored[m]["median_abs"], abs=2e-3)  # parameters stored to 4 digits
        assert acc["tpot"]["median_abs"] < 0.12 and acc["tokens_per_s"]["median_abs"] < 0.12


def test_vllm_held_out_configurations_meet_the_targets(rows):
    """5-fold cross-validation over whole sweeps (model, TP, dtype, prompt/output lengths)."""
    cat = catalog()
    errs = {m: [] for m in METRICS}
    for family in ("hopper", "blackwell"):
        held = cross_validate(_dense(rows, "vllm", family), start_values(cat), "vllm", cat)
        for m in METRICS:
            errs[m].extend(held[m])
    acc = summary({m: np.array(v) for m, v in errs.items()})
    assert acc["tpot"]["rows"] == 130
    assert acc["tpot"]["median_abs"] <= 0.12 and acc["tpot"]["p90_abs"] <= 0.30
    assert acc["tokens_per_s"]["median_abs"] <= 0.12
    assert acc["ttft"]["median_abs"] <= 0.25


def test_sglang_held_out_configurations_meet_the_targets(rows):
    cat = catalog()
    acc = summary(cross_validate(_dense(rows, "sglang", "hopper"), start_values(cat), "sglang", cat))
    # TPOT median 12.1% today: 0.1 point over the 12% target (a miss, stated in the README); guard
    assert acc["tpot"]["median_abs"] <= 0.125 and acc["tpot"]["p90_abs"] <= 0.30
    assert acc["tokens_per_s"]["median_abs"] <= 0.12
    assert acc["ttft"]["median_abs"] <= 0.25


def test_trtllm_stored_held_out_errors():
    """TensorRT-LLM's cross-validation takes a minute; `make fit-engines` stores its result.
    TTFT misses the 25% target (28-31% held out): its H100 rows have a fixed first-token cost of
    about 0.1 s and a jump between concurrency 64 and 128 the closed-loop model does not have."""
    cat = catalog()
    for family, tpot_guard, ttft_guard in (("hopper", 0.12, 0.30), ("blackwell", 0.10, 0.33)):  # guard
        held = cat.profile("trtllm", family)[1].error["held_out"]
        assert held["tpot"]["median_abs"] <= tpot_guard and held["tpot"]["p90_abs"] <= 0.30
        assert held["tokens_per_s"]["median_abs"] <= 0.12
        assert held["ttft"]["median_abs"] <= ttft_guard


def test_cross_gpu_fit_h100_predict_b200(rows):
    """vLLM fitted on H100 rows alone predicts its B200 rows (all-reduce scaled NVLink 5 / 4)."""
    acc = cross_gpu("vllm", rows)
    assert acc["tpot"]["rows"] == 40
    assert acc["tpot"]["median_abs"] < 0.08 and acc["tokens_per_s"]["median_abs"] < 0.08  # guard: 6.4%, 6.6%


def test_make_fit_engines_reproduces_the_shipped_sglang_profile(rows):
    cat = catalog()
    sub = [r for r in rows if r.engine == "sglang" and cat.gpus[r.gpu].family == "hopper"]
    fitted = fit_profile(sub, "sglang", "hopper", cat, cv=False).efficiency
    shipped, _ = cat.profile("sglang", "hopper")
    for n in FIT_PARAMETERS:
        v = getattr(fitted, n)
        assert getattr(shipped, n) == pytest.approx(0 if abs(v) < 1e-6 else float(f"{v:.4g}"), rel=1e-3, abs=1e-9), n


def test_a_shipped_row_through_estimate():
    """vLLM 0.12, H100 TP4, Qwen3-32B bf16, 4096/128 tokens at concurrency 64: measured TTFT
    933.7 ms, TPOT 82.91 ms (serving_points.csv)."""
    out = estimate(
        "h100-sxm", "qwen3-32b", 4, 1, 4096, engine="vllm", concurrency=64, output_tokens=128
    )["serving"]
    assert out["ttft_ms"] == pytest.approx(933.7, rel=0.25)
    assert out["tpot_ms"] == pytest.approx(82.91, rel=0.20)
    measured = 64 / ((933.7 + 128 * 82.91) / 1e3) * 128 / 4
    assert out["output_tokens_per_s_per_gpu"] == pytest.approx(measured, rel=0.20)
    assert out["output_tokens_per_s_per_gpu"] == pytest.approx(
        64 / ((out["ttft_ms"] + 128 * out["tpot_ms"]) / 1e3) * 128 / 4, rel=1e-3
    )  # the definition


def test_closed_loop_limits():
    d = resolve_deployment("h100-sxm", "llama-3.1-8b", 1, engine="vllm")
    one = closed_loop(d, 1024, 256, 1)
    # one request at a time: no queue, TTFT = one prompt step + half a step + fixed latency
    tau_pf = float(d.step_ms(0.5, 1024 + 128, 1024, 1024))
    assert float(one.ttft_ms[0]) < 3 * tau_pf + d.eff.ttft_fixed_ms + float(one.tpot_ms[0])
    many = closed_loop(d, 1024, 256, [8, 64, 512])
    assert np.all(np.diff(many.ttft_ms) > 0) and np.all(np.diff(many.tpot_ms) > 0)
    assert np.all(np.diff(many.output_tokens_per_s_per_gpu) > 0)


def test_tp_speeds_up_decode_with_current_engines():
    """The 2023 profile saw almost no decode speed-up from TP (fixed costs); today's engines do."""
    now = [float(resolve_deployment("h100-sxm", "llama-3.1-70b", t, "fp8", engine="vllm").decode_step_ms(1, 2048)) for t in (1, 8)]
    old = [float(resolve_deployment("h100-sxm", "llama-3.1-70b", t, engine="vllm-2023").decode_step_ms(1, 2048)) for t in (2, 8)]
    assert now[1] < 0.35 * now[0]
    assert old[1] > 0.75 * old[0]  # 37 ms at TP2, 30 ms at TP8


def test_blackwell_has_its_own_parameters():
    cat = catalog()
    b200, info = cat.profile("vllm", "blackwell")
    h100, _ = cat.profile("vllm", "hopper")
    assert not info.borrowed and b200 != h100
    b = float(resolve_deployment("b200", "llama-3.1-70b", 8, "fp8", engine="vllm").decode_step_ms(1, 2048))
    h = float(resolve_deployment("h100-sxm", "llama-3.1-70b", 8, "fp8", engine="vllm").decode_step_ms(1, 2048))
    assert b < h


def test_memory_rules_per_engine():
    """Llama-3.1-70B in bf16 (141 GB of weights) on one H200 (151 GB): vLLM's 90% of the device
    leaves no room; TensorRT-LLM takes 90% of what the weights leave; a fleet can raise vLLM's
    gpu_memory_utilization."""
    vllm = resolve_deployment("h200-sxm", "llama-3.1-70b", 1, engine="vllm")
    trt = resolve_deployment("h200-sxm", "llama-3.1-70b", 1, engine="trtllm")
    assert vllm.kv_budget_bytes < 0 < trt.kv_budget_bytes
    free = trt.gpu.mem_bytes - trt.weight_bytes_per_gpu - trt.activation_workspace_bytes
    assert trt.kv_budget_bytes == pytest.approx(0.9 * free)
    raised = replace(vllm.gpu, engine=replace(vllm.gpu.engine, memory_fraction=0.97))
    assert replace(vllm, gpu=raised).kv_budget_bytes > 0


def test_engine_rules_follow_the_gpu_memory_tier():
    cat = catalog()
    h100, a100 = cat.engine("vllm", cat.gpus["h100-sxm"]), cat.engine("vllm", cat.gpus["a100-80-sxm"])
    assert (h100.max_num_seqs, h100.max_batched_tokens) == (1024, 8192)
    assert (a100.max_num_seqs, a100.max_batched_tokens) == (256, 2048)  # vLLM: "a100" not in the name
    assert cat.engine("sglang", cat.gpus["b200"]).max_batched_tokens == 16384
    assert cat.engine("trtllm", cat.gpus["h100-sxm"]).memory_rule == "free"


FLEET = """name: one
gpus:
  - type: h100-sxm
    count: 8
    engine: {engine}
  - type: a100-80-sxm
    count: 8
"""


def test_fleet_entries_name_their_engine_and_the_option_overrides(root, tmp_path):
    f = write(tmp_path, "f.yaml", FLEET.format(engine="{name: trtllm, version: 1.2.0rc6, max_num_seqs: 512}"))
    w = root / "workloads" / "chat-llama70b.yaml"
    p = load_problem(f, w)
    h100, a100 = (e.gpu for e in p.entries)
    assert h100.engine.id == "trtllm" and h100.engine.max_num_seqs == 512 and "1.2.0rc6" in h100.engine.versions
    assert a100.engine.id == "vllm"  # the default
    p = load_problem(f, w, engine="sglang")
    assert {e.gpu.engine.id for e in p.entries} == {"sglang"}
    plan = plan_problem(p, explain=False)
    uses = {g.gpu: g.engine for g in plan.gpus}
    assert uses["h100-sxm"].engine == "sglang" and not uses["h100-sxm"].borrowed
    assert uses["a100-80-sxm"].borrowed and uses["a100-80-sxm"].fitted_on == "hopper"
    assert uses["h100-sxm"].measured_points == 60


def test_unknown_engine_is_one_error_line(root, tmp_path):
    f = write(tmp_path, "f.yaml", FLEET.format(engine="vlm"))
    r = RUN.invoke(app, ["solve", str(f), str(root / "workloads" / "chat-llama70b.yaml")])
    assert r.exit_code == 2
    assert "f.yaml:5:" in r.stderr and "unknown engine 'vlm'; did you mean 'vllm'?" in r.stderr
    r = RUN.invoke(app, ["estimate", "--gpu", "mi300x", "--model", "llama-3.1-8b", "--engine", "trtllm"])
    assert r.exit_code == 2 and "engine 'trtllm' has no profile for GPU family 'cdna3'" in r.stderr


def test_estimate_json_carries_serving_and_engine(root):
    r = RUN.invoke(
        app,
        ["estimate", "--gpu", "b200", "--model", "llama-3.1-70b", "--tp", "4", "--dtype", "fp8", "--engine", "vllm",
         "--prompt-tokens", "1024", "--output-tokens", "1024", "--concurrency", "16", "--json"],
    )
    assert r.exit_code == 0, r.output
    import json

    doc = json.loads(r.stdout)
    assert doc["engine"] == "vllm" and doc["engine_rules"]["max_num_seqs"] == 1024
    s = doc["serving"]
    # measured (vLLM, B200 TP4, fp8, 1024/1024, concurrency 16): TTFT 143.4 ms, TPOT 8.98 ms
    assert s["tpot_ms"] == pytest.approx(8.98, rel=0.15) and s["ttft_ms"] == pytest.approx(143.4, rel=0.3)


def test_pcie_all_reduce_is_the_profiles_and_a_fleet_overrides_it(root, tmp_path):
    d = resolve_deployment("l40s", "llama-3.1-8b", 4, engine="vllm")
    lat, bw = d._allreduce_ms(8192 * d.model.hidden * 2)
    assert bw == pytest.approx(2 * d.model.layers * 2 * 3 / 4 * 8192 * d.model.hidden * 2 / 8e9 * 1e3)
    f = write(
        tmp_path,
        "f.yaml",
        "name: pcie\ngpus:\n  - type: l40s\n    count: 4\n    overrides: {efficiency: {allreduce_gb_s: 3}}\n",
    )
    p = load_problem(f, root / "workloads" / "rag-llama8b.yaml")
    assert p.entries[0].gpu.efficiency.allreduce_gb_s == 3


def test_unknown_engine_via_option():
    with pytest.raises(InputError, match="--engine: unknown engine 'sg'"):
        resolve_deployment("h100-sxm", "llama-3.1-8b", 1, engine="sg")


@pytest.mark.parametrize("name", ["vllm-bench-serve.json", "genai-perf.json", "aiperf.json", "guidellm.json"])
def test_calibrate_from_benchmark_results_writes_a_profile_a_fleet_uses(root, tmp_path, name):
    """The example files' numbers are illustrative (tests/data/bench/README.md); the test checks
    the path from a tool's result file to a fleet's profile, and that the fit does not get worse."""
    out = tmp_path / "h100.profile.yaml"
    r = RUN.invoke(
        app,
        ["calibrate", str(root / "tests" / "data" / "bench" / name), "--gpu", "h100-sxm", "--model", "llama-3.1-8b",
         "--engine", "vllm", "--out", str(out), "--json"],
    )
    assert r.exit_code == 0, r.output
    import json

    doc = json.loads(r.stdout)
    assert doc["engine"] == "vllm" and doc["source"]["rows_used"] >= 1
    before, after = doc["errors"]["before"], doc["errors"]["after"]
    # the fit minimises a joint (robust) loss of TTFT and TPOT: together they do not get worse
    assert after["tpot"]["median_abs"] + after["ttft"]["median_abs"] <= before["tpot"]["median_abs"] + before["ttft"]["median_abs"] + 1e-3
    fleet = write(tmp_path, "f.yaml", "name: mine\ngpus:\n  - type: h100-sxm\n    count: 8\n    efficiency_profile: h100.profile.yaml\n")
    p = load_problem(fleet, root / "workloads" / "rag-llama8b.yaml")
    eff = p.entries[0].gpu.efficiency
    assert eff.mfu == pytest.approx(doc["efficiency"]["mfu"]) and eff.ttft_fixed_ms == pytest.approx(doc["efficiency"]["ttft_fixed_ms"])


def test_calibrate_from_serving_points_csv_recovers_the_shipped_fit(root, tmp_path):
    """A CSV in serving_points.csv's columns: the vLLM H100 Qwen3-32B TP4 rows, fitted from the
    shipped profile, end within the profile's own error."""
    import csv

    src = root / "planner" / "perf" / "data" / "aiconfigurator" / "serving_points.csv"
    with open(src, encoding="utf-8") as f:
        reader = csv.DictReader(f)
        keep = [r for r in reader if r["backend"] == "vllm" and r["system"] == "h100_sxm" and r["model_path"] == "Qwen/Qwen3-32B"
                and r["tp_size"] == "4" and r["mode"] == "agg"]
        fields = reader.fieldnames
    path = tmp_path / "mine.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(keep)
    from planner.perf.serving_fit import calibrate_serving

    res = calibrate_serving(path, "h100-sxm", "qwen3-32b", tp=4, engine="vllm")
    assert len(res.rows) == 25 and res.format == "serving-points-csv"
    err = res.errors()
    a, b = err["after"], err["before"]
    assert a["tpot"]["median_abs"] + a["ttft"]["median_abs"] <= b["tpot"]["median_abs"] + b["ttft"]["median_abs"]
    assert a["tpot"]["median_abs"] < 0.08 and a["ttft"]["median_abs"] < 0.12  # guard (7.0%, about 8%)


def test_calibrate_serving_errors(root, tmp_path):
    bad = write(tmp_path, "bad.json", '{"completed": 3}')
    r = RUN.invoke(app, ["calibrate", str(bad), "--gpu", "h100-sxm", "--model", "llama-3.1-8b"])
    assert r.exit_code == 2 and r.stderr.startswith("error: ") and "bad.json" in r.stderr
    r = RUN.invoke(app, ["calibrate", str(root / "tests" / "data" / "bench" / "guidellm.json"), "--gpu", "h100-sxm"])
    assert r.exit_code == 2 and "--model" in r.stderr


TEXTBOOK_FLEET = """name: h100-a100
gpus:
  - {type: h100-sxm, count: 16, price_usd_per_hour: 2.95, gpus_per_node: 8}
  - {type: a100-80-sxm, count: 16, price_usd_per_hour: 2.50, gpus_per_node: 8}
"""
TEXTBOOK_WORKLOAD = """name: doc-llama70b
model: llama-3.1-70b
weight_dtype: bf16
kv_dtype: bf16
classes:
  - {{name: doc, prompt_tokens: 2000, output_tokens: 200, share: 1.0}}
traffic:
  qps: max
{slo}"""


def _textbook(tmp_path, slo: bool, engine: str | None = None):
    f = write(tmp_path, "f.yaml", TEXTBOOK_FLEET)
    text = "slo: {ttft_ms: 2000, tpot_ms: 50, percentile: 90}\n" if slo else ""
    w = write(tmp_path, "w.yaml", TEXTBOOK_WORKLOAD.format(slo=text))
    return load_problem(f, w, engine=engine)


def _uses_a100(problem, ratio: float) -> bool:
    entries = tuple(
        replace(e, price_usd_per_hour=2.95 * ratio) if e.gpu.id == "a100-80-sxm" else e for e in problem.entries
    )
    plan = plan_problem(replace(problem, entries=entries), "max-tokens-per-dollar", explain=False)
    return any(p.gpu == "a100-80-sxm" for p in plan.pools)


def test_textbook_case_roles_flip_back_with_current_engines(tmp_path):
    """16 H100 + 16 A100, Llama-3.1-70B 2000/200 tokens, TTFT 2 s, TPOT 50 ms. With the 2023
    profile an A100 decode step at TP4 is too slow for 50 ms at useful batches, so A100s prefill
    (12.0 req/s); with current vLLM every H100 prefills and the A100s mostly decode (26.1 req/s;
    4 of the 16 A100s prefill too)."""
    plan = plan_problem(_textbook(tmp_path, True), "max-throughput", explain=False)
    roles: dict = {}
    for p in plan.pools:
        roles[(p.gpu, p.role)] = roles.get((p.gpu, p.role), 0) + p.gpus
    assert roles == {("h100-sxm", "prefill"): 16, ("a100-80-sxm", "prefill"): 4, ("a100-80-sxm", "decode"): 12}
    assert plan.throughput.requests_per_s == pytest.approx(26.104, rel=1e-3)
    old = plan_problem(_textbook(tmp_path, True, "vllm-2023"), "max-throughput", explain=False)
    assert any(p.gpu == "a100-80-sxm" and p.role == "prefill" for p in old.pools)


@pytest.mark.parametrize("slo,low,high", [(True, 0.55, 0.58), (False, 0.57, 0.60)])
def test_textbook_price_ratio_below_which_the_mix_beats_all_h100(tmp_path, slo, low, high):
    """Tokens per dollar: above this A100/H100 price ratio the best plan leaves the A100s idle
    (all-H100); below it H100 prefill + A100 decode wins (0.568 with the SLOs, 0.583 without)."""
    problem = _textbook(tmp_path, slo)
    assert not _uses_a100(problem, high)
    assert _uses_a100(problem, low)
