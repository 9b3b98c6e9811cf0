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

import math
import re

import numpy as np

from planner.problem import PlanClass
from planner.specs.distributions import TraceRows, read_trace_rows

__all__ = ["TraceRows", "classify", "read_trace_rows", "rounded"]

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
