"""Readers for the result files of serving benchmarks: one `ServingPoint` per measured run.

`read_serving_file(path)` detects the format from the content (not the file name) and returns
the file's SHA-256 and its points: mean prompt and output lengths, the load (client
concurrency for a closed loop, or the request rate for an open loop), mean TTFT, mean TPOT and
the tool's output throughput, plus the model and engine names where the file says them. No
format records the GPU or the TP degree, so `gpu` and `tp` stay None here.

TPOT. Every reader returns the same quantity: the time per output token after the first,
(end of the request - first token) / (output tokens - 1), averaged over requests. vLLM calls
it TPOT (mean_tpot_ms), genai-perf and aiperf call it inter-token latency (inter_token_latency),
guidellm calls it inter_token_latency_ms (its time_per_output_token_ms is another quantity,
see below). vLLM's and genai-perf's means are per-request; guidellm weights each request by
its output tokens - 1, which differs little when output lengths are similar.

vllm-bench  `vllm bench serve --save-result` (and the older benchmarks/benchmark_serving.py):
            one JSON object, or several separated by newlines with `--append-result`
            (points "file:row N"). Source: vllm-project/vllm vllm/benchmarks/serve.py
            (`calculate_metrics`, `benchmark`, `main`), commit 009e6d4a1cd6 (2026).
              completed            successful requests (0: error)
              total_input_tokens   prompt tokens of the successful requests; / completed
              total_output_tokens  output tokens of the successful requests; / completed
              mean_ttft_ms         mean time to first token, ms
              mean_tpot_ms         mean over requests of (latency - ttft) / (output - 1), ms
              output_throughput    total_output_tokens / duration, tok/s (optional)
              request_rate         req/s, or "inf": a finite rate is an open loop
              max_concurrency      client semaphore, or null; with request_rate "inf" it is
                                   the closed-loop concurrency (both absent: one burst of all
                                   prompts, neither is set)
              model_id, backend    model; backend is the client's endpoint type: vllm,
                                   sglang, tgi, lmdeploy, tensorrt-llm (-> trtllm), ... name
                                   an engine, openai* name an API (engine None)

genai-perf  `genai-perf profile` -> profile_export_genai_perf.json: metric blocks
            {"unit": ..., "avg": ...} at the top level and the run's configuration under
            input_config. Source: triton-inference-server/perf_analyzer
            genai-perf/genai_perf/export_data/json_exporter.py, metrics/llm_metrics.py,
            metrics/statistics.py, profile_data_parser/llm_profile_data_parser.py (0.0.16dev,
            commit 263c5f6e, Dec 2025; the flat input_config of <= 0.0.11 is read as well).
              time_to_first_token.avg      ms (the unit field is checked; ns, us, s converted)
              inter_token_latency.avg      (latency - ttft) / (output - 1) per request, ms
              input_sequence_length.avg    tokens
              output_sequence_length.avg   tokens
              output_token_throughput.avg  tokens/sec (optional)
              request_count.avg            requests (optional; 0: error)
              input_config.perf_analyzer.stimulus {"concurrency": n} or {"request_rate": r}
                (<= 0.0.11: input_config.concurrency / request_rate); neither: genai-perf's
                default, concurrency 1
              input_config.model_names[0] (<= 0.0.11: model[0]); engine from
                endpoint.backend (tensorrtllm -> trtllm, vllm) only when service_kind is
                triton (with the openai service kind the backend field is unused)

aiperf      `aiperf profile` -> profile_export_aiperf.json, shaped after genai-perf's file
            (the same metric names, units and ITL formula; metrics also accepted under an
            early "records" key). Source: ai-dynamo/aiperf aiperf/exporters/json_exporter.py,
            aiperf/common/models/export_models.py, aiperf/metrics/types/
            inter_token_latency_metric.py, aiperf/common/config/{user,loadgen,endpoint}_config.py
            (0.1.1, commit db4f6397, Oct 2025); docs.nvidia.com/aiperf reference/json-export-schema.
              the metric blocks as for genai-perf
              input_config.loadgen.request_rate (open loop; it wins over concurrency, as in
                aiperf) or input_config.loadgen.concurrency; neither: aiperf's default,
                concurrency 1; no loadgen section: unknown (both None)
              input_config.endpoint.model_names[0]; no engine (aiperf talks to an API)

guidellm    `guidellm benchmark|run --output-path/--output kind=json` -> benchmarks.json:
            several benchmarks (points "file:benchmarks[i]"). Source: vllm-project/guidellm
            src/guidellm/benchmark/schemas/{benchmark,metrics,report}.py,
            src/guidellm/schemas/{request_stats,statistics}.py, scheduler/strategies.py
            (main after v0.7.3, commit ee7a7745); v0.3.0 benchmark/benchmark.py for the older
            layout (benchmark "args" instead of "config", request_totals beside metrics).
              metrics.request_totals.successful       (v0.3: request_totals.successful; 0: error)
              metrics.prompt_token_count.successful.mean   tokens
              metrics.output_token_count.successful.mean   tokens
              metrics.time_to_first_token_ms.successful.mean
              metrics.inter_token_latency_ms.successful.mean  (last - first token) /
                (output - 1), weighted by output - 1. Not time_per_output_token_ms: that one
                divides by all output tokens and, since v0.4, includes the TTFT
                ((last token - start) / output), so it is not the TPOT the others report
              metrics.output_tokens_per_second.successful.mean  tok/s (optional)
              config.strategy (v0.3: args.strategy): type_ concurrent -> streams,
                synchronous -> 1, throughput -> max_concurrency if set, constant/poisson ->
                request rate `rate`; others (trace replay): unknown
              config.backend.model (v0.3: worker.backend_model); engine vllm only for the
                in-process vllm_python backend

Every problem a user can cause raises `InputError` with one line naming the file and the field
(or the benchmark index): an unknown format, a missing key, a value that is not a finite
non-negative number (or not positive where zero is meaningless), no completed requests, a
file over 64 MiB, text that is not UTF-8 or not JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from planner.errors import InputError

MAX_FILE_BYTES = 8 * 1024 * 1024  # bytes of one benchmark result file (a vllm bench serve result is a few KB, with per-request details a few MB)
FORMATS = ("vllm-bench", "genai-perf", "aiperf", "guidellm")
# the largest value a benchmark point may carry (beyond any real run; a larger one would
# overflow the fit and write Infinity into the profile)
POINT_LIMITS = {
    "prompt_tokens": 10_000_000, "output_tokens": 10_000_000,  # mean tokens per request
    "concurrency": 100_000, "request_rate": 1e6,  # clients in flight, req/s
    "ttft_ms": 3_600_000, "tpot_ms": 3_600_000,  # one hour
    "output_tokens_per_s": 1e9,
}

# vllm bench serve --backend values that name a serving engine (the others, openai*, name an API)
_VLLM_BACKEND_ENGINES = {
    "vllm": "vllm",
    "sglang": "sglang",
    "tensorrt-llm": "trtllm",
    "lmdeploy": "lmdeploy",
    "tgi": "tgi",
    "deepspeed-mii": "deepspeed-mii",
    "scalellm": "scalellm",
    "llama.cpp": "llama.cpp",
}
# genai-perf endpoint.backend with the triton service kind
_GENAI_PERF_BACKEND_ENGINES = {"tensorrtllm": "trtllm", "vllm": "vllm"}
# a time metric's unit -> factor to milliseconds
_TIME_UNITS = {"ms": 1.0, "ns": 1e-6, "us": 1e-3, "µs": 1e-3, "s": 1e3, "sec": 1e3}


@dataclass(frozen=True)
class ServingPoint:
    where: str  # "file" or "file:row N"/"file:benchmarks[2]" for error messages and tables
    prompt_tokens: float  # mean input tokens per request
    output_tokens: float  # mean output tokens per request
    concurrency: float | None  # client concurrency (closed loop: requests in flight); None if the run was rate-driven
    request_rate: float | None  # req/s if the run was open-loop (Poisson/constant rate), else None
    ttft_ms: float  # mean time to first token
    tpot_ms: float  # mean time per output token (excluding the first), as the tool defines it
    output_tokens_per_s: float | None  # the tool's reported output throughput (whole run), if present
    model: str | None = None  # model name the file reports, if any (HF id as written)
    engine: str | None = None  # backend/engine the file reports, if any (vllm, sglang, trtllm, ...)
    gpu: str | None = None  # only if the file says (most do not)
    tp: int | None = None  # only if the file says


@dataclass(frozen=True)
class ServingFile:
    path: str
    format: str  # "vllm-bench", "genai-perf", "aiperf", "guidellm"
    sha256: str
    points: tuple[ServingPoint, ...]


def read_serving_file(path: str | Path) -> ServingFile:
    """Read a benchmark tool's result file; the format is detected from its content."""
    src = str(path)
    p = Path(path)
    if not p.exists():
        raise InputError(f"{src}: file not found")
    if not p.is_file():
        raise InputError(f"{src}: not a regular file")
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(f"{src}: file is {size} bytes; benchmark result files are limited to {MAX_FILE_BYTES}")
    try:
        data = p.read_bytes()
    except OSError as e:
        raise InputError(f"{src}: cannot read the file ({e.strerror or e})") from None
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise InputError(f"{src}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    docs = _parse_json(src, text)
    fmt = _detect(src, docs)
    reader = {"vllm-bench": _vllm, "genai-perf": _genai_perf, "aiperf": _aiperf, "guidellm": _guidellm}[fmt]
    points = reader(src, docs)
    for pt in points:
        for name, top in POINT_LIMITS.items():
            v = getattr(pt, name)
            if v is not None and not v <= top:
                raise InputError(f"{pt.where}: {name} {v:g} is over {top:,g} (the most a benchmark result may report)")
    if not points:
        raise InputError(f"{src}: no benchmark results in the {fmt} file")
    return ServingFile(src, fmt, digest, tuple(points))


# --- JSON ------------------------------------------------------------------------------------
def _parse_json(src: str, text: str) -> list[Any]:
    """The JSON documents of the file: one, or several separated by whitespace (vLLM's
    --append-result writes one object per line)."""
    if not text.strip():
        raise InputError(f"{src}: empty file; expected a benchmark result (JSON)")
    decoder = json.JSONDecoder()
    docs: list[Any] = []
    i, n = 0, len(text)
    try:
        while True:
            while i < n and text[i] in " \t\r\n":
                i += 1
            if i >= n:
                break
            doc, i = decoder.raw_decode(text, i)
            docs.append(doc)
    except json.JSONDecodeError as e:
        raise InputError(f"{src}:{e.lineno}:{e.colno}: invalid JSON ({e.msg})") from None
    except RecursionError:
        raise InputError(f"{src}: invalid JSON (nested too deeply)") from None
    except ValueError as e:  # e.g. an integer literal longer than Python converts
        raise InputError(f"{src}: invalid JSON ({_short(str(e))})") from None
    return docs


def _detect(src: str, docs: list[Any]) -> str:
    """The format of the parsed documents, or an InputError saying what was found."""
    first = docs[0]
    if not isinstance(first, dict):
        raise InputError(
            f"{src}: unknown benchmark format: the JSON is {_kind(first)}, expected an object "
            f"(one of {', '.join(FORMATS)})"
        )
    if len(docs) > 1:
        if all(isinstance(d, dict) and _is_vllm(d) for d in docs):
            return "vllm-bench"
        raise InputError(f"{src}: several JSON documents in one file; only vllm bench serve --append-result writes that")
    if isinstance(first.get("benchmarks"), list):
        return "guidellm"
    if _is_vllm(first):
        return "vllm-bench"
    metrics = first.get("records") if isinstance(first.get("records"), dict) else first
    if isinstance(metrics.get("time_to_first_token"), dict) or isinstance(metrics.get("inter_token_latency"), dict):
        return "aiperf" if _is_aiperf(first) else "genai-perf"
    keys = ", ".join(repr(k) for k in list(first)[:6]) or "none"
    raise InputError(
        f"{src}: unknown benchmark format (top-level keys {_short(keys)}); expected the JSON result of "
        "vllm bench serve --save-result, genai-perf (profile_export_genai_perf.json), aiperf "
        "(profile_export_aiperf.json) or guidellm (benchmarks.json)"
    )


def _is_vllm(d: dict) -> bool:
    return "mean_ttft_ms" in d or ("completed" in d and "total_input_tokens" in d)


def _is_aiperf(d: dict) -> bool:
    if any(k in d for k in ("aiperf_version", "schema_version", "records", "was_cancelled", "error_summary")):
        return True
    cfg = d.get("input_config")
    if isinstance(cfg, dict):
        if "loadgen" in cfg:
            return True
        cli = cfg.get("cli_command")
        if isinstance(cli, str) and cli.startswith("aiperf"):
            return True
    return False


# --- typed access ----------------------------------------------------------------------------
_MISSING = object()


class _Doc:
    """A JSON object and where it is, with typed getters whose errors name file and field."""

    def __init__(self, src: str, data: dict, prefix: str = ""):
        self.src, self.data, self.prefix = src, data, prefix

    def err(self, field: str, what: str) -> InputError:
        return InputError(f"{self.src}: {self.prefix}{field}: {what}")

    def get(self, field: str, default: Any = None) -> Any:
        """The value at a dotted path, or `default` where any part is missing."""
        cur: Any = self.data
        for part in field.split("."):
            if not isinstance(cur, dict) or part not in cur:
                return default
            cur = cur[part]
        return cur

    def has(self, field: str) -> bool:
        return self.get(field, _MISSING) is not _MISSING

    def number(self, field: str, positive: bool = True, optional: bool = False) -> float | None:
        v = self.get(field, _MISSING)
        if v is _MISSING or (optional and v is None):
            if optional:
                return None
            raise self.err(field, "missing")
        return _check_number(v, positive, lambda what: self.err(field, what))

    def text(self, field: str, value: Any = _MISSING) -> str | None:
        """An optional string (model or backend name) at `field` (or `value`, reported as
        `field`); other types count as absent."""
        v = self.get(field) if value is _MISSING else value
        if not isinstance(v, str) or not v.strip():
            return None
        try:
            v.encode("utf-8")
        except UnicodeEncodeError:
            raise self.err(field, "not valid Unicode text (a lone surrogate)") from None
        return v.strip()



def _check_number(v: Any, positive: bool, err) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise err(f"{_short(repr(v))} is not a number")
    try:
        f = float(v)
    except OverflowError:
        raise err("number too large") from None
    if not math.isfinite(f):
        raise err(f"{v!r} is not a finite number")
    if f < 0:
        raise err(f"{v!r} must not be negative")
    if positive and f == 0:
        raise err(f"{v!r} must be positive")
    return f


def _short(s: str, n: int = 60) -> str:
    return s if len(s) <= n else s[: n - 3] + "..."


def _kind(v: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}.get(type(v), "a number")


def _first_name(doc: _Doc, field: str) -> str | None:
    """The first of a list of names (genai-perf's and aiperf's model_names), or a lone name."""
    v = doc.get(field)
    if isinstance(v, list):
        return doc.text(f"{field}[0]", v[0]) if v else None
    return doc.text(field)


# --- vllm bench serve ------------------------------------------------------------------------
def _vllm(src: str, docs: list[Any]) -> list[ServingPoint]:
    points = []
    for i, d in enumerate(docs):
        where = src if len(docs) == 1 else f"{src}:row {i + 1}"
        doc = _Doc(src, d, "" if len(docs) == 1 else f"row {i + 1}: ")
        completed = doc.number("completed", positive=False)
        if completed == 0:
            raise doc.err("completed", "0 requests completed; no latency was measured")
        rate_raw = doc.get("request_rate")
        if rate_raw is None or (isinstance(rate_raw, str) and rate_raw.strip().lower() in ("inf", "infinity")):
            rate = None  # vLLM writes "inf": every request at once, limited by max_concurrency
        else:
            rate = doc.number("request_rate")
        max_conc = doc.number("max_concurrency", optional=True)
        concurrency = None if rate is not None else max_conc
        backend = doc.text("backend")
        engine = _VLLM_BACKEND_ENGINES.get(backend.lower()) if backend else None
        points.append(
            ServingPoint(
                where=where,
                prompt_tokens=_positive(doc, "total_input_tokens", doc.number("total_input_tokens") / completed),
                output_tokens=_positive(doc, "total_output_tokens", doc.number("total_output_tokens") / completed),
                concurrency=concurrency,
                request_rate=rate,
                ttft_ms=doc.number("mean_ttft_ms"),
                tpot_ms=doc.number("mean_tpot_ms"),
                output_tokens_per_s=doc.number("output_throughput", positive=False, optional=True),
                model=doc.text("model_id"),
                engine=engine,
            )
        )
    return points


def _positive(doc: _Doc, field: str, v: float) -> float:
    if not math.isfinite(v) or v <= 0:
        raise doc.err(field, f"mean {v:g} per request must be positive")
    return v


# --- genai-perf and aiperf -------------------------------------------------------------------
def _metric(doc: _Doc, base: str, name: str, time: bool = False, optional: bool = False) -> float | None:
    """`name`.avg of a genai-perf/aiperf metric block, in ms when `time`."""
    field = f"{base}{name}"
    block = doc.get(field, _MISSING)
    if block is _MISSING or (optional and block is None):
        if optional:
            return None
        raise doc.err(field, "missing")
    if not isinstance(block, dict):
        raise doc.err(field, f"expected a metric block {{\"unit\": ..., \"avg\": ...}}, got {_kind(block)}")
    avg = doc.number(f"{field}.avg", positive=name != "output_token_throughput" and name != "request_count")
    if time:
        unit = block.get("unit", "ms")
        if not isinstance(unit, str) or unit.strip().lower() not in _TIME_UNITS:
            raise doc.err(f"{field}.unit", f"{_short(repr(unit))}; expected ms (or ns, us, s)")
        avg *= _TIME_UNITS[unit.strip().lower()]
    return avg


def _metric_point(src: str, d: dict, fmt: str) -> tuple[_Doc, str, dict[str, Any]]:
    doc = _Doc(src, d)
    base = "records." if fmt == "aiperf" and isinstance(d.get("records"), dict) else ""
    count = _metric(doc, base, "request_count", optional=True)
    if count == 0:
        raise doc.err(f"{base}request_count.avg", "0 requests completed; no latency was measured")
    values = {
        "prompt_tokens": _metric(doc, base, "input_sequence_length"),
        "output_tokens": _metric(doc, base, "output_sequence_length"),
        "ttft_ms": _metric(doc, base, "time_to_first_token", time=True),
        "tpot_ms": _metric(doc, base, "inter_token_latency", time=True),
        "output_tokens_per_s": _metric(doc, base, "output_token_throughput", optional=True),
    }
    return doc, base, values


def _genai_perf(src: str, docs: list[Any]) -> list[ServingPoint]:
    doc, _, values = _metric_point(src, docs[0], "genai-perf")
    cfg = "input_config."
    if doc.has(cfg + "perf_analyzer"):  # 0.0.12+: config sections
        stimulus = doc.get(cfg + "perf_analyzer.stimulus")
        conc_field, rate_field = cfg + "perf_analyzer.stimulus.concurrency", cfg + "perf_analyzer.stimulus.request_rate"
        if stimulus is not None and not isinstance(stimulus, dict):
            raise doc.err(cfg + "perf_analyzer.stimulus", f"expected an object, got {_kind(stimulus)}")
        model = _first_name(doc, cfg + "model_names")
        service, backend = doc.text(cfg + "endpoint.service_kind"), doc.text(cfg + "endpoint.backend")
    else:  # <= 0.0.11: the command-line arguments
        conc_field, rate_field = cfg + "concurrency", cfg + "request_rate"
        model = _first_name(doc, cfg + "model")
        service, backend = doc.text(cfg + "service_kind"), doc.text(cfg + "backend")
    rate = doc.number(rate_field, optional=True)
    concurrency = None if rate is not None else doc.number(conc_field, optional=True)
    if rate is None and concurrency is None and doc.has("input_config"):
        concurrency = 1.0  # genai-perf's default when neither is given
    engine = None
    if service and service.lower() == "triton" and backend:
        engine = _GENAI_PERF_BACKEND_ENGINES.get(backend.lower(), backend.lower())
    return [ServingPoint(src, concurrency=concurrency, request_rate=rate, model=model, engine=engine, **values)]


def _aiperf(src: str, docs: list[Any]) -> list[ServingPoint]:
    doc, _, values = _metric_point(src, docs[0], "aiperf")
    loadgen = "input_config.loadgen"
    rate = doc.number(f"{loadgen}.request_rate", optional=True)
    concurrency = None if rate is not None else doc.number(f"{loadgen}.concurrency", optional=True)
    if rate is None and concurrency is None and isinstance(doc.get(loadgen), dict):
        concurrency = 1.0  # aiperf's default (UserConfig.validate_timing_mode)
    model = _first_name(doc, "input_config.endpoint.model_names")
    return [ServingPoint(src, concurrency=concurrency, request_rate=rate, model=model, **values)]


# --- guidellm --------------------------------------------------------------------------------
def _guidellm(src: str, docs: list[Any]) -> list[ServingPoint]:
    report = docs[0]
    benchmarks = report["benchmarks"]
    points = []
    for i, b in enumerate(benchmarks):
        label = f"benchmarks[{i}]"
        if not isinstance(b, dict):
            raise InputError(f"{src}: {label}: expected an object, got {_kind(b)}")
        doc = _Doc(src, b, f"{label}.")
        if not isinstance(b.get("metrics"), dict):
            raise doc.err("metrics", "missing" if "metrics" not in b else f"expected an object, got {_kind(b['metrics'])}")
        # v0.4+ keep the request counts in metrics, v0.3 beside them
        totals = "request_totals.successful" if "request_totals" in b else "metrics.request_totals.successful"
        completed = doc.number(totals, positive=False)
        if completed == 0:
            raise doc.err(totals, "0 successful requests; no latency was measured")

        def mean(name: str, positive: bool = True, optional: bool = False) -> float | None:
            return doc.number(f"metrics.{name}.successful.mean", positive=positive, optional=optional)

        cfg = "config" if isinstance(b.get("config"), dict) else "args"  # v0.4+ | v0.3
        concurrency, rate = _guidellm_load(doc, f"{cfg}.strategy")
        model = doc.text(f"{cfg}.backend.model") or doc.text("worker.backend_model")
        if model == "None":  # v0.3 writes the string "None" for an unknown model
            model = None
        kind = doc.text(f"{cfg}.backend.kind") or doc.text(f"{cfg}.backend.type_")
        points.append(
            ServingPoint(
                where=f"{src}:{label}",
                prompt_tokens=mean("prompt_token_count"),
                output_tokens=mean("output_token_count"),
                concurrency=concurrency,
                request_rate=rate,
                ttft_ms=mean("time_to_first_token_ms"),
                tpot_ms=mean("inter_token_latency_ms"),
                output_tokens_per_s=mean("output_tokens_per_second", positive=False, optional=True),
                model=model,
                engine="vllm" if kind == "vllm_python" else None,
            )
        )
    return points


def _guidellm_load(doc: _Doc, field: str) -> tuple[float | None, float | None]:
    """(concurrency, request rate) of a guidellm scheduling strategy."""
    strategy = doc.get(field, _MISSING)
    if strategy is _MISSING:
        raise doc.err(field, "missing (the scheduling strategy says the load)")
    if not isinstance(strategy, dict):
        raise doc.err(field, f"expected an object, got {_kind(strategy)}")
    kind = strategy.get("type_")
    if kind == "synchronous":
        return 1.0, None
    if kind == "concurrent":
        return doc.number(f"{field}.streams"), None
    if kind == "throughput":
        return doc.number(f"{field}.max_concurrency", optional=True), None
    if kind in ("constant", "poisson"):
        return None, doc.number(f"{field}.rate")
    if isinstance(kind, str):
        return None, None  # e.g. trace replay: the load is the trace's
    raise doc.err(f"{field}.type_", "missing" if kind is None else f"{_short(repr(kind))} is not a strategy name")
