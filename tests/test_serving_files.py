"""Readers for serving-benchmark result files (planner/perf/serving_files.py): the example
files in tests/data/bench/ (illustrative numbers in each tool's schema), format detection, the
variants of older tool versions, and one-line errors naming the file."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import pytest

from planner.errors import InputError
from planner.perf.serving_files import MAX_FILE_BYTES, ServingPoint, read_serving_file

BENCH = Path(__file__).parent / "data" / "bench"
VLLM, GENAI, AIPERF, GUIDELLM = (BENCH / f for f in ("vllm-bench-serve.json", "genai-perf.json", "aiperf.json", "guidellm.json"))
LLAMA = "meta-llama/Llama-3.1-8B-Instruct"


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _write(tmp_path: Path, doc, name: str = "result.json") -> Path:
    p = tmp_path / name
    p.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return p


# --- the example files -----------------------------------------------------------------------
def test_vllm_bench_serve_example():
    f = read_serving_file(VLLM)
    assert f.format == "vllm-bench" and f.path == str(VLLM)
    assert f.sha256 == hashlib.sha256(VLLM.read_bytes()).hexdigest()
    (p,) = f.points
    assert p == ServingPoint(
        where=str(VLLM),
        prompt_tokens=319872 / 320,  # total_input_tokens / completed = 999.6
        output_tokens=63744 / 320,  # total_output_tokens / completed = 199.2
        concurrency=16.0,  # max_concurrency with request_rate "inf": a closed loop
        request_rate=None,
        ttft_ms=45.2,
        tpot_ms=8.74,  # mean_tpot_ms, not mean_itl_ms (8.69)
        output_tokens_per_s=1757.97,
        model=LLAMA,
        engine="vllm",
    )
    assert p.prompt_tokens == pytest.approx(999.6) and p.output_tokens == pytest.approx(199.2)


def test_genai_perf_example():
    f = read_serving_file(GENAI)
    assert f.format == "genai-perf"
    (p,) = f.points
    assert (p.prompt_tokens, p.output_tokens, p.ttft_ms, p.tpot_ms) == (1000.4, 199.6, 38.7, 7.92)
    assert (p.concurrency, p.request_rate) == (8.0, None)  # input_config.perf_analyzer.stimulus
    assert p.output_tokens_per_s == 990.81
    # endpoint.backend "tensorrtllm" is genai-perf's default and unused with the openai service kind
    assert (p.model, p.engine, p.gpu, p.tp) == (LLAMA, None, None, None)
    assert p.where == str(GENAI)


def test_aiperf_example():
    f = read_serving_file(AIPERF)
    assert f.format == "aiperf"
    (p,) = f.points
    assert (p.prompt_tokens, p.output_tokens, p.ttft_ms, p.tpot_ms) == (1000.0, 198.9, 112.5, 10.84)
    assert (p.concurrency, p.request_rate, p.output_tokens_per_s) == (32.0, None, 2819.01)
    assert (p.model, p.engine) == (LLAMA, None)


def test_guidellm_example_has_one_point_per_benchmark():
    f = read_serving_file(GUIDELLM)
    assert f.format == "guidellm"
    assert [p.where for p in f.points] == [f"{GUIDELLM}:benchmarks[{i}]" for i in range(4)]
    assert [(p.concurrency, p.request_rate) for p in f.points] == [(1.0, None), (8.0, None), (32.0, None), (None, 6.0)]
    assert [p.ttft_ms for p in f.points] == [31.4, 44.9, 96.3, 52.8]
    # inter_token_latency_ms, not time_per_output_token_ms (which includes the TTFT since v0.4)
    assert [p.tpot_ms for p in f.points] == [6.42, 7.61, 10.95, 8.12]
    doc = _load(GUIDELLM)
    assert doc["benchmarks"][0]["metrics"]["time_per_output_token_ms"]["successful"]["mean"] == 6.545
    assert [p.output_tokens for p in f.points] == [200.0, 199.8, 199.5, 199.7]
    assert all(p.prompt_tokens == 1000.0 for p in f.points)
    assert [p.output_tokens_per_s for p in f.points] == [150.1, 1002.6, 2782.4, 1196.8]
    assert {(p.model, p.engine) for p in f.points} == {(LLAMA, None)}


def test_examples_say_they_are_illustrative():
    for path in (VLLM, GENAI, AIPERF, GUIDELLM):
        assert "ILLUSTRATIVE" in _load(path)["note"]
    assert "ILLUSTRATIVE" in (BENCH / "README.md").read_text()


# --- detection and variants ------------------------------------------------------------------
@pytest.mark.parametrize("source,fmt", [(VLLM, "vllm-bench"), (GENAI, "genai-perf"), (AIPERF, "aiperf"), (GUIDELLM, "guidellm")])
def test_format_is_detected_from_content_not_name(tmp_path, source, fmt):
    p = tmp_path / "results.txt"
    p.write_bytes(source.read_bytes())
    assert read_serving_file(p).format == fmt


def test_vllm_append_result_rows_and_open_loop(tmp_path):
    first, second = _load(VLLM), _load(VLLM)
    second.update(request_rate=4.0, max_concurrency=64, mean_ttft_ms=60.0, backend="openai-chat")
    p = _write(tmp_path, json.dumps(first) + "\n" + json.dumps(second) + "\n")
    f = read_serving_file(p)
    assert [x.where for x in f.points] == [f"{p}:row 1", f"{p}:row 2"]
    b = f.points[1]
    # a finite request rate is an open loop; max_concurrency is then only a cap
    assert (b.request_rate, b.concurrency, b.ttft_ms, b.engine) == (4.0, None, 60.0, None)


def test_vllm_burst_without_concurrency_and_engine_names(tmp_path):
    d = _load(VLLM)
    d.update(max_concurrency=None, backend="tensorrt-llm")
    d.pop("output_throughput")
    (p,) = read_serving_file(_write(tmp_path, d)).points
    assert (p.concurrency, p.request_rate, p.engine, p.output_tokens_per_s) == (None, None, "trtllm", None)


def test_genai_perf_old_flat_config_triton_and_units(tmp_path):
    d = _load(GENAI)
    d["input_config"] = {"model": ["llama-3.1-8b-trt"], "backend": "tensorrtllm", "service_kind": "triton",
                         "concurrency": None, "request_rate": 12.5, "endpoint_type": "kserve"}
    d["time_to_first_token"] = {"unit": "ns", "avg": 38_700_000}
    (p,) = read_serving_file(_write(tmp_path, d)).points
    assert (p.concurrency, p.request_rate, p.model, p.engine) == (None, 12.5, "llama-3.1-8b-trt", "trtllm")
    assert p.ttft_ms == pytest.approx(38.7)
    d["input_config"] = {"model": ["m"], "concurrency": None, "request_rate": None}  # genai-perf's default: 1
    assert read_serving_file(_write(tmp_path, d)).points[0].concurrency == 1.0


def test_aiperf_request_rate_and_records_layout(tmp_path):
    d = _load(AIPERF)
    d["input_config"]["loadgen"] = {"request_rate": 10.0, "concurrency": 64, "request_rate_mode": "poisson"}
    (p,) = read_serving_file(_write(tmp_path, d)).points
    assert (p.concurrency, p.request_rate) == (None, 10.0)
    early = {"records": {k: v for k, v in d.items() if isinstance(v, dict) and "unit" in v},
             "input_config": {"endpoint": {"model_names": ["x"]}, "loadgen": {}}}
    f = read_serving_file(_write(tmp_path, early))
    assert f.format == "aiperf" and f.points[0].tpot_ms == 10.84 and f.points[0].concurrency == 1.0


def test_guidellm_v03_layout(tmp_path):
    d = _load(GUIDELLM)
    for b in d["benchmarks"]:
        cfg = b.pop("config")
        b["args"] = {"strategy": cfg["strategy"], "strategy_index": 0}
        b["worker"] = {"type_": "generative_requests_worker", "backend_model": "llama-3.1-8b"}
        b["request_totals"] = b["metrics"].pop("request_totals")
    d["benchmarks"][0]["args"]["strategy"] = {"type_": "synchronous"}
    d["benchmarks"][1]["args"]["strategy"] = {"type_": "throughput", "max_concurrency": None}
    d["benchmarks"][3]["args"]["strategy"] = {"type_": "poisson", "rate": 2.5}
    f = read_serving_file(_write(tmp_path, d))
    assert [(p.concurrency, p.request_rate) for p in f.points] == [(1.0, None), (None, None), (32.0, None), (None, 2.5)]
    assert {p.model for p in f.points} == {"llama-3.1-8b"}


# --- errors ----------------------------------------------------------------------------------
def _error(path: Path) -> str:
    with pytest.raises(InputError) as e:
        read_serving_file(path)
    msg = str(e.value)
    assert msg.startswith(str(path)), msg
    assert "\n" not in msg and "Traceback" not in msg
    return msg


def _edited(source: Path, edit) -> dict:
    d = copy.deepcopy(_load(source))
    edit(d)
    return d


def _parent(d, path: str):
    """(container, last key) of a dotted path; numeric parts index lists."""
    keys = [int(k) if k.isdigit() else k for k in path.split(".")]
    for k in keys[:-1]:
        d = d[k]
    return d, keys[-1]


def _set(path: str, value):
    def edit(d):
        cur, key = _parent(d, path)
        cur[key] = value

    return edit


def _drop(path: str):
    def edit(d):
        cur, key = _parent(d, path)
        del cur[key]

    return edit


@pytest.mark.parametrize(
    "source,edit,expected",
    [
        (VLLM, _drop("mean_tpot_ms"), ": mean_tpot_ms: missing"),
        (VLLM, _set("mean_ttft_ms", float("nan")), ": mean_ttft_ms: nan is not a finite number"),
        (VLLM, _set("mean_ttft_ms", "45.2"), ": mean_ttft_ms: '45.2' is not a number"),
        (VLLM, _set("mean_ttft_ms", True), ": mean_ttft_ms: True is not a number"),
        (VLLM, _set("mean_tpot_ms", -1.0), ": mean_tpot_ms: -1.0 must not be negative"),
        (VLLM, _set("mean_tpot_ms", 0), ": mean_tpot_ms: 0 must be positive"),
        (VLLM, _set("completed", 0), ": completed: 0 requests completed"),
        (VLLM, _set("request_rate", "fast"), ": request_rate: 'fast' is not a number"),
        (VLLM, _set("max_concurrency", [16]), ": max_concurrency: [16] is not a number"),
        (VLLM, _set("output_throughput", float("inf")), ": output_throughput: inf is not a finite number"),
        (GENAI, _drop("inter_token_latency"), ": inter_token_latency: missing"),
        (GENAI, _set("inter_token_latency", 7.9), ": inter_token_latency: expected a metric block"),
        (GENAI, _set("time_to_first_token.unit", "minutes"), ": time_to_first_token.unit: 'minutes'; expected ms"),
        (GENAI, _set("input_sequence_length.avg", None), ": input_sequence_length.avg: None is not a number"),
        (GENAI, _set("request_count.avg", 0), ": request_count.avg: 0 requests completed"),
        (GENAI, _set("input_config.perf_analyzer.stimulus", "concurrency"), ": input_config.perf_analyzer.stimulus: expected an object"),
        (AIPERF, _drop("output_sequence_length"), ": output_sequence_length: missing"),
        (AIPERF, _set("input_config.loadgen.concurrency", "32"), ": input_config.loadgen.concurrency: '32' is not a number"),
        (AIPERF, _set("input_config.endpoint.model_names", ["bad\ud800name"]), "input_config.endpoint.model_names[0]: not valid Unicode"),
        (GUIDELLM, _drop("benchmarks.2.metrics.inter_token_latency_ms"), ": benchmarks[2].metrics.inter_token_latency_ms.successful.mean: missing"),
        (GUIDELLM, _set("benchmarks.1.metrics.request_totals.successful", 0), ": benchmarks[1].metrics.request_totals.successful: 0 successful"),
        (GUIDELLM, _set("benchmarks.3.config.strategy.rate", -6), ": benchmarks[3].config.strategy.rate: -6 must not be negative"),
        (GUIDELLM, _drop("benchmarks.0.config"), ": benchmarks[0].args.strategy: missing"),
        (GUIDELLM, _set("benchmarks.0.config.strategy", {"streams": 4}), ": benchmarks[0].config.strategy.type_: missing"),
        (GUIDELLM, _set("benchmarks.2", [1, 2]), ": benchmarks[2]: expected an object"),
        (GUIDELLM, _set("benchmarks.0.metrics.time_to_first_token_ms.successful.mean", 1e999), "mean: inf is not a finite number"),
        (GUIDELLM, _set("benchmarks", []), ": no benchmark results in the guidellm file"),
    ],
)
def test_bad_values_name_file_and_field(tmp_path, source, edit, expected):
    p = _write(tmp_path, _edited(source, edit))
    msg = _error(p)
    assert expected in msg, msg


@pytest.mark.parametrize(
    "body,expected",
    [
        (VLLM.read_text()[:200], ": invalid JSON"),  # truncated
        ("", ": empty file"),
        ("[" * 10_000 + "]" * 10_000, ": invalid JSON (nested too deeply)"),
        ('{"a": ' * 10_000 + "1" + "}" * 10_000, ": invalid JSON (nested too deeply)"),
        ("[1, 2, 3]", ": unknown benchmark format: the JSON is an array"),
        ('{"results": {"ttft": 1}}', ": unknown benchmark format (top-level keys 'results')"),
        ('{"completed": 3, "total_input_tokens": 1}\n[1]', ": several JSON documents"),
        ('{"mean_ttft_ms": 1, "completed": ' + "9" * 5000 + "}", ": invalid JSON"),
        ('{"mean_ttft_ms": 1, "completed": ' + "9" * 400 + ".0}", ": completed: inf is not a finite number"),
    ],
)
def test_bad_files_raise_one_line_naming_the_file(tmp_path, body, expected):
    msg = _error(_write(tmp_path, body))
    assert expected in msg, msg


def test_not_utf8_missing_directory_and_too_large(tmp_path):
    p = tmp_path / "latin1.json"
    p.write_bytes(b'{"model_id": "caf\xe9"}')
    assert "not UTF-8 text" in _error(p)
    p = tmp_path / "surrogate.json"
    p.write_bytes(b'{"model_id": "\xed\xa0\x80"}')  # a UTF-8-encoded lone surrogate
    assert "not UTF-8 text" in _error(p)
    assert "file not found" in _error(tmp_path / "nope.json")
    assert "not a regular file" in _error(tmp_path)
    big = tmp_path / "big.json"
    with big.open("wb") as f:  # sparse: the size is checked before anything is read
        f.truncate(MAX_FILE_BYTES + 1)
    assert f"limited to {MAX_FILE_BYTES}" in _error(big)
