"""Fuzzing the other files a user hands the CLI: measurement CSVs (`planner calibrate`) and plan
JSON (`planner diff`, `planner simulate`). Damaged or odd inputs must end in exit 0 or 2 with
one `error:` line naming the file; never an internal error (exit 4) or a traceback."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from conftest import ROOT
from planner.cli import app

RUN = CliRunner()
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
HEADER = "gpu,model,tp,phase,batch,prompt_tokens,context_tokens,latency_ms"
cell = st.one_of(
    st.sampled_from(["h100-sxm", "a100-80-sxm", "h200", "llama-3.1-70b", "llama-2-70b", "prefill", "decode", "",
                     "1", "2", "8", "0", "-1", "1e9", "nan", "inf", "3.5", "x", '"', "1,2"]),
    st.integers(-5, 100_000).map(str),
    st.text(max_size=6),
)
row = st.lists(cell, min_size=0, max_size=10).map(lambda cells: ",".join(cells))
good = st.tuples(
    st.sampled_from(["h100-sxm", "a100-80-sxm"]), st.sampled_from(["llama-3.1-70b", "llama-2-70b"]),
    st.sampled_from([2, 4, 8]), st.sampled_from(["prefill", "decode"]), st.integers(1, 64),
    st.integers(16, 8192), st.integers(16, 8192), st.floats(1, 20_000),
).map(lambda t: ",".join(map(str, t)))


def _one_error_line(r, path, names_file: bool = True) -> None:
    assert r.exit_code in (0, 2), (r.exit_code, r.output)
    assert "Traceback" not in r.output
    if r.exit_code == 2:
        line = r.stderr.strip()
        assert line.startswith("error: ") and "\n" not in line, line
        assert str(path) in line or not names_file, line


@SETTINGS
@given(header=st.sampled_from([HEADER, HEADER.upper(), "gpu,model", "", HEADER + ",extra"]),
       rows=st.lists(st.one_of(good, row), max_size=12))
def test_calibrate_survives_any_csv(tmp_path, header, rows):
    path = tmp_path / "m.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    r = RUN.invoke(app, ["calibrate", str(path), "--gpu", "h100-sxm", "--no-rows"])
    _one_error_line(r, path)


PLAN = json.loads((ROOT / "tests" / "golden" / "h100-a100__chat-llama70b.json").read_text())
PLAN["metadata"] = {"planner_version": "0", "solver": "highs", "solver_version": "x", "solve_seconds": 0.0, "solves": 1, "stages": []}


def _mutate(doc, path, value):
    cur = doc
    for key in path[:-1]:
        cur = cur[key]
    cur[path[-1]] = value


paths = st.sampled_from([
    ("schema_version",), ("throughput", "requests_per_s"), ("pools", 0, "instances"), ("pools", 0, "gpu"),
    ("pools", 0, "role"), ("pools", 0, "classes", 0, "requests_per_s"), ("pools",), ("gpus", 0, "gpu"),
    ("inputs", "objective"), ("cost", "usd_per_hour"), ("status",),
])
values = st.sampled_from([None, -1, 0, 1e308, "x", "2.0", [], {}, True, "h200", "prefill", "zzz"])


@settings(max_examples=40, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(changes=st.lists(st.tuples(paths, values), max_size=3), truncate=st.sampled_from([None, 10, 500]))
def test_plan_readers_survive_damaged_plans(tmp_path, changes, truncate):
    doc = json.loads(json.dumps(PLAN))
    for path, value in changes:
        try:
            _mutate(doc, path, value)
        except (KeyError, IndexError, TypeError):
            pass
    text = json.dumps(doc)
    path = tmp_path / "p.json"
    path.write_text(text[:truncate] if truncate else text)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(PLAN))
    _one_error_line(RUN.invoke(app, ["diff", str(good), str(path)]), path)
    r = RUN.invoke(app, ["simulate", str(path), str(ROOT / "workloads" / "chat-llama70b.yaml"), "--requests", "4000"])
    _one_error_line(r, path, names_file=False)  # also errors about the plan's contents
