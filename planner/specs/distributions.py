"""Request classes from a distribution: a trace file or a log-normal, bucketed into a few classes.

Bucketing rule (both sources): requests are split into `prompt_buckets` groups of equal
probability by prompt length, and each of those into `output_buckets` groups of equal
probability by output length. A class's prompt and output tokens are the exact means of its
members (so the mix's mean prompt and output tokens equal the source's), its share the
members' share. An explicit histogram is the workload's `classes:` list itself.

Trace files use the Azure LLM inference trace format: a header line
`TIMESTAMP,ContextTokens,GeneratedTokens`, then one request a row; the arrival rate is the
number of requests over the span of the timestamps.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from statistics import NormalDist

import numpy as np

from planner.errors import InputError
from planner.files import csv_error
from planner.specs.workload import RequestClass

MAX_TRACE_BYTES = 8 * 1024 * 1024  # about 250,000 requests (the shipped traces: 0.3 and 0.7 MB)
MAX_TRACE_TOKENS = 10_000_000  # prompt or output tokens of one request (a workload class's limit)
TRACE_HEADER = ["TIMESTAMP", "ContextTokens", "GeneratedTokens"]


@dataclass(frozen=True)
class Trace:
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    duration_s: float

    @property
    def rate_per_s(self) -> float:
        return len(self.prompt_tokens) / self.duration_s if self.duration_s > 0 else 0.0


TraceRows = list[tuple[float, int, int]]  # (arrival s from the first request, prompt, output tokens)


def read_trace_rows(path: str | Path) -> TraceRows:
    """Rows of an Azure LLM inference trace, sorted by arrival, times in seconds from the first
    request; errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: trace file not found")
    try:
        size = path.stat().st_size
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
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
                if p > MAX_TRACE_TOKENS or o > MAX_TRACE_TOKENS:
                    raise InputError(f"{path}:{line}:1: token counts must be at most {MAX_TRACE_TOKENS:,} (got {p}, {o})")
                rows.append((stamp, p, o))
    except UnicodeDecodeError as e:
        raise InputError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except csv.Error as e:
        raise csv_error(str(path), reader.line_num + 1, e) from None
    except OSError as e:
        raise InputError(f"{path}: cannot read: {e.strerror}") from None
    if not rows:
        raise InputError(f"{path}: the trace has no requests")
    rows.sort(key=lambda r: r[0])
    t0 = rows[0][0]
    return [((s - t0).total_seconds(), p, o) for s, p, o in rows]


def read_trace(path: Path) -> Trace:
    rows = read_trace_rows(path)
    prompts = np.array([p for _, p, _ in rows], dtype=float)
    outputs = np.array([o for _, _, o in rows], dtype=float)
    return Trace(prompts, outputs, rows[-1][0])


def _equal_groups(order: np.ndarray, n: int) -> list[np.ndarray]:
    return [g for g in np.array_split(order, n) if len(g)]


def classes_from_samples(prompts: np.ndarray, outputs: np.ndarray, prompt_buckets: int, output_buckets: int) -> list[RequestClass]:
    """The bucketing rule over samples (a trace): exact member means, count shares."""
    total = len(prompts)
    out = []
    by_prompt = np.argsort(prompts, kind="stable")
    for i, group in enumerate(_equal_groups(by_prompt, prompt_buckets)):
        by_output = group[np.argsort(outputs[group], kind="stable")]
        for j, members in enumerate(_equal_groups(by_output, output_buckets)):
            out.append(
                RequestClass(
                    name=f"p{i + 1}o{j + 1}",
                    prompt_tokens=float(prompts[members].mean()),
                    output_tokens=float(outputs[members].mean()),
                    share=len(members) / total,
                )
            )
    return _normalised(out)


def lognormal_bucket_means(mean: float, sigma: float, buckets: int) -> list[float]:
    """Conditional means of a log-normal (given its mean and the sigma of its log) over
    `buckets` intervals of equal probability: E[X | q_i < X < q_i+1], in closed form."""
    mu = math.log(mean) - sigma * sigma / 2
    std = NormalDist()
    out = []
    for i in range(buckets):
        lo, hi = i / buckets, (i + 1) / buckets
        # E[X; a < X < b] = exp(mu + s²/2) (Φ(zb - s) - Φ(za - s)), z the standard-normal quantiles
        za = std.inv_cdf(lo) if lo > 0 else -math.inf
        zb = std.inv_cdf(hi) if hi < 1 else math.inf
        cdf = lambda z: std.cdf(z) if math.isfinite(z) else (0.0 if z < 0 else 1.0)  # noqa: E731
        mass = cdf(zb - sigma) - cdf(za - sigma)
        out.append(math.exp(mu + sigma * sigma / 2) * mass / (hi - lo))
    return out


def classes_from_lognormal(
    prompt_mean: float, prompt_sigma: float, output_mean: float, output_sigma: float, prompt_buckets: int, output_buckets: int
) -> list[RequestClass]:
    """Independent log-normal prompt and output lengths, bucketed by the same rule."""
    prompts = lognormal_bucket_means(prompt_mean, prompt_sigma, prompt_buckets)
    outputs = lognormal_bucket_means(output_mean, output_sigma, output_buckets)
    share = 1.0 / (prompt_buckets * output_buckets)
    out = [
        RequestClass(name=f"p{i + 1}o{j + 1}", prompt_tokens=max(1.0, p), output_tokens=max(1.0, o), share=share)
        for i, p in enumerate(prompts)
        for j, o in enumerate(outputs)
    ]
    return _normalised(out)


def _normalised(classes: list[RequestClass]) -> list[RequestClass]:
    """Shares summing to 1 to the last bit (float sums of 1/n drift)."""
    total = sum(c.share for c in classes)
    return [c.model_copy(update={"share": c.share / total}) for c in classes]
