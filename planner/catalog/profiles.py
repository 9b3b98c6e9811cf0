"""Efficiency profile files (`planner calibrate --out`): read and check one, as catalog data.

A profile holds a GPU type's efficiency parameters with their provenance; a fleet entry names
one (`efficiency_profile:`) and its parameters replace the engine profile's for that GPU type.
It lives with the catalog so that resolving a fleet (`planner.problem`) reads it without
importing the calibration code above it in the data flow.

    profile: planner-efficiency/1
    gpu: h100-sxm
    model: llama-2-70b            # null: fitted on every model in the file
    dtype: fp16
    engine: vllm                  # serving-level profiles: the engine benchmarked
    source: {file: perf_model.csv, sha256: ..., format: splitwise, rows_used: 50, rows_excluded: 1}
    held: [allreduce_latency_us]  # kept at the previous value (the data does not determine it)
    error: {prefill: {rows: 12, median_abs: 0.05, worst_abs: 0.12}, decode: {...}}
    efficiency: {mfu: 0.61, mbu: 0.83, ...}       # the seven parameters required, the serving
                                                   # model's (ttft_*, moe_mfu_factor) optional
    previous: {mfu: 0.6059, ..., source: "..."}   # informational
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from planner.errors import InputError
from planner.perf.efficiency import Efficiency
from planner.specs.yamlio import read_yaml

PROFILE_KIND = "planner-efficiency/1"
# bounds a profile's parameters must meet (the fleet file's `overrides.efficiency` bounds)
PARAMETER_BOUNDS = {
    "mfu": (0.001, 1.0),
    "mbu": (0.001, 1.0),
    "allreduce_gb_s": (0.01, 1e5),
    "allreduce_latency_us": (0.0, 1e5),
    "prefill_overhead_us_per_layer": (0.0, 1e5),
    "decode_overhead_us_per_layer": (0.0, 1e5),
    "decode_us_per_seq_layer": (0.0, 1e4),
    "ttft_queue_factor": (0.001, 1e3),
    "ttft_burst_share": (0.0, 1.0),
    "ttft_fixed_ms": (0.0, 1e5),
    "moe_mfu_factor": (0.001, 1.0),
}


@dataclass(frozen=True)
class Profile:
    path: str
    gpu: str
    model: str | None
    dtype: str
    efficiency: Efficiency
    data: dict[str, Any]


_PROFILE_KEYS = {"profile", "gpu", "model", "dtype", "engine", "source", "held", "error", "efficiency", "previous"}


def read_profile(path: str | Path) -> Profile:
    """Read and check a profile; errors name `file:line:column` and the field."""
    doc = read_yaml(path)  # safe loading (plain data only), with positions
    d = doc.data

    def fail(field_path: tuple, what: str) -> InputError:
        name = ".".join(str(p) for p in field_path) or "(document)"
        return InputError(f"{doc.where(field_path)}: {name}: {what}")

    if not isinstance(d, dict):
        raise fail((), "expected a mapping (a profile written by `planner calibrate`)")
    for key in d:
        if key not in _PROFILE_KEYS:
            raise fail((key,), f"unknown field; expected one of {', '.join(sorted(_PROFILE_KEYS))}")
    for key in ("profile", "gpu", "efficiency"):
        if key not in d:
            raise fail((), f"missing field '{key}'")
    if d["profile"] != PROFILE_KIND:
        raise fail(("profile",), f"'{d['profile']}'; expected '{PROFILE_KIND}'")
    if not isinstance(d["gpu"], str):
        raise fail(("gpu",), "expected a GPU id")
    _catalog().gpu(d["gpu"], f"{doc.where(('gpu',))}: gpu")
    model = d.get("model")
    if model is not None and not isinstance(model, str):
        raise fail(("model",), "expected a model id or null")
    eff = d["efficiency"]
    if not isinstance(eff, dict):
        raise fail(("efficiency",), f"expected a mapping of {', '.join(Efficiency.names())}")
    for key in eff:
        if key not in PARAMETER_BOUNDS:
            raise fail(("efficiency", key), f"unknown parameter; expected one of {', '.join(Efficiency.all_names())}")
    values, optional = [], {}
    for n in Efficiency.all_names():
        if n not in eff:
            if n in Efficiency.names():
                raise fail(("efficiency",), f"missing parameter '{n}'")
            continue  # a serving-model parameter: kernel-level profiles leave it at its default
        v = eff[n]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise fail(("efficiency", n), f"'{v}' is not a finite number")
        low, high = PARAMETER_BOUNDS[n]
        if not low <= v <= high:
            raise fail(("efficiency", n), f"{v:g} must be between {low:g} and {high:g}")
        if n in Efficiency.names():
            values.append(float(v))
        else:
            optional[n] = float(v)
    src = d.get("source") if isinstance(d.get("source"), dict) else {}
    med = {k: e.get("median_abs") for k, e in (d.get("error") or {}).items() if isinstance(e, dict)}
    errs = ", ".join(f"{k} median {v:.1%}" for k, v in med.items() if isinstance(v, (int, float)))
    what = f"{src.get('rows_used', '?')} rows of {Path(str(src.get('file') or '?')).name}"
    source = f"profile {path}: calibrated on {what} ({d['gpu']}{', ' + model if model else ''}" + (
        f"; {errs})" if errs else ")"
    )
    eff = replace(Efficiency.from_vector(values, source), **optional)
    return Profile(str(path), d["gpu"], model, str(d.get("dtype") or ""), eff, d)


def load_profile(path: str | Path) -> Efficiency:
    """The efficiency parameters of a profile written by `write_profile`."""
    return read_profile(path).efficiency


def _catalog():
    from planner.catalog import catalog

    return catalog()
