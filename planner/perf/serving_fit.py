"""Engine profiles from measured serving points: read, fit, cross-validate.

The rows (`planner/perf/data/aiconfigurator/serving_points.csv`, Apache-2.0, NVIDIA) are
closed-loop benchmark runs of current engines; `mapping.yaml` beside them says which the planner
can express and how their columns map onto the catalog. Each (engine, GPU family) with rows gets
its efficiency parameters by least squares on log(predicted / measured) of mean TTFT and mean
TPOT of every row, predicted by the closed-loop model (`planner.perf.serving.closed_loop`).

    python -m planner.perf.serving_fit            the accuracy table (fit and held-out)
    python -m planner.perf.serving_fit --write    refit and rewrite the engines' `fitted:` blocks

Held-out accuracy is k-fold cross-validation over configurations: the rows of one (model, TP,
dtype, prompt and output length) sweep are held out together, the profile is refitted on the
other folds and predicts them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from planner.catalog import Catalog, catalog
from planner.errors import InputError
from planner.perf.capacity import compute_dtype
from planner.perf.efficiency import Efficiency
from planner.perf.model import Deployment
from planner.perf.serving import closed_loop

ENGINES = ("vllm", "sglang", "trtllm")
FIT_PARAMETERS = (
    "mfu",
    "mbu",
    "allreduce_gb_s",
    "allreduce_latency_us",
    "prefill_overhead_us_per_layer",
    "decode_overhead_us_per_layer",
    "decode_us_per_seq_layer",
    "ttft_queue_factor",
    "ttft_burst_share",
    "ttft_fixed_ms",
    "moe_mfu_factor",
)
# bounds of the fitted parameters: shares of a peak at most 0.95 of it (HBM copy kernels reach
# about 90% of the datasheet bandwidth; dense GEMMs 70-80% of peak), the rest positive and finite
BOUNDS = {
    "mfu": (0.05, 0.95),
    "mbu": (0.2, 0.95),
    "allreduce_gb_s": (1.0, 2000.0),
    "allreduce_latency_us": (0.0, 200.0),
    "prefill_overhead_us_per_layer": (0.0, 2000.0),
    "decode_overhead_us_per_layer": (0.0, 500.0),
    "decode_us_per_seq_layer": (0.0, 20.0),
    "ttft_queue_factor": (0.05, 20.0),
    "ttft_burst_share": (0.0, 1.0),
    "ttft_fixed_ms": (0.0, 500.0),
    "moe_mfu_factor": (0.05, 1.0),
}
FOLDS = 5
# Loss: soft-L1 on log errors beyond ROBUST_SCALE (a sweep's odd row, such as a TTFT at
# concurrency 8 twice that at 32, does not pull the profile), TTFT weighted TTFT_WEIGHT against
# TPOT: the closed loop's queueing is the least certain part of the model, and TPOT sets the
# decode capacities the plans rest on.
ROBUST_SCALE = 0.25
TTFT_WEIGHT = 0.75


@dataclass(frozen=True)
class ServingRow:
    id: str
    engine: str
    version: str
    gpu: str
    model: str
    weight_dtype: str
    kv_dtype: str
    tp: int
    prompt_tokens: float
    output_tokens: float
    concurrency: float
    ttft_ms: float
    tpot_ms: float
    date: str

    @property
    def config(self) -> tuple:
        """The sweep a row belongs to: rows differing only in concurrency."""
        return (self.engine, self.gpu, self.model, self.weight_dtype, self.tp, self.prompt_tokens, self.output_tokens)

    @property
    def output_tokens_per_s_per_gpu(self) -> float:
        return tokens_per_s_per_gpu(self.concurrency, self.ttft_ms, self.tpot_ms, self.output_tokens, self.tp)


def tokens_per_s_per_gpu(concurrency, ttft_ms, tpot_ms, output_tokens, gpus):
    """The closed loop's output tokens/s per GPU: C / (TTFT + O·TPOT) · O / GPUs."""
    return concurrency / ((ttft_ms + output_tokens * tpot_ms) / 1e3) * output_tokens / gpus


def data_dir() -> Path:
    return Path(str(resources.files("planner.perf") / "data" / "aiconfigurator"))


def load_points(path: Path | None = None, cat: Catalog | None = None) -> tuple[list[ServingRow], dict[str, int]]:
    """The rows the planner can express, and the count of the others by reason."""
    cat = cat or catalog()
    path = path or data_dir() / "serving_points.csv"
    mapping = yaml.safe_load((data_dir() / "mapping.yaml").read_text(encoding="utf-8"))
    rows, skipped = [], {}

    def skip(why: str) -> None:
        skipped[why] = skipped.get(why, 0) + 1

    for r in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
        if r["mode"] != "agg":
            skip("disaggregated run")
            continue
        if r["attention_dp_size"] not in ("", "1") or r["moe_ep_size"] not in ("", "1") or r["pp_size"] not in ("", "1"):
            skip("attention DP, expert or pipeline parallelism")
            continue
        quant = r["gemm_quant_mode"] or r["precision"] or ""
        if quant not in mapping["weights"]:
            skip(f"{quant} weights")
            continue
        model = mapping["models"].get(r["model_path"])
        gpu = mapping["systems"].get(r["system"])
        if model is None or gpu is None:
            skip("model or system not in the catalog")
            continue
        tp = int(r["tp_size"])
        if tp & (tp - 1) or tp > cat.gpus[gpu].max_tp:
            skip("TP beyond one node or not a power of two")
            continue
        wdt = mapping["weights"][quant]
        rows.append(
            ServingRow(
                id=r["id"],
                engine=r["backend"],
                version=r["backend_version"],
                gpu=gpu,
                model=model,
                weight_dtype=wdt,
                kv_dtype=mapping["kv_dtype"][r["backend"]][wdt],
                tp=tp,
                prompt_tokens=float(r["isl"]),
                output_tokens=float(r["osl"]),
                concurrency=float(r["concurrency"] or r["batch_size"]),
                ttft_ms=float(r["silicon_ttft_ms"]),
                tpot_ms=float(r["silicon_tpot_ms"]),
                date=r["measured_date"],
            )
        )
    return rows, skipped


def data_sha256() -> str:
    return hashlib.sha256((data_dir() / "serving_points.csv").read_bytes()).hexdigest()


# --- prediction ------------------------------------------------------------------------------
def _groups(rows: Sequence[ServingRow]) -> dict[tuple, list[int]]:
    out: dict[tuple, list[int]] = {}
    for i, r in enumerate(rows):
        out.setdefault((r.gpu, r.model, r.tp, r.weight_dtype, r.kv_dtype), []).append(i)
    return out


def predict(rows: Sequence[ServingRow], eff: Efficiency, engine: str, cat: Catalog | None = None) -> np.ndarray:
    """(n, 2) array of predicted mean TTFT and TPOT (ms) for the rows under `eff`."""
    cat = cat or catalog()
    out = np.empty((len(rows), 2))
    for (gpu_id, model_id, tp, wdt, kvdt), idx in _groups(rows).items():
        gpu = replace(cat.gpu_on(cat.gpus[gpu_id], engine), efficiency=eff)
        cdt, why = compute_dtype(gpu, wdt, kvdt)
        if cdt is None:
            raise InputError(why)
        d = Deployment(gpu, cat.models[model_id], tp, wdt, kvdt, cdt, eff)
        sub = [rows[i] for i in idx]
        p = closed_loop(d, [r.prompt_tokens for r in sub], [r.output_tokens for r in sub], [r.concurrency for r in sub])
        out[idx, 0] = p.ttft_ms
        out[idx, 1] = p.tpot_ms
    return out


def measured(rows: Sequence[ServingRow]) -> np.ndarray:
    return np.array([[r.ttft_ms, r.tpot_ms] for r in rows])


# --- fitting ---------------------------------------------------------------------------------
def _to_theta(v: float, lo: float, hi: float) -> float:
    """Bounded parameters fitted as a logit of their place between the bounds."""
    u = min(max((v - lo) / (hi - lo), 1e-6), 1 - 1e-6)
    return math.log(u / (1 - u))


def _from_theta(t: float, lo: float, hi: float) -> float:
    return lo + (hi - lo) / (1 + math.exp(-max(min(t, 50.0), -50.0)))


def levenberg_marquardt(
    residuals: Callable[[np.ndarray], np.ndarray], theta: np.ndarray, iterations: int = 60
) -> np.ndarray:
    """Minimise |r(θ)|² (numerical Jacobian, adaptive damping); returns θ."""
    lam = 1e-2
    r = residuals(theta)
    cost = float(r @ r)
    for _ in range(iterations):
        jac = np.empty((len(r), len(theta)))
        for i in range(len(theta)):
            step = np.zeros_like(theta)
            step[i] = 1e-4
            jac[:, i] = (residuals(theta + step) - r) / 1e-4
        jtj, grad = jac.T @ jac, jac.T @ r
        improved = False
        for _ in range(12):
            delta = np.linalg.solve(jtj + lam * np.diag(np.diag(jtj) + 1e-9), -grad)
            cand = theta + delta
            rc = residuals(cand)
            cc = float(rc @ rc)
            if cc < cost:
                improved = cost - cc > 1e-10 * cost
                theta, r, cost = cand, rc, cc
                lam = max(lam / 3, 1e-9)
                break
            lam *= 4
        if not improved:
            break
    return theta


def fit(
    rows: Sequence[ServingRow],
    start: Efficiency,
    engine: str,
    source: str,
    cat: Catalog | None = None,
    only: Sequence[str] | None = None,
) -> Efficiency:
    """Fit the parameters the rows are sensitive to (MoE grouped-GEMM efficiency only with MoE
    rows; all-reduce parameters only with TP > 1 rows), or only those named in `only`."""
    cat = cat or catalog()
    free = [n for n in (only or FIT_PARAMETERS) if _identifiable(n, rows, cat)]
    if not free:
        return replace(start, source=source)
    lo = np.array([BOUNDS[n][0] for n in free])
    hi = np.array([BOUNDS[n][1] for n in free])
    meas = np.log(measured(rows))

    def eff_of(theta: np.ndarray) -> Efficiency:
        vals = {n: _from_theta(t, a, b) for n, t, a, b in zip(free, theta, lo, hi)}
        return replace(start, **vals, source=source)

    weight = np.array([TTFT_WEIGHT, 1.0])

    def residuals(theta: np.ndarray) -> np.ndarray:
        pred = predict(rows, eff_of(theta), engine, cat)
        r = (np.log(np.maximum(pred, 1e-6)) - meas) * weight
        return _soft_l1(r.ravel(), ROBUST_SCALE)

    theta0 = np.array([_to_theta(getattr(start, n), a, b) for n, a, b in zip(free, lo, hi)])
    return eff_of(levenberg_marquardt(residuals, theta0))


def _soft_l1(r: np.ndarray, scale: float) -> np.ndarray:
    """Residuals whose squares sum to the soft-L1 loss 2δ²(√(1 + (r/δ)²) - 1)."""
    return np.sign(r) * scale * np.sqrt(2 * (np.sqrt(1 + (r / scale) ** 2) - 1))


def _identifiable(name: str, rows: Sequence[ServingRow], cat: Catalog) -> bool:
    if name == "moe_mfu_factor":
        return any(cat.models[r.model].moe is not None for r in rows)
    if name.startswith("allreduce"):
        return any(r.tp > 1 for r in rows)
    return True


# --- accuracy --------------------------------------------------------------------------------
METRICS = ("ttft", "tpot", "tokens_per_s")


def errors(rows: Sequence[ServingRow], pred: np.ndarray) -> dict[str, np.ndarray]:
    """|relative error| per row of TTFT, TPOT and output tokens/s per GPU."""
    meas = measured(rows)
    o = np.array([r.output_tokens for r in rows])
    c = np.array([r.concurrency for r in rows])
    t = np.array([r.tp for r in rows])
    tput_m = tokens_per_s_per_gpu(c, meas[:, 0], meas[:, 1], o, t)
    tput_p = tokens_per_s_per_gpu(c, pred[:, 0], pred[:, 1], o, t)
    return {
        "ttft": np.abs(pred[:, 0] / meas[:, 0] - 1),
        "tpot": np.abs(pred[:, 1] / meas[:, 1] - 1),
        "tokens_per_s": np.abs(tput_p / tput_m - 1),
    }


def summary(errs: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    return {
        k: {"rows": int(len(v)), "median_abs": float(np.median(v)), "p90_abs": float(np.percentile(v, 90))}
        for k, v in errs.items()
        if len(v)
    }


def folds(rows: Sequence[ServingRow], k: int = FOLDS) -> list[int]:
    """Fold of each row: whole sweeps together, assigned round-robin in a fixed order."""
    configs = sorted({r.config for r in rows}, key=lambda c: hashlib.sha256(repr(c).encode()).hexdigest())
    fold = {c: i % k for i, c in enumerate(configs)}
    return [fold[r.config] for r in rows]


def family_of(gpu_id: str, cat: Catalog) -> str:
    return cat.gpus[gpu_id].family


@dataclass
class ProfileFit:
    engine: str
    family: str
    rows: list[ServingRow]
    efficiency: Efficiency
    fitted: dict[str, dict[str, float]]  # accuracy on the dense rows fitted
    held_out: dict[str, dict[str, float]]  # k-fold over configurations (dense rows)
    moe: dict[str, dict[str, float]]  # accuracy on the MoE rows (only moe_mfu_factor fitted on them)
    held_out_errors: dict[str, np.ndarray] | None = None

    @property
    def dense_rows(self) -> int:
        return sum(1 for r in self.rows if catalog().models[r.model].moe is None)


def start_values(cat: Catalog) -> Efficiency:
    """Where every fit starts: round values, not another fit's result."""
    base, _ = cat.profile("vllm-2023", "hopper")
    return replace(
        base,
        mfu=0.5,
        mbu=0.8,
        allreduce_gb_s=100.0,
        allreduce_latency_us=10.0,
        prefill_overhead_us_per_layer=30.0,
        decode_overhead_us_per_layer=15.0,
        decode_us_per_seq_layer=0.5,
        ttft_queue_factor=1.0,
        ttft_burst_share=0.1,
        ttft_fixed_ms=20.0,
        moe_mfu_factor=1.0,
    )


def fit_profile(rows: Sequence[ServingRow], engine: str, family: str, cat: Catalog, cv: bool = True) -> ProfileFit:
    """Dense rows fit the profile; MoE rows only check it. The MoE layouts engines run (expert
    parallelism, DP attention) are not expressible yet, and fitted on the few tensor-parallel
    MoE rows (DeepSeek-R1/V3 at TP4/TP8) the grouped-GEMM share `moe_mfu_factor` runs to its
    lower bound (0.05) while their TPOT error stays above 30%: the MoE decode model, not its
    efficiency, is what is missing, so the factor stays 1 until it is built."""
    start = start_values(cat)
    dense = [r for r in rows if cat.models[r.model].moe is None]
    moe = [r for r in rows if cat.models[r.model].moe is not None]
    source = _source(engine, family, rows)
    eff = fit(dense, start, engine, source, cat) if dense else start
    fitted = summary(errors(dense, predict(dense, eff, engine, cat))) if dense else {}
    moe_acc = summary(errors(moe, predict(moe, eff, engine, cat))) if moe else {}
    held, held_errs = {}, None
    if cv and dense:
        held_errs = cross_validate(dense, start, engine, cat)
        held = summary(held_errs)
    return ProfileFit(engine, family, list(rows), eff, fitted, held, moe_acc, held_errs)


def fit_all(rows: Sequence[ServingRow] | None = None, cat: Catalog | None = None, cv: bool = True) -> list[ProfileFit]:
    cat = cat or catalog()
    rows = rows if rows is not None else load_points(cat=cat)[0]
    out = []
    for engine in ENGINES:
        for family in sorted({family_of(r.gpu, cat) for r in rows if r.engine == engine}):
            sub = [r for r in rows if r.engine == engine and family_of(r.gpu, cat) == family]
            dense = [r for r in sub if cat.models[r.model].moe is None]
            if not dense:
                continue  # MoE-only rows: the family borrows (see the engine's data file)
            out.append(fit_profile(sub, engine, family, cat, cv))
    return out


def cross_gpu(engine: str, rows: Sequence[ServingRow] | None = None, cat: Catalog | None = None) -> dict[str, dict[str, float]]:
    """Fit the engine on its H100 (Hopper) dense rows only and predict its B200 (Blackwell)
    dense rows with the Hopper parameters, the all-reduce scaled as a family without rows
    borrows it (NVLink 5 against NVLink 4: the `blackwell` borrow rule of sglang.yaml)."""
    cat = cat or catalog()
    rows = rows if rows is not None else load_points(cat=cat)[0]
    dense = [r for r in rows if r.engine == engine and cat.models[r.model].moe is None]
    train = [r for r in dense if family_of(r.gpu, cat) == "hopper"]
    test = [r for r in dense if family_of(r.gpu, cat) == "blackwell"]
    if not train or not test:
        return {}
    eff = fit(train, start_values(cat), engine, "cross-gpu", cat)
    eff = replace(eff, allreduce_gb_s=eff.allreduce_gb_s * NVLINK5_OVER_NVLINK4)
    return summary(errors(test, predict(test, eff, engine, cat)))


# 8x B200 NCCL all-reduce bus bandwidth about 830 GB/s (NVIDIA/nccl#1807) against 8x H200's
# 475 GB/s (NVIDIA/nccl-tests#272); the same ratio as the borrow rule in engines/sglang.yaml
NVLINK5_OVER_NVLINK4 = 1.75


def cross_validate(rows: Sequence[ServingRow], start: Efficiency, engine: str, cat: Catalog) -> dict[str, np.ndarray]:
    f = folds(rows)
    errs: dict[str, list[float]] = {m: [] for m in METRICS}
    for k in sorted(set(f)):
        train = [r for r, i in zip(rows, f) if i != k]
        test = [r for r, i in zip(rows, f) if i == k]
        if not train or not test:
            continue
        eff = fit(train, start, engine, "cv", cat)
        for m, v in errors(test, predict(test, eff, engine, cat)).items():
            errs[m].extend(v.tolist())
    return {m: np.array(v) for m, v in errs.items()}


def _source(engine: str, family: str, rows: Sequence[ServingRow]) -> str:
    gpus = sorted({r.gpu for r in rows})
    models = sorted({r.model for r in rows})
    versions = sorted({r.version for r in rows if r.version})
    dates = sorted({r.date for r in rows if r.date})
    span = f", measured {dates[0][:7]} to {dates[-1][:7]}" if dates else ""
    return (
        f"fitted on {len(rows)} measured serving points ({engine} {', '.join(versions) or 'version not recorded'}; "
        f"{', '.join(gpus)}; {', '.join(models)}{span}; aiconfigurator-core 0.12.0 silicon data)"
    )


def print_table(fits: Sequence[ProfileFit], out=None) -> None:
    out = out or sys.stdout
    print(f"{'engine':<7} {'family':<30} {'rows':>5}  {'':<9} {'TTFT med/p90':>14} {'TPOT med/p90':>14} {'tok/s med/p90':>14}", file=out)
    for f in fits:
        for label, acc in (("fitted", f.fitted), ("held-out", f.held_out), ("MoE rows", f.moe)):
            if not acc:
                continue
            cells = [f"{acc[m]['median_abs']:>6.1%} /{acc[m]['p90_abs']:>6.1%}" for m in METRICS]
            print(f"{f.engine:<7} {f.family:<30} {len(f.rows):>5}  {label:<9} " + " ".join(f"{c:>14}" for c in cells), file=out)
    for engine in ENGINES:
        held = [f.held_out_errors for f in fits if f.engine == engine and f.held_out_errors is not None]
        if held:
            acc = summary({m: np.concatenate([h[m] for h in held]) for m in METRICS})
            cells = [f"{acc[m]['median_abs']:>6.1%} /{acc[m]['p90_abs']:>6.1%}" for m in METRICS]
            n = acc["tpot"]["rows"]
            print(f"{engine:<7} {'all':<30} {n:>5}  {'held-out':<9} " + " ".join(f"{c:>14}" for c in cells), file=out)
    for f in fits:
        e = f.efficiency
        params = ", ".join(f"{n}={getattr(e, n):.4g}" for n in FIT_PARAMETERS)
        print(f"{f.engine}/{f.family}: {params}", file=out)


def write_profiles(fits: Sequence[ProfileFit]) -> list[Path]:
    """Rewrite the `fitted:` block of each engine's data file (the rest kept as written)."""
    base = Path(str(resources.files("planner.catalog") / "data" / "engines"))
    written = []
    for engine in sorted({f.engine for f in fits}):
        path = base / f"{engine}.yaml"
        text = path.read_text(encoding="utf-8")
        head, _, rest = text.partition("fitted:\n")
        tail = rest[rest.index("\nborrowed:") :]
        lines = ["fitted:"]
        for f in (x for x in fits if x.engine == engine):
            lines.append(f"  {f.family}:")
            for n in FIT_PARAMETERS:
                v = getattr(f.efficiency, n)
                lines.append(f"    {n}: {0 if abs(v) < 1e-6 else float(f'{v:.4g}'):g}")
            lines.append(f"    source: \"{f.efficiency.source}\"")
            lines.append(f"    rows: {len(f.rows)}")
            lines.append(f"    dense_rows: {f.dense_rows}")
            lines.append("    error:")
            for label, acc in (("fitted", f.fitted), ("held_out", f.held_out), ("moe_rows", f.moe)):
                if acc:
                    cells = ", ".join(
                        f"{m}: {{median_abs: {acc[m]['median_abs']:.4f}, p90_abs: {acc[m]['p90_abs']:.4f}}}" for m in METRICS
                    )
                    lines.append(f"      {label}: {{{cells}}}")
        path.write_text(head + "\n".join(lines) + "\n" + tail, encoding="utf-8")
        written.append(path)
    return written


def stored_fits(rows: Sequence[ServingRow], cat: Catalog | None = None) -> list[ProfileFit]:
    """The shipped profiles (no fitting) against the rows of their engine and family."""
    cat = cat or catalog()
    out = []
    for engine in ENGINES:
        for family in sorted({family_of(r.gpu, cat) for r in rows if r.engine == engine}):
            sub = [r for r in rows if r.engine == engine and family_of(r.gpu, cat) == family]
            eff, info = cat.profile(engine, family)
            dense = [r for r in sub if cat.models[r.model].moe is None]
            moe = [r for r in sub if cat.models[r.model].moe is not None]
            fitted = summary(errors(dense, predict(dense, eff, engine, cat))) if dense else {}
            moe_acc = summary(errors(moe, predict(moe, eff, engine, cat))) if moe else {}
            name = f"{family} (borrowed from {info.fitted_family})" if info.borrowed else family
            out.append(ProfileFit(engine, name, sub, eff, fitted, {}, moe_acc))
    return out


def accuracy_report(held_out: bool = True, out=None) -> None:
    """`planner validate`: the shipped profiles on their rows; with `held_out`, refit on folds."""
    out = out or sys.stdout
    rows, skipped = load_points()
    print(f"{len(rows)} expressible rows; left out: " + ", ".join(f"{v} {k}" for k, v in sorted(skipped.items())), file=out)
    print_table(fit_all(rows) if held_out else stored_fits(rows), out)
    if held_out:
        _cross_gpu_lines(rows, out)


def _cross_gpu_lines(rows: Sequence[ServingRow], out) -> None:
    for engine in ENGINES:
        acc = cross_gpu(engine, rows)
        if acc:
            cells = " ".join(f"{acc[m]['median_abs']:>6.1%} /{acc[m]['p90_abs']:>6.1%}" for m in METRICS)
            print(
                f"cross-GPU {engine}: fit on H100 rows only, predict {acc['tpot']['rows']} B200 rows: "
                f"TTFT, TPOT, tok/s med/p90 {cells}",
                file=out,
            )


def main(argv: list[str] | None = None) -> int:
    """`make fit-engines`: refit every profile and rewrite the engines' `fitted:` blocks."""
    argv = sys.argv[1:] if argv is None else argv
    rows, skipped = load_points()
    print(f"{len(rows)} expressible rows; left out: " + ", ".join(f"{v} {k}" for k, v in sorted(skipped.items())))
    fits = fit_all(rows)
    print_table(fits)
    _cross_gpu_lines(rows, sys.stdout)
    if "--write" in argv:
        for p in write_profiles(fits):
            print(f"wrote {p}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


# --- calibration from a user's benchmark files ----------------------------------------------
# With few points a profile cannot determine every parameter: they are freed in this order, one
# per measured point (two residuals each), the rest held at the engine's profile for the GPU.
CALIBRATION_ORDER = (
    "mbu",
    "ttft_fixed_ms",
    "mfu",
    "decode_overhead_us_per_layer",
    "ttft_queue_factor",
    "decode_us_per_seq_layer",
    "ttft_burst_share",
    "allreduce_gb_s",
    "prefill_overhead_us_per_layer",
    "allreduce_latency_us",
)


@dataclass
class ServingCalibration:
    path: str
    format: str
    sha256: str
    gpu: str
    model: str
    engine: str
    tp: int
    weight_dtype: str
    kv_dtype: str
    rows: list[ServingRow]
    skipped: list[str]  # points not used, with why
    previous: Efficiency
    efficiency: Efficiency
    free: list[str]
    before: np.ndarray  # predictions (n, 2) with the engine's profile
    after: np.ndarray

    def errors(self) -> dict[str, dict[str, dict[str, float]]]:
        return {"before": summary(errors(self.rows, self.before)), "after": summary(errors(self.rows, self.after))}

    def profile_dict(self) -> dict[str, Any]:
        from planner.perf.calibrate import PROFILE_KIND

        def rounded(e: Efficiency) -> dict[str, float]:
            return {n: float(f"{getattr(e, n):.6g}") for n in Efficiency.all_names()}

        return {
            "profile": PROFILE_KIND,
            "gpu": self.gpu,
            "model": self.model,
            "dtype": self.weight_dtype,
            "engine": self.engine,
            "source": {"file": Path(self.path).name, "sha256": self.sha256, "format": self.format, "rows_used": len(self.rows)},
            "held": [n for n in CALIBRATION_ORDER if n not in self.free],
            "error": {
                m: {"rows": v["rows"], "median_abs": round(v["median_abs"], 4), "p90_abs": round(v["p90_abs"], 4)}
                for m, v in self.errors()["after"].items()
            },
            "efficiency": rounded(self.efficiency),
            "previous": rounded(self.previous) | {"source": self.previous.source},
        }


def read_user_points(
    path: str | Path, gpu: str, model: str, tp: int, engine: str, weight_dtype: str, kv_dtype: str, cat: Catalog
) -> tuple[str, str, list[ServingRow], list[str]]:
    """(format, sha256, rows, skipped) of a benchmark result file (vllm bench serve, genai-perf,
    AIPerf, GuideLLM) or a CSV in the serving_points.csv columns (rows of `gpu` and `model`)."""
    from planner.perf.serving_files import read_serving_file

    p = Path(path)
    if p.suffix.lower() == ".csv":
        if not p.is_file():
            raise InputError(f"{p}: no such file")
        from planner.files import MAX_CSV_BYTES, csv_error, read_input

        read_input(p, "serving-points CSV", MAX_CSV_BYTES)  # missing, unreadable, over the limit
        try:
            rows, _ = load_points(p, cat)
        except csv.Error as e:
            raise csv_error(str(p), 0, e) from None
        except (KeyError, ValueError, OverflowError) as e:
            raise InputError(f"{p}: not a serving-points CSV (the columns of serving_points.csv): {e}") from None
        mine = [r for r in rows if r.gpu == gpu and r.model == model and r.engine == engine]
        skipped = [f"{len(rows) - len(mine)} rows of other GPUs, models or engines"] if len(rows) > len(mine) else []
        return "serving-points-csv", hashlib.sha256(p.read_bytes()).hexdigest(), mine, skipped
    f = read_serving_file(p)
    rows, skipped = [], []
    for pt in f.points:
        if pt.concurrency is None:
            skipped.append(f"{pt.where}: open-loop run ({pt.request_rate:g} req/s); the fit needs a client concurrency")
            continue
        rows.append(
            ServingRow(
                id=pt.where, engine=engine, version="", gpu=gpu, model=model, weight_dtype=weight_dtype, kv_dtype=kv_dtype,
                tp=tp, prompt_tokens=pt.prompt_tokens, output_tokens=pt.output_tokens, concurrency=pt.concurrency,
                ttft_ms=pt.ttft_ms, tpot_ms=pt.tpot_ms, date="",
            )
        )
    return f.format, f.sha256, rows, skipped


def calibrate_serving(
    path: str | Path,
    gpu: str,
    model: str,
    tp: int = 1,
    engine: str | None = None,
    weight_dtype: str | None = None,
    kv_dtype: str = "bf16",
    out: str | Path | None = None,
) -> ServingCalibration:
    """Fit the closed-loop serving model to a user's benchmark results on one GPU type, starting
    from the engine's profile; write the profile (`efficiency_profile:` in a fleet) to `out`."""
    from planner.files import write_atomic
    from planner.perf.estimate import resolve_deployment

    cat = catalog()
    d = resolve_deployment(gpu, model, tp, weight_dtype, kv_dtype, engine)  # checks every option
    engine_id = d.engine.id
    fmt, sha, rows, skipped = read_user_points(path, d.gpu.id, d.model.id, tp, engine_id, d.weight_dtype, kv_dtype, cat)
    if not rows:
        raise InputError(f"{path}: no closed-loop points to fit" + (f" ({'; '.join(skipped)})" if skipped else ""))
    start = d.eff
    free = [n for n in CALIBRATION_ORDER if _identifiable(n, rows, cat)][: len(rows)]
    eff = fit(rows, start, engine_id, f"calibrated on {len(rows)} points of {Path(path).name}", cat, only=free)
    res = ServingCalibration(
        str(path), fmt, sha, d.gpu.id, d.model.id, engine_id, tp, d.weight_dtype, kv_dtype, rows, skipped, start, eff,
        free, predict(rows, start, engine_id, cat), predict(rows, eff, engine_id, cat),
    )
    if out is not None:
        text = (
            "# Efficiency profile for planner's performance model (planner/perf/efficiency.py), fitted by\n"
            "# planner.perf.serving_fit on the closed-loop benchmark points named under `source`.\n"
            + yaml.safe_dump(res.profile_dict(), sort_keys=False, default_flow_style=False, width=100)
        )
        write_atomic(Path(out), text)
    return res
