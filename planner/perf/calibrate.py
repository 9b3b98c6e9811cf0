"""Calibration: fit the efficiency parameters of one GPU type to a user's measurements.

Method. The rows (`planner.perf.measurement_files`) of one GPU, optionally one model, are
predicted by the performance model (`Deployment.prefill_ms`, `Deployment.decode_step_ms`,
weights, KV cache and math in `dtype`, or the GPU's substitute math dtype) and the seven
`Efficiency` parameters are fitted by `planner.perf.fit.fit_parameters` (Levenberg-Marquardt
on log(predicted / measured), starting from the catalog's values). Parameters the data cannot
determine keep their previous value and are reported as held:

  * a parameter no row is sensitive to (decode parameters without decode rows, all-reduce
    parameters with TP1 rows only);
  * with rows at a single TP degree t, the all-reduce parameters and the per-layer decode
    overhead: at fixed t the all-reduce time grows with the tokens like the GEMM time (∝ 1/mfu),
    its latency 2L·log2(t)·α is a per-layer constant like the overheads, and a decode step's
    weight streaming W/(t·B·mbu) is a per-step constant like L·o_decode, so only sums are
    measured. Fitting them anyway extrapolates badly: on the TP2 splitwise rows alone the
    A100's all-reduce bandwidth drops to 23 GB/s and its TP8 prefill errors reach 100%; its
    decode overhead drops to zero against a lower MBU and its TP8 decode errors grow from 5% to 25%.

Every free parameter stays within `PARAMETER_BOUNDS` during the fit (`fit_parameters(...,
bounds=...)`): rows that no value in range explains (TP>1 rows faster than any all-reduce
bandwidth allows) leave a parameter at a bound, which the result names (`at_bound`, and a
note) instead of the fit running away.

The result holds every row with its measured and predicted latency and its relative error,
the median and worst |error| per phase, before (catalog values) and after the fit.

Profiles. `write_profile` stores the fitted parameters with their provenance (file, its
SHA-256, GPU, model, dtype, rows used, errors; no date, so the same input writes the same
bytes) as YAML; the format and its reader live with the catalog (`planner.catalog.profiles`),
which a fleet's `efficiency_profile:` reads.
"""

from __future__ import annotations

import hashlib
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from planner.catalog import catalog
from planner.catalog.profiles import PARAMETER_BOUNDS, PROFILE_KIND, Profile, load_profile, read_profile  # noqa: F401 (re-exported)
from planner.errors import InputError
from planner.files import write_atomic
from planner.perf.capacity import compute_dtype
from planner.perf.efficiency import Efficiency
from planner.perf.fit import fit_parameters
from planner.perf.measurement_files import read_measurements
from planner.perf.measurements import Measurement
from planner.perf.model import Deployment
from planner.specs.yamlio import read_yaml

PHASES = ("prefill", "decode")
# sensitivity |d log(prediction) / d log(parameter)| below which no row constrains a parameter
_INSENSITIVE = 1e-4


@dataclass(frozen=True)
class PhaseError:
    phase: str
    rows: int
    median_abs_error: float
    worst_abs_error: float


def phase_errors(rows: Sequence[tuple[Measurement, float]]) -> dict[str, PhaseError]:
    """Median and worst |predicted / measured - 1| per phase, over rows not excluded."""
    out = {}
    for phase in PHASES:
        errs = [abs(p / m.latency_ms - 1) for m, p in rows if m.phase == phase and not m.excluded]
        if errs:
            out[phase] = PhaseError(phase, len(errs), statistics.median(errs), max(errs))
    return out


@dataclass(frozen=True)
class CalibrationResult:
    gpu: str
    model: str | None  # None: every model of this GPU in the file
    dtype: str
    efficiency: Efficiency  # fitted
    previous: Efficiency  # the catalog's values for this GPU type
    rows: list[tuple[Measurement, float]]  # every row of this GPU (and model), fitted prediction ms
    previous_rows: list[tuple[Measurement, float]]  # the same rows predicted with `previous`
    held: tuple[str, ...] = ()  # parameters kept at their start value
    at_bound: tuple[str, ...] = ()  # fitted parameters that ended at an edge of their range
    notes: tuple[str, ...] = ()
    source_file: str = ""
    source_sha256: str = ""
    source_format: str = ""

    @property
    def rows_used(self) -> int:
        return sum(not m.excluded for m, _ in self.rows)

    @property
    def rows_excluded(self) -> int:
        return sum(bool(m.excluded) for m, _ in self.rows)

    def errors(self) -> dict[str, PhaseError]:
        return phase_errors(self.rows)

    def previous_errors(self) -> dict[str, PhaseError]:
        return phase_errors(self.previous_rows)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form: parameters, errors and the per-row table."""
        return {
            "gpu": self.gpu,
            "model": self.model,
            "dtype": self.dtype,
            "source": {
                "file": self.source_file,
                "sha256": self.source_sha256,
                "format": self.source_format,
                "rows_used": self.rows_used,
                "rows_excluded": self.rows_excluded,
            },
            "parameters": {
                n: {"fitted": v, "previous": p, "held": n in self.held, "at_bound": n in self.at_bound}
                for n, v, p in zip(Efficiency.names(), self.efficiency.as_vector(), self.previous.as_vector())
            },
            "previous_source": self.previous.source,
            "error": {k: _error_dict(e) for k, e in self.errors().items()},
            "previous_error": {k: _error_dict(e) for k, e in self.previous_errors().items()},
            "notes": list(self.notes),
            "rows": [
                {
                    "configuration": m.key,
                    "phase": m.phase,
                    "measured_ms": m.latency_ms,
                    "predicted_ms": p,
                    "error": p / m.latency_ms - 1,
                    "previous_ms": prev,
                    "excluded": m.excluded,
                }
                for (m, p), (_, prev) in zip(self.rows, self.previous_rows)
            ],
        }


def _error_dict(e: PhaseError) -> dict[str, Any]:
    return {"rows": e.rows, "median_abs": e.median_abs_error, "worst_abs": e.worst_abs_error}


def calibrate(
    rows: Sequence[Measurement],
    gpu_id: str,
    model_id: str | None = None,
    dtype: str = "fp16",
    start: Efficiency | None = None,
    fixed: Sequence[str] = (),
    source_file: str = "",
) -> CalibrationResult:
    """Fit `gpu_id`'s efficiency parameters to its rows (only `model_id`'s, if given).

    `start` (default: the catalog's values) is where the fit begins and what held parameters
    keep; `fixed` names parameters to hold besides those the data cannot determine."""
    cat = catalog()
    gpu = cat.gpu(gpu_id, "gpu")
    if model_id is not None:
        cat.model(model_id, "model")
    where = f"{source_file}: " if source_file else ""
    mine = [m for m in rows if m.gpu == gpu.id and (model_id is None or m.model == model_id)]
    if not mine:
        have = sorted({f"{m.gpu}/{m.model}" for m in rows})
        want = gpu.id + (f" and model {model_id}" if model_id else "")
        raise InputError(f"{where}no rows for GPU {want}; the file has {', '.join(have) or 'no rows'}")
    if dtype not in ("fp16", "bf16", "fp8"):
        raise InputError(f"dtype: '{dtype}'; expected fp16, bf16 or fp8")
    cdt, why = compute_dtype(gpu, dtype, dtype)
    if cdt is None:
        raise InputError(f"dtype: {why}")
    models = {m.model: cat.model(m.model) for m in mine}
    unknown = sorted(set(fixed) - set(Efficiency.names()))
    if unknown:
        raise InputError(f"fixed: unknown parameter(s) {', '.join(unknown)}; known: {', '.join(Efficiency.names())}")

    def predict_row(m: Measurement, eff: Efficiency) -> float:
        d = Deployment(gpu, models[m.model], m.tp, dtype, dtype, cdt, eff)
        if m.phase == "prefill":
            # float(): a weight-bound MoE row's time is a numpy scalar (Model.weight_bytes_read)
            return float(d.prefill_ms(m.prompt_tokens, m.batch))
        return float(d.decode_step_ms(m.batch, m.context_tokens))

    start = start or gpu.efficiency
    used = [m for m in mine if not m.excluded]
    held, notes = _held_parameters(used, predict_row, start, fixed)
    free = len(Efficiency.names()) - len(held)
    if len(used) < free:
        raise InputError(
            f"{where}{len(used)} usable rows for {gpu.id}{' / ' + model_id if model_id else ''} cannot fit "
            f"{free} parameters; measure more configurations (batch sizes, prompt lengths, contexts)"
        )
    scope = f"{gpu.id}" + (f", {model_id}" if model_id else "")
    source = f"calibrated on {len(used)} measured rows of {Path(source_file).name or 'measurements'} ({scope}, {dtype})"
    fit = fit_parameters(mine, predict_row, start, source, fixed=held, projected=True, bounds=PARAMETER_BOUNDS)
    at_bound = []
    for n, v in zip(Efficiency.names(), fit.efficiency.as_vector()):
        if n in held or n not in PARAMETER_BOUNDS:
            continue
        low, high = PARAMETER_BOUNDS[n]
        if n in fit.at_bound or v <= max(low * 1.001, 1e-3) or v >= high * 0.999:
            at_bound.append(n)
            why = ": no value in range explains the rows (check them)" if n in fit.at_bound else ""
            notes.append(f"{n} ended at {v:.4g}, at the edge of its range [{low:g}, {high:g}]{why}")
    previous = gpu.efficiency
    return CalibrationResult(
        gpu=gpu.id,
        model=model_id,
        dtype=dtype,
        efficiency=fit.efficiency,
        previous=previous,
        rows=fit.rows,
        previous_rows=[(m, predict_row(m, previous)) for m in mine],
        held=tuple(held),
        at_bound=tuple(at_bound),
        notes=tuple(notes),
        source_file=source_file,
    )


def _held_parameters(used, predict_row, start: Efficiency, fixed: Sequence[str]) -> tuple[list[str], list[str]]:
    """Parameters to hold at `start`, and a note for each the data cannot determine."""
    names = Efficiency.names()
    held = [n for n in names if n in fixed]
    notes = [f"{n} held at {getattr(start, n):.4g} (asked)" for n in held]
    base = [math.log(predict_row(m, start)) for m in used]
    for i, n in enumerate(names):
        if n in held:
            continue
        v = start.as_vector()
        v[i] *= math.exp(-1e-3)  # downwards: a parameter at its cap (mbu 0.9) still moves
        probe = Efficiency.from_vector(v)
        worst = max((abs(math.log(predict_row(m, probe)) - b) / 1e-3 for m, b in zip(used, base)), default=0.0)
        if worst < _INSENSITIVE:
            held.append(n)
            notes.append(f"{n} held at {getattr(start, n):.4g}: no row depends on it")
    tps = sorted({m.tp for m in used})
    if len(tps) == 1:
        one = ("allreduce_gb_s", "allreduce_latency_us", "decode_overhead_us_per_layer") if tps[0] > 1 else (
            "decode_overhead_us_per_layer",
        )
        for n in one:
            if n not in held:
                held.append(n)
                notes.append(f"{n} held at {getattr(start, n):.4g}: one TP degree cannot determine it")
        notes.append(
            f"the rows span one TP degree ({tps[0]}), where time spent per GPU share (GEMMs, weight "
            "streaming) cannot be told from time per layer (all-reduce, overheads): predictions at "
            "other TP degrees rest on the held values; measure a second TP degree to fit them"
        )
    return [n for n in names if n in held], notes


def calibrate_file(
    csv_path: str | Path,
    gpu: str,
    model: str | None = None,
    out: str | Path | None = None,
    dtype: str | None = None,
) -> CalibrationResult:
    """Read a measurement file, fit `gpu`'s parameters (`model`'s rows only, if given), and
    write the profile to `out` when given. `dtype` defaults to the format's (splitwise fp16,
    generic bf16)."""
    mf = read_measurements(csv_path)
    digest = hashlib.sha256(Path(csv_path).read_bytes()).hexdigest()
    res = calibrate(mf.rows, gpu, model, dtype or mf.default_dtype, source_file=str(csv_path))
    res = replace(res, source_sha256=digest, source_format=mf.format)
    if out is not None:
        write_profile(res, out)
    return res


def _plain(value: Any) -> Any:
    """`value` with every number a plain Python int or float (numpy scalars, e.g. the prefill time
    of a weight-bound MoE row, have no YAML representation), recursively through dicts, lists
    and tuples."""
    if isinstance(value, dict):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    return value


def profile_dict(result: CalibrationResult) -> dict[str, Any]:
    def rounded(eff: Efficiency) -> dict[str, float]:
        return {n: float(f"{v:.6g}") for n, v in zip(eff.names(), eff.as_vector())}

    return _plain({
        "profile": PROFILE_KIND,
        "gpu": result.gpu,
        "model": result.model,
        "dtype": result.dtype,
        "source": {
            "file": result.source_file,
            "sha256": result.source_sha256,
            "format": result.source_format,
            "rows_used": result.rows_used,
            "rows_excluded": result.rows_excluded,
        },
        "held": list(result.held),
        "error": {
            k: {"rows": e.rows, "median_abs": round(e.median_abs_error, 4), "worst_abs": round(e.worst_abs_error, 4)}
            for k, e in result.errors().items()
        },
        "efficiency": rounded(result.efficiency),
        "previous": rounded(result.previous) | {"source": result.previous.source},
    })


def write_profile(result: CalibrationResult, path: str | Path) -> None:
    """Write the profile YAML atomically (a temporary file in the same folder, then os.replace)."""
    path = Path(path)
    text = (
        "# Efficiency profile for planner's performance model (planner/perf/efficiency.py),\n"
        "# fitted by planner.perf.calibrate on the measurements named under `source`.\n"
        + yaml.safe_dump(profile_dict(result), sort_keys=False, default_flow_style=False, width=100)
    )
    write_atomic(path, text)


