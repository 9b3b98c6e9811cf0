"""Reading a user's measurement file, in one of two CSV formats detected from the header.

splitwise  the format of splitwise-sim's `perf_model.csv` (the shipped data set): columns
           model, hardware, tensor_parallel, batch_size, prompt_size, token_size,
           prompt_time, token_time (ms; other columns ignored). `hardware` and `model` are
           splitwise names (a100-80gb, h100-80gb, llama2-70b, bloom-176b) or catalog ids;
           `*-pcap` rows (synthetic, power-capped) are skipped. Each run gives a prefill row and
           a decode row (mean context prompt + output/2); repetitions are pooled by median.

generic    header `gpu,model,tp,phase,batch,prompt_tokens,context_tokens,latency_ms` (any
           order; extra columns ignored). `gpu` and `model` are catalog ids, `phase` is
           prefill or decode.
             prefill row: latency_ms of one prefill pass of `batch` prompts of `prompt_tokens`
                          each (context_tokens may be empty);
             decode row:  latency_ms of one decode step of `batch` sequences whose mean context
                          (prompt + tokens generated so far) is `context_tokens` (prompt_tokens
                          may be empty).
           Rows repeating a configuration are pooled by their median.

Both formats flag configurations whose prefill time falls as the batch doubles
(`measurements.flag_corrupt`). Every error is one line naming `file:line`, the column and what
is expected; unknown GPU and model ids get the catalog's closest match.
"""

from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from planner.catalog import catalog, suggest
from planner.errors import InputError
from planner.files import MAX_CSV_BYTES, csv_error, decode_text, read_input
from planner.perf.measurements import (
    SPLITWISE_DTYPE,
    SPLITWISE_GPU,
    SPLITWISE_MODEL,
    Measurement,
    flag_corrupt,
    from_splitwise_records,
)

SPLITWISE_COLUMNS = (
    "model", "hardware", "tensor_parallel", "batch_size", "prompt_size", "token_size", "prompt_time", "token_time",
)
GENERIC_COLUMNS = ("gpu", "model", "tp", "phase", "batch", "prompt_tokens", "context_tokens", "latency_ms")
MAX_FILE_BYTES = MAX_CSV_BYTES
# the largest value a measurement column may hold (beyond any real run; a larger one is a typo
# or a hostile file, and would overflow the fit): TP, batch, tokens, milliseconds
COLUMN_LIMITS = {
    "tp": 64, "tensor_parallel": 64,
    "batch": 100_000, "batch_size": 100_000,
    "prompt_tokens": 10_000_000, "context_tokens": 10_000_000, "prompt_size": 10_000_000, "token_size": 10_000_000,
    "latency_ms": 3_600_000, "prompt_time": 3_600_000, "token_time": 3_600_000,  # one hour
}
DEFAULT_DTYPE = {"splitwise": SPLITWISE_DTYPE, "generic": "bf16"}


@dataclass(frozen=True)
class MeasurementFile:
    path: str
    format: str  # splitwise | generic
    rows: list[Measurement]

    @property
    def default_dtype(self) -> str:
        """The dtype the measurements ran in, unless told: splitwise fp16, generic bf16."""
        return DEFAULT_DTYPE[self.format]


def read_measurements(path: str | Path) -> MeasurementFile:
    """Read and check a measurement CSV; the format is detected from its header."""
    src = str(path)
    text = decode_text(read_input(path, "measurement", MAX_FILE_BYTES), src, "utf-8-sig")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        return _read(src, reader)
    except csv.Error as e:
        raise csv_error(src, reader.line_num + 1, e) from None


def _read(src: str, reader) -> MeasurementFile:
    header = [h.strip() for h in next(reader, [])]
    if not any(header):
        raise InputError(f"{src}:1: empty file; expected a header ({','.join(GENERIC_COLUMNS)})")
    fmt, missing = _detect(header)
    if missing:
        raise InputError(
            f"{src}:1: missing column(s) {', '.join(missing)} for the {fmt} format "
            f"(generic header: {','.join(GENERIC_COLUMNS)})"
        )
    parse = _splitwise if fmt == "splitwise" else _generic
    rows = parse(src, header, reader)
    if not rows:
        raise InputError(f"{src}: no measurement rows after the header")
    return MeasurementFile(src, fmt, rows)


def _detect(header: list[str]) -> tuple[str, list[str]]:
    """(format, its missing columns): the format sharing more columns with the header."""
    have = set(header)
    sw = [c for c in SPLITWISE_COLUMNS if c not in have]
    gen = [c for c in GENERIC_COLUMNS if c not in have]
    if len(SPLITWISE_COLUMNS) - len(sw) > len(GENERIC_COLUMNS) - len(gen):
        return "splitwise", sw
    return "generic", gen


class _Row:
    """One CSV record with its line number; typed accessors raise InputError naming both."""

    def __init__(self, src: str, line: int, header: list[str], values: list[str]):
        if len(values) < len(header):
            raise InputError(f"{src}:{line}: {len(values)} fields, the header has {len(header)}")
        self.src, self.line = src, line
        self.values = {h: v.strip() for h, v in zip(header, values)}

    def err(self, column: str, what: str) -> InputError:
        return InputError(f"{self.src}:{self.line}: {column}: {what}")

    def text(self, column: str) -> str:
        v = self.values[column]
        if not v:
            raise self.err(column, "empty; expected a value")
        return v

    def number(self, column: str, positive: bool = True, optional: bool = False) -> float | None:
        raw = self.values[column]
        if not raw:
            if optional:
                return None
            raise self.err(column, "empty; expected a number")
        try:
            v = float(raw)
        except ValueError:
            raise self.err(column, f"'{raw}' is not a number") from None
        if not math.isfinite(v):
            raise self.err(column, f"'{raw}' is not a finite number")
        if positive and v <= 0:
            raise self.err(column, f"{raw} must be positive")
        if column in COLUMN_LIMITS and v > COLUMN_LIMITS[column]:
            raise self.err(column, f"{raw} is over {COLUMN_LIMITS[column]:,} (the most this column may hold)")
        return v

    def integer(self, column: str, optional: bool = False) -> int | None:
        v = self.number(column, optional=optional)
        if v is None:
            return None
        if v != int(v):
            raise self.err(column, f"'{self.values[column]}' is not a whole number")
        return int(v)

    def catalog_id(self, column: str, kind: str, aliases: dict[str, str]) -> str:
        raw = self.text(column)
        known = catalog().gpus if kind == "GPU" else catalog().models
        if raw in aliases:
            return aliases[raw]
        if raw in known:
            return raw
        hint = suggest(raw, list(known) + list(aliases))
        raise self.err(column, f"unknown {kind} '{raw}'{hint} (see `planner catalog {kind.lower()}s`)")


def _splitwise(src: str, header: list[str], reader) -> list[Measurement]:
    records = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        r = _Row(src, reader.line_num, header, values)
        if r.text("hardware").endswith("-pcap"):
            continue  # synthetic power-capped rows, not measurements
        key = (
            r.catalog_id("model", "model", SPLITWISE_MODEL),
            r.catalog_id("hardware", "GPU", SPLITWISE_GPU),
            r.integer("tensor_parallel"),
            r.integer("batch_size"),
            r.integer("prompt_size"),
            r.integer("token_size"),
        )
        records.append((key, r.number("prompt_time"), r.number("token_time")))
    return from_splitwise_records(records)


def _generic(src: str, header: list[str], reader) -> list[Measurement]:
    groups: dict[tuple, list[float]] = defaultdict(list)
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        r = _Row(src, reader.line_num, header, values)
        gpu = r.catalog_id("gpu", "GPU", {})
        model = r.catalog_id("model", "model", {})
        tp, batch = r.integer("tp"), r.integer("batch")
        phase = r.text("phase").lower()
        if phase not in ("prefill", "decode"):
            raise r.err("phase", f"'{r.values['phase']}'; expected prefill or decode")
        if phase == "prefill":
            prompt = r.integer("prompt_tokens")
            context = float(prompt)
        else:
            context = r.number("context_tokens")
            prompt = r.integer("prompt_tokens", optional=True) or 0
        latency = r.number("latency_ms")
        window = catalog().models[model].max_context_tokens
        if max(prompt, context) > window:
            raise r.err(
                "prompt_tokens" if prompt >= context else "context_tokens",
                f"{max(prompt, context):g} tokens exceed {model}'s context window of {window}",
            )
        groups[(gpu, model, tp, phase, batch, prompt, context)].append(latency)
    rows = [
        Measurement(gpu, model, tp, phase, b, s, c, statistics.median(v), len(v))
        for (gpu, model, tp, phase, b, s, c), v in sorted(groups.items())
    ]
    return flag_corrupt(rows)
