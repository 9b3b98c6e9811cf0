"""Every way a user can get `planner solve` wrong ends in one clear line and the right exit code.

Exit codes (planner/errors.py): 0 plan, 1 infeasible / requirement unmet, 2 bad input,
3 solver failure, 4 internal error (a bug). A bad-input message names `file:line:col` and the
field path; no failure ever shows a Python traceback.

The commands run in-process through typer's CliRunner, which (typer 0.29 / click 8.2+) keeps
stdout and stderr apart (`result.stdout`, `result.stderr`) and mixes both into `result.output`.
Most tests run with COLUMNS set wide, as in a wide terminal, so each test checks its own
message; `test_error_line_is_not_wrapped_when_stderr_is_not_a_terminal` checks, on its own,
that a long message stays on one line at the default width (logs, CI, pipes).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from planner.cli import app

REPO = Path(__file__).resolve().parent.parent
FLEET = REPO / "fleets" / "h100-a100.yaml"
CHAT = REPO / "workloads" / "chat-llama70b.yaml"
BATCH = REPO / "workloads" / "batch-llama70b.yaml"

WIDE = {"COLUMNS": "4000"}
FAST = ["--no-explain", "-q"]

SIMPLE_WORKLOAD = """\
name: simple
model: llama-3.1-70b
classes:
  - name: a
    prompt_tokens: 1000
    output_tokens: 100
    share: 1.0
"""


# --------------------------------------------------------------------------------------------
# helpers


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def _solve(*args: object, env: dict[str, str | None] | None = None):
    return CliRunner().invoke(app, ["solve", *map(str, args)], env=WIDE if env is None else env)


def _no_crash(result) -> None:
    assert "Traceback" not in result.output, result.output
    assert "internal error" not in result.output, result.output
    assert result.exit_code != 4, f"exit 4 = internal error (a bug):\n{result.output}"
    # an exception that escaped the command would show up here (and as exit code 1)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)


def _error_line(result, exit_code: int) -> str:
    """Assert the exit code and that stderr holds exactly one line, `error: ...`; return it."""
    _no_crash(result)
    assert result.exit_code == exit_code, f"exit {result.exit_code}, expected {exit_code}:\n{result.output}"
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected exactly one stderr line, got {len(lines)}:\n{result.stderr}"
    assert lines[0].startswith("error: "), lines[0]
    assert sum(ln.startswith("error:") for ln in result.output.splitlines()) == 1, result.output
    assert len(lines[0]) > len("error: ") + 10, lines[0]
    return lines[0]


def _usage_error(result, option: str) -> str:
    """A CLI-argument error is a usage error: exit 2, one `error:` line naming the option (not
    click's framed box; issue 12, item 16)."""
    _no_crash(result)
    assert result.exit_code == 2, result.output
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Usage:" not in result.stderr and "╭" not in result.stderr, result.stderr
    assert option.lower() in result.stderr.lower(), result.output
    assert not result.stdout.strip(), result.stdout
    return result.stderr


def _solve_default_width(*args: object):
    return CliRunner().invoke(app, ["solve", *map(str, args)], env={"COLUMNS": None})


def _at(msg: str, path: Path, lines: int | set[int], col: int | None = None) -> str:
    """The message names `path:line:col` with the line in `lines` (and exactly `col` if given).

    Returns the rest of the message after the location, for checks on its wording that the
    file name (tmp_path holds the test's name) must not satisfy by accident.
    """
    m = re.search(re.escape(str(path)) + r":(\d+):(\d+)", msg)
    assert m, f"no {path}:line:col in: {msg}"
    allowed = {lines} if isinstance(lines, int) else lines
    assert int(m.group(1)) in allowed, f"line {m.group(1)} not in {sorted(allowed)}: {msg}"
    if col is not None:
        assert int(m.group(2)) == col, f"column {m.group(2)} != {col}: {msg}"
    return msg[m.end():]


def _after(msg: str, path: Path) -> str:
    """The message names `path`; the rest of the message after it."""
    assert str(path) in msg, f"{path} not named in: {msg}"
    return msg.split(str(path), 1)[1]


# --------------------------------------------------------------------------------------------
# the file itself


def test_malformed_yaml_names_line_and_column(tmp_path):
    f = _write(tmp_path, "fleet.yaml", "name: x\ngpus:\n  - type: h100-sxm\n    count: 8: 9\n")
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 4, 13)
    assert "YAML" in body


def test_unclosed_quote_is_a_yaml_syntax_error(tmp_path):
    f = _write(tmp_path, "fleet.yaml", 'name: x\ngpus:\n  - type: "h100-sxm\n    count: 8\n')
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, {3, 4, 5})
    assert "YAML" in body


def test_top_level_list_is_refused(tmp_path):
    f = _write(tmp_path, "fleet.yaml", "- type: h100-sxm\n  count: 8\n")
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 1)
    assert "mapping" in body


def test_top_level_list_workload_is_refused(tmp_path):
    w = _write(tmp_path, "workload.yaml", "- llama-3.1-70b\n")
    body = _at(_error_line(_solve(FLEET, w, *FAST), 2), w, 1)
    assert "mapping" in body and "workload" in body


def test_empty_file(tmp_path):
    f = _write(tmp_path, "fleet.yaml", "")
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 1)
    assert "empty" in body


def test_comment_only_file_is_empty(tmp_path):
    w = _write(tmp_path, "workload.yaml", "# nothing here\n\n")
    body = _after(_error_line(_solve(FLEET, w, *FAST), 2), w)
    assert "empty" in body


def test_file_does_not_exist(tmp_path):
    missing = tmp_path / "no-such-fleet.yaml"
    body = _after(_error_line(_solve(missing, CHAT, *FAST), 2), missing)
    assert "not found" in body


def test_folder_instead_of_file(tmp_path):
    body = _after(_error_line(_solve(FLEET, tmp_path, *FAST), 2), tmp_path)
    assert "file" in body


def test_not_utf8(tmp_path):
    f = tmp_path / "fleet.yaml"
    f.write_bytes(b"name: \xff\xfe\ngpus: []\n")
    body = _after(_error_line(_solve(f, CHAT, *FAST), 2), f)
    assert "UTF-8" in body


def test_duplicate_yaml_key(tmp_path):
    f = _write(tmp_path, "fleet.yaml", "name: x\ngpus:\n  - type: h100-sxm\n    count: 8\n    count: 9\n")
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 5)
    assert "duplicate" in body and "count" in body and "gpus[0]" in body


def test_python_object_tag_is_a_yaml_error_without_side_effect(tmp_path):
    marker = tmp_path / "pwned"
    f = _write(
        tmp_path,
        "fleet.yaml",
        f'name: x\ngpus:\n  - type: !!python/object/apply:os.system ["touch {marker}"]\n    count: 8\n',
    )
    msg = _error_line(_solve(f, CHAT, *FAST), 2)
    assert not marker.exists(), "the YAML tag ran a shell command"
    body = _at(msg, f, 3)
    # refused because of the tag (a YAML error), not because a list is not a GPU type
    assert re.search(r"tag|python/object", body), msg


def test_python_object_tag_on_an_accepted_list_is_refused(tmp_path):
    # the tagged node is a list of ints, exactly what tp_degrees takes: the tag must still be
    # refused, not silently dropped
    w = _write(tmp_path, "workload.yaml", SIMPLE_WORKLOAD + "tp_degrees: !!python/object/apply:os.system [8]\n")
    body = _at(_error_line(_solve(FLEET, w, *FAST), 2), w, 8)
    assert re.search(r"tag|python/object", body), body


def test_python_name_tag_on_a_scalar_is_refused(tmp_path):
    f = _write(tmp_path, "fleet.yaml", "name: x\ngpus:\n  - type: !!python/name:os.system ''\n    count: 8\n")
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 3)
    assert re.search(r"tag|python/name", body), body


def test_python_tag_on_a_mapping_key_is_refused(tmp_path):
    # found by tests/test_fuzz_inputs.py: a tag on a key, not on a value
    f = _write(tmp_path, "fleet.yaml", "name: x\ngpus:\n  - !!python/object:os.system type: l4\n    count: 8\n")
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 3)
    assert re.search(r"tag|python/object", body), body


# --------------------------------------------------------------------------------------------
# unknown keys whose names look like pydantic's location tags (found by the fuzz test)


@pytest.mark.parametrize("key", ["list", "str", "g[pus", "ModelArchitecture"])
def test_unknown_top_level_key_with_any_name(tmp_path, key):
    f = _write(tmp_path, "fleet.yaml", f"name: x\n{key}: 1\ngpus:\n  - type: h100-sxm\n    count: 8\n")
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 2)
    assert f"{key}: unknown field" in body, body


@pytest.mark.parametrize("key", ["str", "a[0]", "dict"])
def test_unknown_nested_key_with_any_name(tmp_path, key):
    f = _write(tmp_path, "fleet.yaml", f"name: x\ngpus:\n  - type: h100-sxm\n    count: 8\n    {key}: 1\n")
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 5)
    assert f"gpus[0].{key}: unknown field" in body, body


# --------------------------------------------------------------------------------------------
# fleet schema and catalog names


def test_unknown_gpu_type_suggests_a_catalog_id(tmp_path):
    f = _write(tmp_path, "fleet.yaml", "name: x\ngpus:\n  - type: h100\n    count: 8\n")
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 3, 11)
    assert "'h100'" in body
    m = re.search(r"did you mean '([^']+)'", body)
    assert m and m.group(1).startswith("h100"), body
    assert "gpus[0].type" in body, body


def test_negative_count(tmp_path):
    f = _write(tmp_path, "fleet.yaml", "name: x\ngpus:\n  - type: h100-sxm\n    count: -1\n")
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 4, 12)
    assert "gpus[0].count" in body and "-1" in body


def test_fractional_count(tmp_path):
    f = _write(tmp_path, "fleet.yaml", "name: x\ngpus:\n  - type: h100-sxm\n    count: 2.5\n")
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 4, 12)
    assert "gpus[0].count" in body and "2.5" in body and "whole number" in body


def test_zero_gpus_in_total(tmp_path):
    f = _write(
        tmp_path,
        "fleet.yaml",
        "name: x\ngpus:\n  - type: h100-sxm\n    count: 0\n  - type: a100-80-sxm\n    count: 0\n",
    )
    msg = _error_line(_solve(f, CHAT, *FAST), 2)
    assert "no GPUs" in msg
    # the field at fault is `gpus` (lines 2-6), not the whole document at 1:1
    body = _at(msg, f, {2, 3, 4, 5, 6})
    assert re.search(r"\bgpus\b", body), body


def test_duplicate_gpu_type(tmp_path):
    f = _write(
        tmp_path,
        "fleet.yaml",
        "name: x\ngpus:\n  - type: h100-sxm\n    count: 8\n  - type: h100-sxm\n    count: 8\n",
    )
    msg = _error_line(_solve(f, CHAT, *FAST), 2)
    assert "'h100-sxm'" in msg and "twice" in msg
    # the second entry (line 5) is the duplicate: name it, not the document at 1:1
    body = _at(msg, f, 5)
    assert "gpus[1]" in body, body


def test_nan_price(tmp_path):
    f = _write(tmp_path, "fleet.yaml", "name: x\ngpus:\n  - type: h100-sxm\n    count: 8\n    price_usd_per_hour: .nan\n")
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 5, 25)
    assert "gpus[0].price_usd_per_hour" in body and "finite" in body


@pytest.mark.parametrize("value", [".inf", "-.inf"])
def test_infinite_price(tmp_path, value):
    f = _write(tmp_path, "fleet.yaml", f"name: x\ngpus:\n  - type: h100-sxm\n    count: 8\n    price_usd_per_hour: {value}\n")
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 5, 25)
    assert "gpus[0].price_usd_per_hour" in body


def test_string_where_a_number_is_expected(tmp_path):
    f = _write(tmp_path, "fleet.yaml", "name: x\ngpus:\n  - type: h100-sxm\n    count: eight\n")
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 4, 12)
    assert "gpus[0].count" in body and "'eight'" in body


def test_quoted_number_is_not_coerced(tmp_path):
    # planner/specs/base.py, Strict: "values are not coerced from strings"
    f = _write(tmp_path, "fleet.yaml", 'name: x\ngpus:\n  - type: h100-sxm\n    count: "8"\n')
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 4, 12)
    assert "gpus[0].count" in body


def test_unknown_fleet_key(tmp_path):
    f = _write(tmp_path, "fleet.yaml", "name: x\ngpus:\n  - type: h100-sxm\n    count: 8\n    colour: green\n")
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 5)
    assert "gpus[0].colour" in body and "unknown field" in body


# numbers the schema accepts but the arithmetic cannot take (found by the fuzz test): either a
# plan (exit 0) or bad input naming the field (exit 2), never an internal error


def _plan_or_bad_field(result, field: str) -> None:
    _no_crash(result)
    assert result.exit_code in (0, 2), f"exit {result.exit_code}:\n{result.output}"
    if result.exit_code == 2:
        assert field in _error_line(result, 2), result.output


def test_huge_price(tmp_path):
    f = _write(tmp_path, "fleet.yaml", "name: x\ngpus:\n  - type: h100-sxm\n    count: 16\n    price_usd_per_hour: 1.0e+308\n  - type: a100-80-sxm\n    count: 32\n")
    _plan_or_bad_field(_solve(f, CHAT, *FAST), "gpus[0].price_usd_per_hour")


def test_huge_network_bandwidth(tmp_path):
    f = _write(tmp_path, "fleet.yaml", "name: x\ngpus:\n  - type: l4\n    count: 16\n    network_gbit_s: 1.0e+308\n  - type: h100-sxm\n    count: 8\n")
    _plan_or_bad_field(_solve(f, BATCH, *FAST), "gpus[0].network_gbit_s")


def test_tiny_price_with_tokens_per_dollar(tmp_path):
    # price 0 gives a plan; a price of 1e-20 $/h must too (or be refused by name), not crash in
    # the solver interface
    f = _write(tmp_path, "fleet.yaml", "name: x\ngpus:\n  - type: l4\n    count: 16\n    price_usd_per_hour: 1.0e-20\n  - type: h100-sxm\n    count: 8\n")
    _plan_or_bad_field(_solve(f, BATCH, *FAST), "gpus[0].price_usd_per_hour")


def test_free_gpu_beside_a_paid_one_with_tokens_per_dollar(tmp_path):
    # found by the fuzz test: price 0 is documented as "free"; with a paid GPU beside it the
    # tokens-per-dollar objective (the default without SLOs or a QPS target) divided by zero
    f = _write(tmp_path, "fleet.yaml", "name: x\ngpus:\n  - type: l4\n    count: 8\n    price_usd_per_hour: 0\n  - type: a100-80-sxm\n    count: 8\n")
    r = _solve(f, BATCH, *FAST)
    _no_crash(r)
    assert r.exit_code in (0, 2), f"exit {r.exit_code}:\n{r.output}"
    if r.exit_code == 2:
        assert re.search(r"free|price_usd_per_hour|--objective", _error_line(r, 2)), r.output


def test_catalog_gpu_without_price_needs_one(tmp_path):
    f = _write(tmp_path, "fleet.yaml", "name: x\ngpus:\n  - type: h200-nvl\n    count: 8\n")
    body = _at(_error_line(_solve(f, CHAT, *FAST), 2), f, 3)
    assert "gpus[0].price_usd_per_hour" in body


# --------------------------------------------------------------------------------------------
# workload schema and catalog names


def test_unknown_model_suggests_a_catalog_id(tmp_path):
    w = _write(tmp_path, "workload.yaml", SIMPLE_WORKLOAD.replace("llama-3.1-70b", "llama-3.1-70"))
    body = _at(_error_line(_solve(FLEET, w, *FAST), 2), w, 2, 8)
    assert re.search(r"\bmodel\b", body) and "'llama-3.1-70'" in body
    m = re.search(r"did you mean '([^']+)'", body)
    assert m and m.group(1).startswith("llama-3.1-70"), body


def test_missing_required_field(tmp_path):
    w = _write(tmp_path, "workload.yaml", SIMPLE_WORKLOAD.replace("    output_tokens: 100\n", ""))
    body = _at(_error_line(_solve(FLEET, w, *FAST), 2), w, 4)
    assert "classes[0].output_tokens" in body and "missing" in body


def test_unknown_key_typo(tmp_path):
    w = _write(tmp_path, "workload.yaml", SIMPLE_WORKLOAD.replace("prompt_tokens", "prompt_tokes"))
    msg = _error_line(_solve(FLEET, w, *FAST), 2)
    # the typo is what the user must fix: name it (line 5), not only the key it hides
    assert "classes[0].prompt_tokes" in msg, msg
    _at(msg, w, 5)


def test_shares_do_not_sum_to_one(tmp_path):
    w = _write(
        tmp_path,
        "workload.yaml",
        "name: w\nmodel: llama-3.1-70b\nclasses:\n"
        "  - {name: a, prompt_tokens: 100, output_tokens: 10, share: 0.5}\n"
        "  - {name: b, prompt_tokens: 100, output_tokens: 10, share: 0.4}\n",
    )
    msg = _error_line(_solve(FLEET, w, *FAST), 2)
    assert "sum to 1" in msg and "0.9" in msg
    # the field at fault is `classes` (lines 3-5), not the whole document at 1:1
    body = _at(msg, w, {3, 4, 5})
    assert re.search(r"\bclasses\b", body), body


@pytest.mark.parametrize("qps", ["-5", "0", ".nan"])
def test_bad_qps_in_the_workload(tmp_path, qps):
    # a number was given: say what is wrong with it, not only that it is not 'max'
    w = _write(tmp_path, "workload.yaml", SIMPLE_WORKLOAD + f"traffic:\n  qps: {qps}\n")
    body = _at(_error_line(_solve(FLEET, w, *FAST), 2), w, 9, 8)
    assert "traffic.qps" in body
    assert re.search(r"from 0.001 to 1e\+07", body), body


def test_nan_slo(tmp_path):
    w = _write(tmp_path, "workload.yaml", SIMPLE_WORKLOAD + "slo:\n  tpot_ms: .nan\n")
    body = _at(_error_line(_solve(FLEET, w, *FAST), 2), w, 9, 12)
    assert "slo.tpot_ms" in body


def test_context_window_exceeded(tmp_path):
    w = _write(tmp_path, "workload.yaml", SIMPLE_WORKLOAD.replace("prompt_tokens: 1000", "prompt_tokens: 200000"))
    body = _at(_error_line(_solve(FLEET, w, *FAST), 2), w, 4)
    assert "classes[0]" in body and "context" in body


# --------------------------------------------------------------------------------------------
# infeasible: exit 1, and the message says what does not fit


def test_model_fits_nowhere(tmp_path):
    f = _write(tmp_path, "fleet.yaml", "name: small\ngpus:\n  - type: l4\n    count: 2\n")
    w = _write(tmp_path, "workload.yaml", SIMPLE_WORKLOAD.replace("llama-3.1-70b", "llama-3.1-405b"))
    msg = _error_line(_solve(f, w, *FAST), 1)
    assert "llama-3.1-405b" in msg
    assert "fits on no" in msg and "l4" in msg
    assert re.search(r"weights|GB|needs \d+ GPUs", msg), msg


def test_impossible_tpot(tmp_path):
    w = _write(tmp_path, "workload.yaml", SIMPLE_WORKLOAD + "slo:\n  tpot_ms: 1\n")
    msg = _error_line(_solve(FLEET, w, *FAST), 1)
    assert "TPOT" in msg
    m = re.search(r"best reachable TPOT[^:]*: ([\d.]+) ms", msg)
    assert m and float(m.group(1)) > 1, msg


def test_impossible_ttft(tmp_path):
    w = _write(tmp_path, "workload.yaml", SIMPLE_WORKLOAD + "slo:\n  ttft_ms: 1\n")
    msg = _error_line(_solve(FLEET, w, *FAST), 1)
    assert "TTFT" in msg
    m = re.search(r"best reachable TTFT[^:]*: ([\d.]+) ms", msg)
    assert m and float(m.group(1)) > 1, msg


def test_unreachable_qps_with_min_cost():
    msg = _error_line(_solve(FLEET, CHAT, "--objective", "min-cost", "--qps", "1e6", *FAST), 1)
    assert re.search(r"1e\+06|1,?000,?000", msg) and "req/s" in msg


def test_unreachable_qps_in_the_workload(tmp_path):
    w = _write(tmp_path, "workload.yaml", SIMPLE_WORKLOAD + "traffic:\n  qps: 1000000\n")
    msg = _error_line(_solve(FLEET, w, *FAST), 1)
    assert "req/s" in msg


# --------------------------------------------------------------------------------------------
# command-line arguments


@pytest.mark.parametrize("qps", ["-5", "0", "nan", "inf"])
def test_bad_qps(qps):
    msg = _error_line(_solve(FLEET, CHAT, "--qps", qps, *FAST), 2)
    assert "--qps" in msg


@pytest.mark.parametrize("limit", ["0", "-1", "nan"])
def test_bad_time_limit(limit):
    msg = _error_line(_solve(FLEET, CHAT, "--time-limit", limit, *FAST), 2)
    assert "--time-limit" in msg


def test_min_cost_without_a_qps_target_is_bad_input():
    # no traffic.qps in the workload and no --qps: the user must add one (exit 2); the solver
    # did not fail (exit 3)
    msg = _error_line(_solve(FLEET, BATCH, "--objective", "min-cost", *FAST), 2)
    assert "--qps" in msg


def test_unknown_solver_is_a_usage_error():
    out = _usage_error(_solve_default_width(FLEET, CHAT, "--solver", "gurobi", *FAST), "--solver")
    assert "gurobi" in out


def test_unknown_objective_is_a_usage_error():
    out = _usage_error(_solve_default_width(FLEET, CHAT, "--objective", "cheapest", *FAST), "--objective")
    assert "cheapest" in out


def test_non_numeric_qps_is_a_usage_error():
    _usage_error(_solve_default_width(FLEET, CHAT, "--qps", "lots", *FAST), "--qps")


def test_missing_argument_is_a_usage_error():
    _usage_error(_solve_default_width(FLEET, *FAST), "Missing argument 'workload'")


def test_json_into_a_missing_folder(tmp_path):
    target = tmp_path / "no-such-dir" / "plan.json"
    msg = _error_line(_solve(FLEET, CHAT, "--json", target, *FAST), 2)
    assert str(target) in msg
    assert "does not exist" in msg.split(str(target), 1)[1]
    assert not target.parent.exists()


# --------------------------------------------------------------------------------------------
# output format


def test_error_line_is_not_wrapped_when_stderr_is_not_a_terminal(tmp_path):
    # stderr to a pipe or a log file, no COLUMNS: the one error line must stay one line (rich
    # would otherwise hard-wrap it at 80 columns, splitting paths and messages)
    f = _write(tmp_path, "fleet-with-a-rather-long-name.yaml", "name: x\ngpus:\n  - type: h100\n    count: 8\n")
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    p = subprocess.run(
        [sys.executable, "-m", "planner", "solve", str(f), str(CHAT), *FAST],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120,
    )
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, f"the error was wrapped over {len(lines)} lines:\n{p.stderr}"
    assert lines[0].startswith(f"error: {f}:3:11: ") and "did you mean 'h100-sxm'" in lines[0]


def test_error_line_is_not_wrapped_in_process(tmp_path):
    # the same through CliRunner at the default width (80 columns when COLUMNS is unset)
    f = _write(tmp_path, "fleet.yaml", "name: x\ngpus:\n  - type: h100\n    count: 8\n")
    msg = _error_line(_solve_default_width(f, CHAT, *FAST), 2)
    assert msg.startswith(f"error: {f}:3:11: ") and msg.endswith("(see `planner catalog gpus`)"), msg


# --------------------------------------------------------------------------------------------
# the happy path


def _check_plan_json(text: str) -> None:
    plan = json.loads(text)
    assert plan["schema_version"] == "1.4"
    assert plan["inputs"]["fleet"] == "h100-a100"
    assert plan["inputs"]["workload"] == "chat-llama70b"


def test_solve_example_json_to_stdout(monkeypatch):
    monkeypatch.chdir(REPO)
    r = _solve("fleets/h100-a100.yaml", "workloads/chat-llama70b.yaml", "--json", "-", *FAST)
    _no_crash(r)
    assert r.exit_code == 0, r.output
    assert not r.stderr.strip(), r.stderr
    _check_plan_json(r.stdout)


def test_solve_example_json_to_stdout_subprocess():
    # a real process: stdout must hold the JSON and nothing else (no solver banner on fd 1)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    p = subprocess.run(
        [sys.executable, "-m", "planner", "solve", "fleets/h100-a100.yaml", "workloads/chat-llama70b.yaml",
         "--json", "-", "-q", "--no-explain"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300,
    )
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    _check_plan_json(p.stdout)


def test_solve_json_to_a_file(tmp_path):
    target = tmp_path / "plan.json"
    r = _solve(FLEET, CHAT, "--json", target, *FAST)
    _no_crash(r)
    assert r.exit_code == 0, r.output
    _check_plan_json(target.read_text())
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]  # no temporary file left
