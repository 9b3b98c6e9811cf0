"""Structure-aware fuzzing of fleet and workload YAML through `planner solve`.

Each case starts from a shipped example pair (fleets/*.yaml x workloads/*.yaml, parsed with
yaml.safe_load), applies a few random mutations that know the documents' shape (drop a key,
add an unknown key, put a value of another type in place, duplicate or empty a list, swap a
catalog name, scale a number, give the model an explicit architecture, add GPU overrides, ...)
and sometimes damages the dumped text (truncation, inserted bytes). The CLI then runs in-process:

    planner solve FLEET WORKLOAD --no-explain -q --time-limit 5

and must end with exit 0 (a plan), 1 (infeasible), 2 (bad input), or 3 only when the message
names the solver; never 4 (an internal error is a bug), never a traceback, and every non-zero
exit says why on an `error:` line (or typer's usage error).

The run is deterministic (`derandomize=True`). PLANNER_FUZZ_EXAMPLES sets the number of cases
(default 2000: about 80 s on two cores, the figure issue 6 asks of CI); a quick run: PLANNER_FUZZ_EXAMPLES=200.
`pytest tests/test_fuzz_inputs.py -s` prints the cases run and the exit codes they ended with.
"""

from __future__ import annotations

import copy
import json
import math
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from planner.cli import app

REPO = Path(__file__).resolve().parent.parent
FLEET_FILES = sorted((REPO / "fleets").glob("*.yaml"))
WORKLOAD_FILES = sorted((REPO / "workloads").glob("*.yaml"))
# 500 derandomized cases in `make test` (about a minute); `make fuzz` runs 2,000
EXAMPLES = int(os.environ.get("PLANNER_FUZZ_EXAMPLES", "500"))
ARGS = ["--no-explain", "-q", "--time-limit", "5"]

RUNS: Counter[str] = Counter()  # exit code -> cases; "total"; "seconds"


def _catalog_ids(kind: str) -> list[str]:
    r = CliRunner().invoke(app, ["catalog", kind, "--json"])
    assert r.exit_code == 0, r.output
    return [row["id"] for row in json.loads(r.stdout)]


GPU_IDS = _catalog_ids("gpus")
MODEL_IDS = _catalog_ids("models")
BASE_FLEETS = {p.name: yaml.safe_load(p.read_text(encoding="utf-8")) for p in FLEET_FILES}
BASE_WORKLOADS = {p.name: yaml.safe_load(p.read_text(encoding="utf-8")) for p in WORKLOAD_FILES}

# keys of the schemas (typos and unknown keys are built from these)
KNOWN_KEYS = [
    "name", "description", "gpus", "type", "count", "price_usd_per_hour", "gpus_per_node",
    "network_gbit_s", "overrides", "mem_bytes", "mem_bw_tb_s", "tflops_dense", "efficiency",
    "scaleup_domain_gpus", "mfu", "mbu", "model", "weight_dtype", "kv_dtype", "classes",
    "prompt_tokens", "output_tokens", "share", "traffic", "qps", "slo", "ttft_ms", "tpot_ms",
    "percentile", "tp_degrees", "layers", "hidden", "heads", "kv_heads", "head_dim",
    "buy", "max", "purchase_usd", "amortisation_years", "power_kw", "usd_per_kwh", "pue", "requests",
    "grid", "shares", "measured_capacities", "requests_per_s", "prefill_tokens_per_s", "efficiency_profile",
]

# --------------------------------------------------------------------------------------------
# value strategies

odd_numbers = st.sampled_from(
    [0, -1, -0.5, 1, 1e-300, 5e-324, 1e308, -1e308, 10**30, 2**63, 0.1, 0.999999, 1.000001, 64, 65, 3]
)
odd_floats = st.sampled_from([math.nan, math.inf, -math.inf, -0.0])
plain_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
scalar = st.one_of(
    st.none(), st.booleans(), odd_numbers, odd_floats,
    st.integers(-(10**6), 10**6), st.floats(allow_nan=True, allow_infinity=True),
    plain_text, st.sampled_from(["max", "bf16", "fp8", "fp4", "int4", "", " ", "8", "1e3", "nan", "~", "yes"]),
    st.sampled_from(GPU_IDS + MODEL_IDS),
)
any_value = st.recursive(
    scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.one_of(plain_text, st.sampled_from(KNOWN_KEYS)), inner, max_size=3),
    ),
    max_leaves=6,
)

architecture = st.fixed_dictionaries(
    {
        "id": st.one_of(st.sampled_from(["custom-model", "x"]), plain_text),
        "layers": st.integers(1, 200),
        "hidden": st.sampled_from([1, 64, 1024, 4096, 8192, 16384, 10**7]),
        "heads": st.sampled_from([1, 8, 32, 64, 128]),
        "kv_heads": st.sampled_from([1, 8, 32, 64, 128]),
        "head_dim": st.sampled_from([1, 64, 128, 256, 100000]),
        "total_params_b": st.sampled_from([0.001, 1, 7, 70, 405, 1000, 1e5, 1e6]),
    },
    optional={
        "active_params_b": st.sampled_from([0.001, 1, 7, 70, 1e5]),
        "native_dtype": st.sampled_from(["fp16", "bf16", "fp8"]),
        "max_context_tokens": st.sampled_from([1, 100, 4096, 131072, 10_000_000]),
        "kv_bytes_per_token_bf16": st.sampled_from([1e-9, 1, 1024, 131072, 1e9, 1e12]),
    },
)

overrides = st.fixed_dictionaries(
    {},
    optional={
        "mem_bytes": st.sampled_from([1, 1e8, 8e10, 1e14, 1e15, 1e300]),
        "mem_bw_tb_s": st.sampled_from([1e-9, 0.01, 3.35, 1000, 1e6]),
        "scaleup_domain_gpus": st.sampled_from([1, 2, 8, 1024]),
        "tflops_dense": st.fixed_dictionaries(
            {}, optional={k: st.sampled_from([1e-9, 0.01, 1.0, 989.5, 1e6, 1e9]) for k in ("fp16", "bf16", "fp8", "fp4")}
        ),
        "efficiency": st.fixed_dictionaries(
            {},
            optional={
                "mfu": st.sampled_from([1e-9, 0.001, 0.01, 0.5, 1.0]),
                "mbu": st.sampled_from([1e-9, 0.001, 0.01, 0.5, 1.0]),
                "allreduce_gb_s": st.sampled_from([1e-9, 0.01, 1.0, 1e5, 1e6]),
                "allreduce_latency_us": st.sampled_from([0, 5, 1e5, 1e9]),
                "prefill_overhead_us_per_layer": st.sampled_from([0, 10, 1e5, 1e9]),
                "decode_overhead_us_per_layer": st.sampled_from([0, 10, 1e5, 1e9]),
                "decode_us_per_seq_layer": st.sampled_from([0, 0.5, 1e4, 1e9]),
            },
        ),
    },
)

SCALE = [0.0, -1.0, 1e-9, 1e-3, 0.1, 0.5, 2.0, 10.0, 1e3, 1e6, 1e9, 1e300]

# values at, near and beyond the edges of each field's valid range: those inside pass the schema
# and take extreme numbers to the performance model and the solver
EXTREMES: dict[str, list[Any]] = {
    "count": [1, 2, 3, 7, 1000, 100_000, 1_000_000],
    "price_usd_per_hour": [0, 0.0, 0.001, 0.0011, 999.9, 1000, 1e-300, 1e-20, 1e308],
    "gpus_per_node": [1, 2, 3, 1024],
    "network_gbit_s": [0.1, 0.11, 1e5, 1e-300, 1e308],
    "prompt_tokens": [1, 2, 100_000, 10_000_000],
    "output_tokens": [1, 2, 100_000, 10_000_000],
    "qps": ["max", 1e-6, 1.1e-6, 0.001, 1e6, 1e7, 1e-300, 1e308],
    "ttft_ms": [0.001, 0.5, 1e6, 1e8, 1e-300, 1e308],
    "tpot_ms": [0.001, 0.5, 1e6, 1e7, 1e-300, 1e308],
    "percentile": [50, 99.999999],
    "tp_degrees": [[1], [64], [32], [2, 64], [1, 2, 4, 8, 16, 32, 64]],
    "weight_dtype": ["fp16", "bf16", "fp8"],
    "kv_dtype": ["fp16", "bf16", "fp8"],
}

# --------------------------------------------------------------------------------------------
# structure-aware mutations


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every path in the document, root first."""
    out = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += _paths(v, prefix + (i,))
    return out


def _get(doc: Any, path: tuple) -> Any:
    for p in path:
        doc = doc[p]
    return doc


def _set(doc: Any, path: tuple, value: Any) -> Any:
    if not path:
        return value
    _get(doc, path[:-1])[path[-1]] = value
    return doc


def _typo(key: str, i: int) -> str:
    if len(key) < 2:
        return key + "_"
    i %= len(key)
    return key[:i] + key[i + 1 :]  # drop one letter: prompt_tokens -> prompt_tokes


def _mutate(draw, doc: Any, kind: str) -> Any:
    paths = _paths(doc)
    op = draw(
        st.sampled_from(
            [
                "drop_key", "add_key", "typo_key", "replace", "duplicate_entry", "empty_list",
                "swap_name", "scale", "architecture", "overrides", "whole_document",
                "extreme", "extreme", "extreme", "swap_name", "scale",
            ]
        ),
        label="op",
    )
    if op == "drop_key":
        keys = [p for p in paths if p and isinstance(_get(doc, p[:-1]), dict)]
        if keys:
            p = draw(st.sampled_from(keys), label="drop")
            del _get(doc, p[:-1])[p[-1]]
    elif op == "add_key":
        dicts = [p for p in paths if isinstance(_get(doc, p), dict)]
        if dicts:
            p = draw(st.sampled_from(dicts), label="into")
            key = draw(st.one_of(st.sampled_from(KNOWN_KEYS), plain_text), label="key")
            _get(doc, p)[key] = draw(any_value, label="value")
    elif op == "typo_key":
        keys = [p for p in paths if p and isinstance(p[-1], str)]
        if keys:
            p = draw(st.sampled_from(keys), label="key")
            parent = _get(doc, p[:-1])
            parent[_typo(p[-1], draw(st.integers(0, 30)))] = parent.pop(p[-1])
    elif op == "replace":
        p = draw(st.sampled_from(paths[1:] or paths), label="at")
        doc = _set(doc, p, draw(any_value, label="value"))
    elif op == "duplicate_entry":
        lists = [p for p in paths if isinstance(_get(doc, p), list) and _get(doc, p)]
        if lists:
            p = draw(st.sampled_from(lists), label="list")
            lst = _get(doc, p)
            lst.append(copy.deepcopy(lst[draw(st.integers(0, len(lst) - 1))]))
    elif op == "empty_list":
        lists = [p for p in paths if isinstance(_get(doc, p), list)]
        if lists:
            doc = _set(doc, draw(st.sampled_from(lists), label="list"), [])
    elif op == "swap_name":
        names = [p for p in paths if p and p[-1] in ("type", "model", "name", "weight_dtype", "kv_dtype")]
        if names:
            p = draw(st.sampled_from(names), label="name")
            catalog = GPU_IDS if p[-1] == "type" else MODEL_IDS
            new = draw(st.one_of(st.sampled_from(catalog), st.sampled_from(GPU_IDS + MODEL_IDS), plain_text), label="to")
            doc = _set(doc, p, new)
    elif op == "scale":
        nums = [p for p in paths if isinstance(_get(doc, p), (int, float)) and not isinstance(_get(doc, p), bool)]
        if nums:
            p = draw(st.sampled_from(nums), label="number")
            v = _get(doc, p) * draw(st.sampled_from(SCALE), label="factor")
            if draw(st.booleans(), label="as_int") and math.isfinite(v):
                v = int(v)
            doc = _set(doc, p, v)
    elif op == "extreme":
        fields = [p for p in paths if p and p[-1] in EXTREMES]
        if fields:
            p = draw(st.sampled_from(fields), label="field")
            doc = _set(doc, p, copy.deepcopy(draw(st.sampled_from(EXTREMES[p[-1]]), label="extreme")))
    elif op == "architecture":
        if kind == "workload" and isinstance(doc, dict):
            doc["model"] = draw(architecture, label="architecture")
    elif op == "overrides":
        if kind == "fleet" and isinstance(doc, dict) and isinstance(doc.get("gpus"), list) and doc["gpus"]:
            i = draw(st.integers(0, len(doc["gpus"]) - 1))
            if isinstance(doc["gpus"][i], dict):
                doc["gpus"][i]["overrides"] = draw(overrides, label="overrides")
    elif op == "whole_document":
        doc = draw(st.one_of(st.none(), scalar, st.lists(scalar, max_size=2)), label="document")
    return doc


def _dump(doc: Any) -> bytes:
    if doc is None:
        return b""
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False, width=4096).encode("utf-8")


@st.composite
def document(draw, kind: str) -> tuple[str, bytes]:
    bases = BASE_FLEETS if kind == "fleet" else BASE_WORKLOADS
    base = draw(st.sampled_from(sorted(bases)), label=kind)
    doc = copy.deepcopy(bases[base])
    for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2, 2, 3]), label="mutations")):
        doc = _mutate(draw, doc, kind)
    data = _dump(doc)
    damage = draw(st.sampled_from(["none"] * 8 + ["truncate", "insert", "both"]), label="damage")
    if damage in ("truncate", "both") and data:
        data = data[: draw(st.integers(0, len(data)), label="cut")]
    if damage in ("insert", "both"):
        at = draw(st.integers(0, len(data)), label="at")
        junk = draw(
            st.one_of(
                st.binary(min_size=1, max_size=6),
                st.sampled_from([b"\t", b"\x00", b"\xff", b": ", b"- ", b"{", b"[", b"&a ", b"*a", b"!!binary ",
                                 b"<<: *a\n", b"? ", b"!!python/object:os.system ", b"%YAML 1.1\n", b"\xef\xbb\xbf"]),
            ),
            label="junk",
        )
        data = data[:at] + junk + data[at:]
    return base, data


# --------------------------------------------------------------------------------------------
# the test


def _check(result, fleet: bytes, workload: bytes) -> None:
    def where() -> str:
        return (
            f"\n--- exit {result.exit_code}; output:\n{result.output}"
            f"\n--- fleet.yaml:\n{fleet.decode('utf-8', 'backslashreplace')}"
            f"\n--- workload.yaml:\n{workload.decode('utf-8', 'backslashreplace')}"
        )

    out = result.output
    assert "Traceback" not in out, where()
    assert result.exception is None or isinstance(result.exception, SystemExit), f"{result.exception!r}{where()}"
    assert result.exit_code != 4, "exit 4: internal error (a bug)" + where()
    assert result.exit_code in (0, 1, 2, 3), where()
    if result.exit_code == 0:
        return
    lines = [ln for ln in out.splitlines() if ln.strip()]
    error_lines = [ln for ln in lines if ln.startswith("error: ") and len(ln) > len("error: ")]
    usage = result.exit_code == 2 and any(ln.startswith("Usage:") for ln in lines)
    assert error_lines or usage, "non-zero exit without an `error:` line" + where()
    assert "internal error" not in out, where()
    if result.exit_code == 3:
        assert any(s in out.lower() for s in ("solver", "highs", "cbc")), "exit 3 must name the solver" + where()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
    database=None,
)
@given(fleet=document("fleet"), workload=document("workload"))
def test_fuzz_solve_inputs(tmp_path, fleet, workload):
    (_, fleet_bytes), (_, workload_bytes) = fleet, workload
    f, w = tmp_path / "fleet.yaml", tmp_path / "workload.yaml"
    f.write_bytes(fleet_bytes)
    w.write_bytes(workload_bytes)
    t = time.perf_counter()
    result = CliRunner().invoke(app, ["solve", str(f), str(w), *ARGS], env={"COLUMNS": "4000"})
    RUNS["seconds"] += time.perf_counter() - t
    RUNS["total"] += 1
    RUNS[f"exit {result.exit_code}"] += 1
    _check(result, fleet_bytes, workload_bytes)


def test_fuzz_report():
    """Prints how many cases ran and how they ended (visible with -s)."""
    if not RUNS["total"]:
        return
    codes = {k: v for k, v in sorted(RUNS.items()) if k.startswith("exit")}
    print(f"\nfuzz: {RUNS['total']} cases, {RUNS['seconds']:.1f} s in the CLI, {codes}")
    # the fuzzer must reach both the solver (valid inputs) and the input checks
    assert codes.get("exit 0", 0) > 0 and codes.get("exit 2", 0) > 0, codes
