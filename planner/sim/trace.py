"""Trace replay: read an Azure-format trace with its timestamps, and map each request to a
request class of the workload.

Class mapping: when the workload's classes were bucketed from a distribution (names
`p<i>o<j>`, `planner/specs/distributions.py`), the same rule is applied to the replayed trace:
equal-probability groups by prompt length, each split by output length, so request r belongs to
the class its bucket made (exactly the class's members when the trace is the workload's own).
Otherwise (an explicit histogram) a request goes to the class nearest in (log prompt, log
output) tokens.
"""

from __future__ import annotations

import csv
import math
import re
from datetime import datetime
from pathlib import Path

import numpy as np

from planner.errors import InputError
from planner.problem import PlanClass
from planner.specs.distributions import MAX_TRACE_BYTES, TRACE_HEADER

TraceRows = list[tuple[float, int, int]]  # (arrival s from the first request, prompt, output tokens)


def read_trace_rows(path: str | Path) -> TraceRows:
    """Rows of an Azure LLM inference trace (`TIMESTAMP,ContextTokens,GeneratedTokens`),
    sorted by arrival, times in seconds from the first request."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: trace file not found")
    size = path.stat().st_size
    if size > MAX_TRACE_BYTES:
        raise InputError(f"{path}: trace is {size} bytes; traces are limited to {MAX_TRACE_BYTES}")
    rows: list[tuple[datetime, int, int]] = []
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None or [h.strip() for h in header] != TRACE_HEADER:
                raise InputError(f"{path}:1:1: expected the header {','.join(TRACE_HEADER)}")
            for line, row in enumerate(reader, start=2):
                if not row:
                    continue
                try:
                    stamp = datetime.fromisoformat(row[0].strip()[:26])
                    p, o = int(row[1]), int(row[2])
                except (ValueError, IndexError):
                    raise InputError(
                        f"{path}:{line}:1: expected TIMESTAMP,ContextTokens,GeneratedTokens, got {','.join(row)[:80]!r}"
                    ) from None
                if p < 1 or o < 1:
                    raise InputError(f"{path}:{line}:1: token counts must be at least 1 (got {p}, {o})")
                rows.append((stamp, p, o))
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    if not rows:
        raise InputError(f"{path}: the trace has no requests")
    rows.sort(key=lambda r: r[0])
    t0 = rows[0][0]
    return [((s - t0).total_seconds(), p, o) for s, p, o in rows]


_BUCKET = re.compile(r"^p(\d+)o(\d+)$")


def classify(classes: list[PlanClass], prompts: np.ndarray, outputs: np.ndarray) -> np.ndarray:
    """Index into `classes` of each request (see the module docstring)."""
    names = [k.name.rsplit("/", 1)[-1] for k in classes]
    cells = [_BUCKET.match(n) for n in names]
    if all(cells):
        ij = [(int(m.group(1)), int(m.group(2))) for m in cells]
        pb, ob = max(i for i, _ in ij), max(j for _, j in ij)
        if len(set(ij)) == len(ij) == pb * ob:
            index = {c: n for n, c in enumerate(ij)}
            out = np.empty(len(prompts), dtype=np.int64)
            by_prompt = np.argsort(prompts, kind="stable")
            for i, group in enumerate(np.array_split(by_prompt, pb)):
                by_output = group[np.argsort(outputs[group], kind="stable")]
                for j, members in enumerate(np.array_split(by_output, ob)):
                    out[members] = index[(i + 1, j + 1)]
            return out
    lp = np.log(np.maximum(prompts, 1.0))[:, None]
    lo = np.log(np.maximum(outputs, 1.0))[:, None]
    cp = np.log([max(k.prompt_tokens, 1.0) for k in classes])[None, :]
    co = np.log([max(k.output_tokens, 1.0) for k in classes])[None, :]
    return np.argmin((lp - cp) ** 2 + (lo - co) ** 2, axis=1)


def rounded(x: float) -> int:
    return max(1, math.floor(x + 0.5))
