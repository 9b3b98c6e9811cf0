"""Fit the default efficiency parameters and check the model against the measured rows.

    python -m planner.perf.validate            per-row table, medians and worst errors
    python -m planner.perf.validate --write    also rewrite the fitted block of engines/vllm-2023.yaml
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from planner.catalog import catalog
from planner.perf.fit import FitResult, fit_efficiency, predict
from planner.perf.measurements import SPLITWISE_DTYPE, Measurement, load_splitwise

# family -> the catalog GPU whose measured rows define it
FITTED_FAMILIES = {"ampere": "a100-80-sxm", "hopper": "h100-sxm"}


@dataclass(frozen=True)
class Accuracy:
    phase: str
    rows: int
    median_abs_error: float
    worst_abs_error: float


ENGINE = "vllm-2023"  # the engine the splitwise rows measured


def _per_family(rows: list[Measurement] | None, run) -> dict[str, FitResult]:
    """`run(gpu, rows of that GPU, catalog)` for each fitted family, the GPU as the 2023 engine
    of the splitwise measurements served it (profile `vllm-2023`)."""
    rows = rows if rows is not None else load_splitwise()
    cat = catalog()
    return {
        family: run(cat.gpu_on(cat.gpu(gpu_id), ENGINE), [m for m in rows if m.gpu == gpu_id], cat)
        for family, gpu_id in FITTED_FAMILIES.items()
    }


def fit_defaults(rows: list[Measurement] | None = None) -> dict[str, FitResult]:
    """Fit each family's efficiency parameters to its GPU's measured rows."""

    def run(gpu, sub, cat):
        used = sum(not m.excluded for m in sub)
        return fit_efficiency(
            sub,
            lambda m: (cat.gpu_on(cat.gpu(m.gpu), ENGINE), cat.model(m.model), SPLITWISE_DTYPE),
            start=gpu.efficiency,
            source=f"fitted on {used} measured splitwise rows ({gpu.id}, vLLM 2023, FP16)",
        )

    return _per_family(rows, run)


def evaluate_defaults(rows: list[Measurement] | None = None) -> dict[str, FitResult]:
    """The shipped efficiency defaults (no fitting) against the measured rows."""

    def run(gpu, sub, cat):
        preds = [(m, predict(m, gpu, cat.model(m.model), gpu.efficiency, SPLITWISE_DTYPE)) for m in sub]
        return FitResult(gpu.efficiency, preds)

    return _per_family(rows, run)


def accuracy(results: dict[str, FitResult]) -> list[Accuracy]:
    out = []
    for phase in ("prefill", "decode"):
        errs = [e for r in results.values() for e in r.errors(phase)]
        out.append(Accuracy(phase, len(errs), statistics.median(errs), max(errs)))
    return out


def efficiency_yaml_path() -> Path:
    return Path(str(resources.files("planner.catalog") / "data" / "engines" / "vllm-2023.yaml"))


def write_fitted(results: dict[str, FitResult], path: Path | None = None) -> None:
    """Replace the `fitted:` block of the vllm-2023 profile, keeping the rest of the file as written."""
    path = path or efficiency_yaml_path()
    text = path.read_text()
    head, _, rest = text.partition("fitted:\n")
    tail = rest[rest.index("\nborrowed:") :]
    lines = ["fitted:"]
    for family, res in results.items():
        lines.append(f"  {family}:")
        for name, value in zip(res.efficiency.names(), res.efficiency.as_vector()):
            lines.append(f"    {name}: {value:.4g}")
        lines.append(f"    source: \"{res.efficiency.source}\"")
        lines.append(f"    rows: {sum(1 for m, _ in res.rows if not m.excluded)}")
    path.write_text(head + "\n".join(lines) + "\n" + tail)


def print_table(results: dict[str, FitResult], out=None) -> None:
    out = out or sys.stdout  # looked up at call time: the CLI runner swaps it
    print(f"{'configuration':<52} {'measured_ms':>11} {'model_ms':>9} {'error':>7}", file=out)
    for res in results.values():
        for m, pred in res.rows:
            err = pred / m.latency_ms - 1
            note = f"  EXCLUDED: {m.excluded}" if m.excluded else ""
            print(f"{m.key:<52} {m.latency_ms:>11.1f} {pred:>9.1f} {err:>+7.1%}{note}", file=out)
    print(file=out)
    for family, res in results.items():
        e = res.efficiency
        params = ", ".join(f"{n}={v:.4g}" for n, v in zip(e.names(), e.as_vector()))
        print(f"{family}: {params}", file=out)
    for a in accuracy(results):
        print(
            f"{a.phase:>8}: {a.rows} rows, median |error| {a.median_abs_error:.1%}, worst {a.worst_abs_error:.1%}",
            file=out,
        )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    results = fit_defaults() if "--write" in argv else evaluate_defaults()
    print_table(results)
    if "--write" in argv:
        write_fitted(results)
        print(f"wrote {efficiency_yaml_path()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
