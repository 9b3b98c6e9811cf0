"""Hostile inputs and faults (issue 14): every reader and every command, fed bad input as a hostile
user would, answers with ONE `error:` line and a documented exit code, within a time bound, and
never with exit 4 (internal error) or a traceback; CI gates cannot be switched off with NaN;
output files keep their mode, devices and FIFOs are written through, symlinks followed.

The generated inputs are small (kilobytes) but shaped to explode: alias bombs, deep nesting,
5,000-digit integers, lone surrogates, oversized CSV fields. Bad-input cases run in-process
(typer's CliRunner); signals and stdout faults run in a subprocess. `CASES` lists each case
with the reader it attacks and its class, so the suite's coverage can be counted
(`python tests/test_hostile.py` prints cases per reader and class).
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli import app

REPO = Path(__file__).resolve().parent.parent
FLEET = REPO / "fleets" / "h100-a100.yaml"
CHAT = REPO / "workloads" / "chat-llama70b.yaml"
PLANNER = [sys.executable, "-m", "planner"]
SECONDS_PER_BAD_INPUT = 2.0  # the goal: every bad input answered within 2 s
FAST = ["--no-explain", "-q"]

FLEET_TEXT = """\
name: f
gpus:
  - type: h100-sxm
    count: 8
"""
WORKLOAD_TEXT = """\
name: w
model: llama-3.1-70b
classes:
  - {name: a, prompt_tokens: 1000, output_tokens: 100, share: 1.0}
traffic: {qps: max}
slo: {ttft_ms: 2000, tpot_ms: 80}
"""
GENERIC_HEADER = "gpu,model,tp,phase,batch,prompt_tokens,context_tokens,latency_ms"
TRACE_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens"


# --------------------------------------------------------------------------------------------
# generated YAML: each one is a few hundred bytes to a few hundred kilobytes


def billion_laughs(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\ngpus: *a%d\n" % (levels - 1)


YAML_BAD = {
    # class -> (text for a fleet, expected fragment of the error line)
    "recursive-alias": ("gpus: &a [*a]\n", "alias"),
    "billion-laughs": (billion_laughs(), "alias"),
    "deep-nesting": ("gpus: " + "[" * 5000 + "]" * 5000 + "\n", "nest"),
    "many-elements": ("gpus:\n" + "- 1\n" * 120_000, "element"),
    "huge-integer": ("gpus:\n  - type: h100-sxm\n    count: " + "1" * 5000 + "\n", "digits"),
    "tag-int": ("gpus:\n  - type: h100-sxm\n    count: !!int abc\n", "!!int"),
    "tag-float": ("gpus:\n  - type: h100-sxm\n    count: 8\n    price_usd_per_hour: !!float abc\n", "!!float"),
    "tag-bool": ("gpus:\n  - type: h100-sxm\n    count: !!bool maybe\n", "!!bool"),
    "tag-timestamp": ("name: !!timestamp notadate\ngpus:\n  - {type: h100-sxm, count: 8}\n", "!!timestamp"),
    "tag-on-key": ("gpus:\n  - type: h100-sxm\n    !!int count: 8\n", "key"),
    "unsafe-tag": ("gpus: !!python/object/apply:os.system [echo hi]\n", "unsupported YAML tag"),
    "sexagesimal": ("gpus:\n  - type: h100-sxm\n    count: 1:30\n", "count"),
    "binary-tag": ("name: !!binary aGVsbG8=\ngpus:\n  - {type: h100-sxm, count: 8}\n", "unsupported YAML tag"),
}


def _runner_invoke(args: list[str]):
    t0 = time.perf_counter()
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "4000"})
    return result, time.perf_counter() - t0


def _one_error_line(result, code: int, fragment: str | None = None) -> str:
    out = result.output
    assert "Traceback" not in out, out
    assert "internal error" not in out, out
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code == code, f"exit {result.exit_code}, expected {code}:\n{out[-2000:]}"
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one stderr line, got {len(lines)}:\n{result.stderr[-2000:]}"
    assert lines[0].startswith("error: "), lines[0]
    if fragment is not None:
        assert fragment.lower() in lines[0].lower(), lines[0]
    return lines[0]


def _bad(args: list[str], code: int = 2, fragment: str | None = None) -> str:
    result, seconds = _runner_invoke(args)
    line = _one_error_line(result, code, fragment)
    assert seconds < SECONDS_PER_BAD_INPUT, f"{seconds:.2f} s for {args}: {line}"
    return line


# --------------------------------------------------------------------------------------------
# YAML readers: fleet, workload, scenarios, efficiency profile (fleet and `model --profile`)


def _yaml_places(tmp_path: Path, text: str) -> dict[str, list[str]]:
    """The commands that read `text` as each kind of YAML file."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(text, encoding="utf-8")
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET_TEXT, encoding="utf-8")
    wl = tmp_path / "wl.yaml"
    wl.write_text(WORKLOAD_TEXT, encoding="utf-8")
    prof_fleet = tmp_path / "pfleet.yaml"
    prof_fleet.write_text(FLEET_TEXT + "    efficiency_profile: bad.yaml\n", encoding="utf-8")
    return {
        "fleet": ["solve", bad, wl, *FAST],
        "workload": ["solve", fleet, bad, *FAST],
        "scenarios": ["compare", wl, "--scenarios", bad],
        "profile": ["solve", prof_fleet, wl, *FAST],
        "model-profile": ["model", "--gpu", "h100-sxm", "--model", "llama-3.1-8b", "--profile", bad],
    }


YAML_READERS = ["fleet", "workload", "scenarios", "profile", "model-profile"]


@pytest.mark.parametrize("kind", sorted(YAML_BAD))
@pytest.mark.parametrize("reader", YAML_READERS)
def test_yaml_reader_refuses_hostile_input(tmp_path, reader, kind):
    text, fragment = YAML_BAD[kind]
    args = _yaml_places(tmp_path, text)[reader]
    line = _bad(args, 2, fragment if reader in ("fleet",) else None)
    assert "bad.yaml" in line, line


def test_sexagesimal_is_not_ninety(tmp_path):
    line = _bad(_yaml_places(tmp_path, YAML_BAD["sexagesimal"][0])["fleet"], 2)
    assert "90" not in line and "1:30" in line, line


def test_yaml_over_the_byte_limit(tmp_path):
    from planner.specs.yamlio import MAX_YAML_BYTES

    p = tmp_path / "big.yaml"
    p.write_text("# " + "x" * MAX_YAML_BYTES + "\n")
    _bad(["solve", p, CHAT, *FAST], 2, "limited to")


def test_unreadable_folder(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every folder")
    d = tmp_path / "locked"
    d.mkdir()
    (d / "f.yaml").write_text(FLEET_TEXT)
    d.chmod(0)
    try:
        _bad(["solve", d / "f.yaml", CHAT, *FAST], 2, "cannot read")
    finally:
        d.chmod(0o755)


def test_permission_denied_is_an_input_error(tmp_path, monkeypatch):
    """A file in a folder without search permission (root bypasses the permission itself, so
    the error is simulated where every reader opens its file)."""
    from planner import files

    p = tmp_path / "f.yaml"
    p.write_text(FLEET_TEXT)
    real_stat = os.stat

    def denied(path, *a, **k):
        if str(path) == str(p):
            raise PermissionError(13, "Permission denied", str(path))
        return real_stat(path, *a, **k)

    monkeypatch.setattr(files.os, "stat", denied)
    _bad(["solve", p, CHAT, *FAST], 2, "cannot read: Permission denied")


# --------------------------------------------------------------------------------------------
# workload validation (issue 12, item 18)


def test_all_errors_of_a_file_and_did_you_mean(tmp_path):
    wl = tmp_path / "wl.yaml"
    wl.write_text(
        "model: llama-3.1-70b\nclasses:\n  - {name: a, prompt_tokes: 2000, output_tokens: 200, share: 1.0}\n"
        "slo: {ttft: 2000, tpot_ms: 80}\n"
    )
    line = _bad(["solve", FLEET, wl, *FAST], 2)
    assert "prompt_tokes" in line and "did you mean 'prompt_tokens'" in line, line
    assert "slo.ttft" in line and "did you mean 'ttft_ms'" in line, line
    assert "wl.yaml:4:" in line, line


def test_many_errors_are_capped(tmp_path):
    from planner.specs.base import MAX_REPORTED_ERRORS

    classes = "".join(f"  - {{name: c{i}, prompt_tokens: -1, output_tokens: 1, share: 0.01}}\n" for i in range(30))
    wl = tmp_path / "wl.yaml"
    wl.write_text("model: llama-3.1-70b\nclasses:\n" + classes)
    line = _bad(["solve", FLEET, wl, *FAST], 2)
    assert line.count("prompt_tokens") == MAX_REPORTED_ERRORS, line
    assert "more error" in line, line


def test_kv_heads_must_divide_heads(tmp_path):
    wl = tmp_path / "kv7.yaml"
    wl.write_text(
        "model: {id: x, layers: 80, hidden: 8192, heads: 64, kv_heads: 7, head_dim: 128, total_params_b: 70}\n"
        "classes:\n  - {name: a, prompt_tokens: 2000, output_tokens: 200, share: 1.0}\ntraffic: {qps: max}\n"
    )
    line = _bad(["solve", FLEET, wl, *FAST], 2, "kv_heads")
    assert "divide" in line and "kv7.yaml:1:" in line, line


def test_huge_model_dimensions(tmp_path):
    wl = tmp_path / "wl.yaml"
    wl.write_text(
        "model: {id: x, layers: 80, hidden: " + "9" * 400 + ", heads: 64, kv_heads: 8, head_dim: 128, total_params_b: 70}\n"
        "classes:\n  - {name: a, prompt_tokens: 2000, output_tokens: 200, share: 1.0}\n"
    )
    _bad(["solve", FLEET, wl, *FAST], 2, "hidden")


# --------------------------------------------------------------------------------------------
# plan JSON read back: diff (old, new) and simulate


@pytest.fixture(scope="module")
def plan_doc(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("plan") / "plan.json"
    result = CliRunner().invoke(app, ["solve", str(FLEET), str(CHAT), *FAST, "--json", str(out)])
    assert result.exit_code == 0, result.output
    return json.loads(out.read_text())


def _damaged(doc: dict, kind: str) -> str:
    d = json.loads(json.dumps(doc))
    text = None
    if kind == "nan-throughput":
        d["throughput"]["requests_per_s"] = float("nan")
    elif kind == "inf-throughput":
        d["throughput"]["requests_per_s"] = float("inf")
    elif kind == "minus-inf-cost":
        d["cost"]["usd_per_hour"] = float("-inf")
    elif kind == "negative-instances":
        d["pools"][0]["instances"] = -5
    elif kind == "negative-cost":
        d["cost"]["usd_per_hour"] = -3.0
    elif kind == "unknown-schema":
        d["schema_version"] = "9.0"
    elif kind == "schema-not-string":
        d["schema_version"] = 1
    elif kind == "huge-integer":
        text = json.dumps(d).replace('"instances": ', '"instances": ' + "1" * 5000 + ", \"x\": ", 1)
    elif kind == "float-overflow":
        text = json.dumps(d).replace('"requests_per_s": ', '"requests_per_s": 1e999, "x": ', 1)
    elif kind == "deep-nesting":
        text = "[" * 10_000 + "]" * 10_000
    elif kind == "lone-surrogate":
        d["inputs"]["fleet"] = "\ud800"
    elif kind == "bool-throughput":
        d["throughput"]["requests_per_s"] = True
    elif kind == "share-over-one":
        d["pools"][0]["utilisation"] = 9.0
    elif kind == "huge-count":
        d["pools"][0]["gpus"] = 10**20
    elif kind == "fractional-instances":
        d["pools"][0]["instances"] = 2.5
    elif kind == "extra-field":
        d["extra_field"] = 1
    elif kind == "missing-pools":
        del d["pools"]
    elif kind == "not-json":
        text = "{not json"
    elif kind == "not-object":
        text = "[1, 2, 3]"
    if text is None:
        text = json.dumps(d)  # writes NaN / Infinity / -Infinity as Python's json does
    return text


PLAN_BAD = [
    "nan-throughput", "inf-throughput", "minus-inf-cost", "negative-instances", "negative-cost", "unknown-schema",
    "schema-not-string", "huge-integer", "float-overflow", "deep-nesting", "lone-surrogate", "not-json", "not-object",
    "bool-throughput", "share-over-one", "huge-count", "fractional-instances", "extra-field", "missing-pools",
]
PLAN_READERS = ["diff-old", "diff-new", "diff-gate", "simulate"]


@pytest.mark.parametrize("kind", PLAN_BAD)
@pytest.mark.parametrize("reader", PLAN_READERS)
def test_plan_reader_refuses_damaged_plan(tmp_path, plan_doc, reader, kind):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(plan_doc))
    bad = tmp_path / "bad.json"
    bad.write_text(_damaged(plan_doc, kind))
    args = {
        "diff-old": ["diff", bad, good],
        "diff-new": ["diff", good, bad],
        "diff-gate": ["diff", good, bad, "--fail-on-regression"],
        "simulate": ["simulate", bad, CHAT, "--fleet", FLEET, "--requests", "200"],
    }[reader]
    line = _bad(args, 2)
    assert "bad.json" in line, line


def test_plan_over_the_byte_limit(tmp_path, plan_doc):
    from planner.report.export import MAX_PLAN_BYTES

    good = tmp_path / "good.json"
    good.write_text(json.dumps(plan_doc))
    big = tmp_path / "big.json"
    big.write_text(json.dumps(plan_doc) + " " * MAX_PLAN_BYTES)
    _bad(["diff", good, big], 2, "limited to")


# --------------------------------------------------------------------------------------------
# CSV readers: calibrate (kernel-level CSV), simulate --trace, a workload's requests.trace


def _csv_places(tmp_path: Path, kind: str) -> dict[str, list[str]]:
    big = "x" * 200_000
    kernel = {
        "big-field": f"{GENERIC_HEADER}\nh100-sxm,llama-3.1-8b,1,prefill,1,512,,\"{big}\"\n",
        "overflow-latency": f"{GENERIC_HEADER}\nh100-sxm,llama-3.1-8b,1,prefill,1,512,,1e308\n"
        f"h100-sxm,llama-3.1-8b,1,prefill,8,512,,1e308\nh100-sxm,llama-3.1-8b,1,decode,8,,1024,1e308\n",
        "huge-tokens": f"{GENERIC_HEADER}\nh100-sxm,llama-3.1-8b,1,prefill,1,10000000,,10\n"
        f"h100-sxm,llama-3.1-8b,1,prefill,8,10000000,,20\nh100-sxm,llama-3.1-8b,1,decode,8,,1024,5\n",
        "huge-batch": f"{GENERIC_HEADER}\nh100-sxm,llama-3.1-8b,1,prefill,1e308,512,,10\n",
        "huge-tp": f"{GENERIC_HEADER}\nh100-sxm,llama-3.1-8b,1e308,prefill,1,512,,10\n",
    }
    trace = {
        "big-field": f"{TRACE_HEADER}\n\"{big}\",10,10\n",
        "overflow-latency": f"{TRACE_HEADER}\n2023-11-16 18:15:46.6805900,1e308,10\n",
        "huge-tokens": f"{TRACE_HEADER}\n2023-11-16 18:15:46.6805900,1000000000000,10\n"
        "2023-11-16 18:15:47.6805900,10,10\n",
        "huge-batch": f"{TRACE_HEADER}\n2023-11-16 18:15:46.6805900,{'9' * 5000},10\n",
        "huge-tp": f"{TRACE_HEADER}\n9999-99-99 99:99:99,10,10\n",
    }
    (tmp_path / "m.csv").write_text(kernel[kind])
    (tmp_path / "t.csv").write_text(trace[kind])
    plan = tmp_path / "plan.json"
    wl = tmp_path / "wl.yaml"
    wl.write_text(
        "model: llama-3.1-70b\nrequests: {trace: t.csv, prompt_buckets: 1, output_buckets: 1}\n"
        "traffic: {qps: max}\nslo: {ttft_ms: 2000, tpot_ms: 80}\n"
    )
    return {
        "calibrate-csv": ["calibrate", tmp_path / "m.csv", "--gpu", "h100-sxm", "--json"],
        "workload-trace": ["solve", FLEET, wl, *FAST],
        "simulate-trace": ["simulate", plan, CHAT, "--fleet", FLEET, "--trace", tmp_path / "t.csv"],
    }


CSV_BAD = ["big-field", "overflow-latency", "huge-tokens", "huge-batch", "huge-tp"]
CSV_READERS = ["calibrate-csv", "workload-trace", "simulate-trace"]


@pytest.mark.parametrize("kind", CSV_BAD)
@pytest.mark.parametrize("reader", CSV_READERS)
def test_csv_reader_refuses_hostile_rows(tmp_path, plan_doc, reader, kind):
    (tmp_path / "plan.json").write_text(json.dumps(plan_doc))
    line = _bad(_csv_places(tmp_path, kind)[reader], 2)
    assert ("m.csv" if reader == "calibrate-csv" else "t.csv") in line, line


def test_serving_json_deep_and_huge(tmp_path):
    p = tmp_path / "bench.json"
    p.write_text("[" * 10_000 + "]" * 10_000)
    _bad(["calibrate", p, "--gpu", "h100-sxm", "--model", "llama-3.1-8b"], 2, "bench.json")
    p.write_text('{"completed": ' + "1" * 5000 + "}")
    _bad(["calibrate", p, "--gpu", "h100-sxm", "--model", "llama-3.1-8b"], 2, "bench.json")
    doc = {"completed": 100, "request_rate": "inf", "max_concurrency": 4, "backend": "vllm", "total_input_tokens": 100000,
           "total_output_tokens": 20000, "mean_ttft_ms": 100, "mean_tpot_ms": 20, "output_throughput": 500,
           "model_id": "meta-llama/Llama-3.1-8B-Instruct"}
    for field, value, name in (("max_concurrency", 1e308, "concurrency"), ("total_input_tokens", 1e300, "prompt_tokens"),
                               ("mean_ttft_ms", 1e300, "ttft_ms")):
        p.write_text(json.dumps(doc | {field: value}))  # once written with Infinity into the profile
        _bad(["calibrate", p, "--gpu", "h100-sxm", "--model", "llama-3.1-8b", "--json"], 2, f"{name} ")


# --------------------------------------------------------------------------------------------
# command-line options: gates that cannot be fooled, bounded numbers, usage errors


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["solve", FLEET, CHAT, *FAST, "--require-qps", "nan"], "--require-qps"),
        (["solve", FLEET, CHAT, *FAST, "--max-cost-usd-per-hour", "nan"], "--max-cost-usd-per-hour"),
        (["solve", FLEET, CHAT, *FAST, "--max-usd-per-million-tokens", "nan"], "--max-usd-per-million-tokens"),
        (["solve", FLEET, CHAT, *FAST, "--require-qps", "-1"], "--require-qps"),
        (["solve", FLEET, CHAT, *FAST, "--max-cost-usd-per-hour", "inf"], "--max-cost-usd-per-hour"),
        (["solve", FLEET, CHAT, *FAST, "--qps", "nan"], "--qps"),
        (["solve", FLEET, CHAT, *FAST, "--budget-usd-per-hour", "nan"], "budget"),
        (["solve", FLEET, CHAT, *FAST, "--time-limit", "nan"], "--time-limit"),
        (["solve", FLEET, CHAT, *FAST, "--json", ""], "--json"),
        (["solve", FLEET, CHAT, *FAST, "--qps", "abc"], "--qps"),
        (["solve", FLEET, CHAT, "--no-such-option"], "--no-such-option"),
        (["solve"], "FLEET"),
        (["no-such-command"], "no-such-command"),
        (["model", "--gpu", "h100-sxm", "--model", "llama-3.1-8b", "--batches", "1e30"], "--batches"),
        (["model", "--gpu", "h100-sxm", "--model", "llama-3.1-8b", "--batches", "1" + "0" * 30], "--batches"),
        (["model", "--gpu", "h100-sxm", "--model", "llama-3.1-8b", "--prompts", "9" * 5000], "--prompts"),
        (["simulate", "PLAN", CHAT, "--requests", "1000000000000"], "--requests"),
        (["simulate", "PLAN", CHAT, "--duration", "1e308"], "--duration"),
        (["simulate", "PLAN", CHAT, "--duration", "nan"], "--duration"),
        (["simulate", "PLAN", CHAT, "--seed", "-1"], "--seed"),
        (["simulate", "PLAN", CHAT, "--load", "nan"], "--load"),
        (["diff", "PLAN", "PLAN", "--tolerance", "nan"], "--tolerance"),
        (["sweep", FLEET, CHAT, "--vary", "qps", "--from", "1", "--to", "2", "--steps", "100000000"], "--steps"),
        (["sweep", FLEET, CHAT, "--vary", "qps", "--values", "1,nan"], "--values"),
    ],
)
def test_bad_option(tmp_path, plan_doc, args, fragment):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(plan_doc))
    args = [plan if a == "PLAN" else a for a in args]
    _bad(args, 2, fragment)


def test_version():
    result, _ = _runner_invoke(["--version"])
    assert result.exit_code == 0, result.output
    assert re.match(r"planner \d+\.\d+", result.stdout), result.stdout


# --------------------------------------------------------------------------------------------
# solvers


def test_cbc_abort_is_a_solver_error_not_infeasible(tmp_path):
    pytest.importorskip("pulp")
    import pulp

    if not pulp.COIN_CMD(msg=False).available():  # planner's --solver cbc (planner/optimize/solve.py)
        pytest.skip("CBC not installed")
    f = tmp_path / "f.yaml"
    f.write_text(
        "gpus: [{type: a100-80-sxm, count: 32, price_usd_per_hour: 2.50, gpus_per_node: 8, network_gbit_s: 200}]\n"
    )
    result, _ = _runner_invoke(
        ["solve", f, REPO / "workloads" / "assistant-llama70b.yaml", "--objective", "max-throughput", "--solver", "cbc", "-q"]
    )
    out = result.output
    assert "Traceback" not in out and result.exit_code in (0, 3), out
    if result.exit_code == 3:
        assert "cbc" in result.stderr.lower() and "serves no traffic" not in out, out
    else:
        assert "serves no traffic" not in out, out


def test_a_solver_failure_in_a_baseline_is_not_reported_as_no_traffic(monkeypatch):
    """A baseline whose min-cost solve is infeasible probes how much it serves; when the solver
    fails on that probe (CBC aborting), the reason says so instead of "serves no traffic"."""
    from types import SimpleNamespace

    from planner.errors import InfeasibleError, SolverError
    from planner.optimize import budget, scenarios

    calls = []

    def fake_solve(problem, table, objective, solver, **kw):
        calls.append(objective)
        if objective == "min-cost":
            raise InfeasibleError("the fleet cannot serve 40 req/s within the SLOs")
        raise SolverError("solver 'cbc' failed: Pulp: Error while executing")

    monkeypatch.setattr(scenarios, "solve", fake_solve)
    out = scenarios._outcome("no-disaggregation", SimpleNamespace(qps_target=40.0), None, "min-cost", "cbc",
                             roles={"colocated"}, deadline=budget.UNLIMITED)
    assert calls == ["min-cost", "max-throughput"]
    assert not out.feasible and "serves no traffic" not in out.reason and "cbc" in out.reason, out.reason
    assert out.proven is False


def test_free_unlimited_purchases_are_refused(tmp_path):
    f = tmp_path / "f.yaml"
    f.write_text("gpus:\n  - {type: h100-sxm, count: 0, buy: {price_usd_per_hour: 0}}\n")
    _bad(["solve", f, CHAT, "--objective", "max-tokens-per-dollar", *FAST], 2, "free")


# --------------------------------------------------------------------------------------------
# output files


def _solve_to(target: str, *extra: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*PLANNER, "solve", str(FLEET), str(CHAT), *FAST, "--json", target, *extra],
        capture_output=True, text=True, timeout=60, **kw,
    )


def test_output_mode_follows_umask_and_existing_file(tmp_path):
    new = tmp_path / "new.json"
    old_umask = os.umask(0o022)
    try:
        r = CliRunner().invoke(app, ["solve", str(FLEET), str(CHAT), *FAST, "--json", str(new)])
        assert r.exit_code == 0, r.output
        assert stat.S_IMODE(new.stat().st_mode) == 0o644
        existing = tmp_path / "existing.json"
        existing.write_text("{}")
        existing.chmod(0o640)
        r = CliRunner().invoke(app, ["solve", str(FLEET), str(CHAT), *FAST, "--json", str(existing)])
        assert r.exit_code == 0, r.output
        assert stat.S_IMODE(existing.stat().st_mode) == 0o640
        assert json.loads(existing.read_text())["schema_version"]
    finally:
        os.umask(old_umask)


def test_output_to_a_fifo_and_a_device_is_written_through(tmp_path):
    # a device node of the test's own (never the system's /dev/null: a planner that replaced
    # special files would break the machine)
    dev = tmp_path / "null"
    try:
        os.mknod(dev, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except (PermissionError, OSError):
        dev = None
    if dev is not None:
        r = CliRunner().invoke(app, ["solve", str(FLEET), str(CHAT), *FAST, "--json", str(dev)])
        assert r.exit_code == 0, r.output
        assert stat.S_ISCHR(dev.lstat().st_mode)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["null"]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    proc = subprocess.Popen([*PLANNER, "solve", str(FLEET), str(CHAT), *FAST, "--json", str(fifo)],
                            stderr=subprocess.PIPE, text=True)
    with open(fifo, encoding="utf-8") as f:
        data = f.read()
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    assert json.loads(data)["schema_version"]
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_output_through_a_symlink_replaces_the_target(tmp_path):
    target = tmp_path / "real.json"
    target.write_text("{}")
    link = tmp_path / "link.json"
    link.symlink_to(target.name)
    r = CliRunner().invoke(app, ["solve", str(FLEET), str(CHAT), *FAST, "--json", str(link)])
    assert r.exit_code == 0, r.output
    assert link.is_symlink()
    assert json.loads(target.read_text())["schema_version"]


def test_long_file_name(tmp_path):
    name = "p" * 245 + ".json"  # 250 characters, under NAME_MAX (255)
    r = CliRunner().invoke(app, ["solve", str(FLEET), str(CHAT), *FAST, "--json", str(tmp_path / name)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / name).is_file()
    assert [p.name for p in tmp_path.iterdir()] == [name]


@pytest.mark.parametrize("fault", ["dev-full", "stdout-closed", "ascii"])
def test_stdout_faults(fault):
    cmd = [*PLANNER, "solve", str(FLEET), str(CHAT), "--no-explain", "--json", "-"]
    env = dict(os.environ)
    if fault == "dev-full":
        if not os.path.exists("/dev/full"):
            pytest.skip("no /dev/full")
        with open("/dev/full", "w") as full:
            r = subprocess.run(cmd, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1 and "standard output" in lines[0], r.stderr
    elif fault == "stdout-closed":
        r = subprocess.run(cmd, stdout=None, stderr=subprocess.PIPE, text=True, timeout=60,
                           preexec_fn=lambda: os.close(1))
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert r.returncode == 2 and len(lines) == 1 and "standard output" in lines[0], r.stderr
    else:
        env["PYTHONIOENCODING"] = "ascii"
        r = subprocess.run([*PLANNER, "solve", str(FLEET), str(CHAT), "--no-explain"], capture_output=True,
                           env=env, timeout=60)
        assert r.returncode == 0, r.stderr
        assert b"Traceback" not in r.stderr and r.stdout


def test_broken_pipe_is_not_infeasible():
    p = subprocess.Popen([*PLANNER, "solve", str(FLEET), str(CHAT), "--no-explain"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    code = p.wait(timeout=60)
    err = p.stderr.read().decode()
    assert code == 141, (code, err)
    assert "Traceback" not in err and "Exception ignored" not in err, err


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_quickly_with_one_line_and_no_temporary(tmp_path, sig, code):
    """A slow command (a 600-point sweep) interrupted: one line, the documented code, within 2 s."""
    out = tmp_path / "s.json"
    p = subprocess.Popen(
        [*PLANNER, "sweep", str(FLEET), str(CHAT), "--vary", "qps", "--from", "1", "--to", "40", "--steps", "600",
         "--json", str(out)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    time.sleep(2.5)
    assert p.poll() is None, p.stderr.read()
    t0 = time.perf_counter()
    p.send_signal(sig)
    rc = p.wait(timeout=10)
    took = time.perf_counter() - t0
    err = [ln for ln in p.stderr.read().splitlines() if ln.strip()]
    assert rc == code, (rc, err)
    assert took < 2.0, took
    assert len(err) == 1 and err[0].startswith("error: "), err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_during_a_write_removes_the_temporary(tmp_path, sig, code):
    """A signal while the temporary file is open (the write held at fsync): the handler removes it."""
    script = (
        "import os, sys, time\n"
        "from planner.process import install_signal_handlers\n"
        "from planner import files\n"
        "install_signal_handlers()\n"
        "os.fsync = lambda fd: (print('writing', flush=True), time.sleep(30))\n"
        "files.write_atomic(sys.argv[1], '{}' * 1000)\n"
    )
    p = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "plan.json")], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "writing"
    assert len(list(tmp_path.iterdir())) == 1  # the temporary file
    p.send_signal(sig)
    assert p.wait(timeout=10) == code
    assert list(tmp_path.iterdir()) == []
    assert p.stderr.read().strip().startswith("error: interrupted by")


def test_interrupted_write_leaves_no_temporary(tmp_path):
    from planner import files

    target = tmp_path / "x.json"

    class Boom(BaseException):
        pass

    def explode(*a, **k):
        raise Boom

    orig = os.fsync
    os.fsync = explode
    try:
        with pytest.raises(Boom):
            files.write_atomic(target, "{}")
    finally:
        os.fsync = orig
    assert list(tmp_path.iterdir()) == []
    assert files.pending_temporaries() == set()


# --------------------------------------------------------------------------------------------
# the suite's coverage: readers x classes


def coverage() -> dict[str, int]:
    counts: dict[str, int] = {}
    for reader in YAML_READERS:
        counts[f"yaml:{reader}"] = len(YAML_BAD)
    for reader in PLAN_READERS:
        counts[f"plan-json:{reader}"] = len(PLAN_BAD)
    for reader in CSV_READERS:
        counts[f"csv:{reader}"] = len(CSV_BAD)
    return counts


if __name__ == "__main__":
    for k, v in coverage().items():
        print(f"{k:28} {v}")
