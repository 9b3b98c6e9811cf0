"""Command-line interface: parse, call the library, render, map exit codes.

No modelling happens here; see `planner.api` and the stages below it.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from planner.errors import InputError, PlannerError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Capacity planner for LLM serving on mixed GPU fleets (prefill/decode disaggregation).",
    pretty_exceptions_enable=False,
)
catalog_app = typer.Typer(no_args_is_help=True, help="Show the built-in GPU and model catalog.")
app.add_typer(catalog_app, name="catalog")

EXIT_INTERNAL = 4


class Objective(str, Enum):
    max_throughput = "max-throughput"
    min_cost = "min-cost"
    max_tokens_per_dollar = "max-tokens-per-dollar"


class SolverName(str, Enum):
    highs = "highs"
    cbc = "cbc"


class Dtype(str, Enum):
    fp16 = "fp16"
    bf16 = "bf16"
    fp8 = "fp8"


def _fail(e: Exception) -> None:
    """One line on stderr, never wrapped, and the documented exit code."""
    if isinstance(e, PlannerError):
        sys.stderr.write(f"error: {_one_line(e.message)}\n")
        raise typer.Exit(e.exit_code)
    sys.stderr.write(f"error: internal error (please report it with your input files): {type(e).__name__}: {_one_line(str(e))}\n")
    raise typer.Exit(EXIT_INTERNAL)


def _one_line(text: str) -> str:
    return " ".join(text.split())


@app.command()
def solve(
    fleet: Annotated[Path, typer.Argument(help="fleet YAML (GPU types, counts, prices)")],
    workload: Annotated[
        list[Path],
        typer.Argument(help="workload YAML (model, request classes, traffic, SLOs); several: models sharing the fleet"),
    ],
    objective: Annotated[
        Optional[Objective],
        typer.Option(help="default: min-cost with a QPS target, max-throughput with SLOs, else max-tokens-per-dollar"),
    ] = None,
    qps: Annotated[Optional[float], typer.Option(help="QPS target in requests/s (overrides the workload's)")] = None,
    solver: Annotated[SolverName, typer.Option(help="MILP solver")] = SolverName.highs,
    json_out: Annotated[Optional[str], typer.Option("--json", help="write the plan as JSON to FILE, or - for stdout")] = None,
    explain: Annotated[bool, typer.Option(help="baselines, marginal values and shadow prices (extra solves)")] = True,
    time_limit: Annotated[Optional[float], typer.Option(help="solver time limit per solve, seconds")] = None,
    mip_gap: Annotated[
        Optional[float],
        typer.Option(help="stop at this relative MIP gap, e.g. 0.001 on large fleets (default: prove optimality)"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no terminal report")] = False,
) -> None:
    """Find the optimal plan for a fleet and a workload, and explain it."""
    try:
        from planner.api import plan_files
        from planner.report.export import export
        from planner.report.terminal import render

        if time_limit is not None and not time_limit > 0:
            raise InputError("--time-limit must be a positive number of seconds")
        if mip_gap is not None and not 0 <= mip_gap < 1:
            raise InputError(f"--mip-gap must be in [0, 1) (got {mip_gap})")
        plan = plan_files(
            fleet, workload, objective.value if objective else None, qps, solver.value, explain, time_limit, mip_gap
        )
        if json_out:
            export(plan, json_out)
        if not quiet:
            render(plan, Console(stderr=json_out == "-", width=140), explain)
    except typer.Exit:
        raise
    except Exception as e:  # noqa: BLE001 - every failure ends in one line and an exit code
        _fail(e)


@app.command()
def estimate(
    gpu: Annotated[str, typer.Option(help="catalog GPU id, e.g. h100-sxm")],
    model: Annotated[str, typer.Option(help="catalog model id, e.g. llama-3.1-70b")],
    tp: Annotated[int, typer.Option(min=1, max=64, help="tensor-parallel degree")] = 1,
    batch: Annotated[int, typer.Option(min=1, max=100000, help="batch size (prompts for prefill, sequences for decode)")] = 1,
    prompt_tokens: Annotated[int, typer.Option(min=1, max=10_000_000, help="prompt length")] = 1024,
    context_tokens: Annotated[Optional[int], typer.Option(min=1, max=10_000_000, help="decode context (default: prompt)")] = None,
    dtype: Annotated[Optional[Dtype], typer.Option(help="weight dtype (default: the model's)")] = None,
    kv_dtype: Annotated[Dtype, typer.Option(help="KV-cache dtype")] = Dtype.bf16,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Print the performance model's numbers for one configuration."""
    try:
        from planner.perf.estimate import estimate as run_estimate

        result = run_estimate(gpu, model, tp, batch, prompt_tokens, context_tokens, dtype.value if dtype else None, kv_dtype.value)
        if json_out:
            sys.stdout.write(json.dumps(result, indent=2) + "\n")
        else:
            from planner.report.tables import estimate_table

            Console(width=120).print(estimate_table(result))
    except typer.Exit:
        raise
    except Exception as e:  # noqa: BLE001
        _fail(e)


@catalog_app.command("gpus")
def catalog_gpus(json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """GPU types with their sourced facts and default prices."""
    try:
        from planner.report.tables import gpu_rows, gpus_table

        if json_out:
            sys.stdout.write(json.dumps(gpu_rows(), indent=2) + "\n")
        else:
            Console(width=200).print(gpus_table())
    except Exception as e:  # noqa: BLE001
        _fail(e)


@catalog_app.command("models")
def catalog_models(json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Model architectures with their sources."""
    try:
        from planner.report.tables import model_rows, models_table

        if json_out:
            sys.stdout.write(json.dumps(model_rows(), indent=2) + "\n")
        else:
            Console(width=200).print(models_table())
    except Exception as e:  # noqa: BLE001
        _fail(e)


@app.command()
def validate() -> None:
    """Compare the performance model with the measured splitwise rows (per-row table)."""
    try:
        from planner.perf.validate import evaluate_defaults, print_table

        print_table(evaluate_defaults())
    except Exception as e:  # noqa: BLE001
        _fail(e)


def main() -> None:
    try:
        app()
    except SystemExit:
        raise
    except Exception as e:  # pragma: no cover - typer handles its own errors; this is the last net
        sys.stderr.write(f"error: internal error: {type(e).__name__}: {_one_line(str(e))}\n")
        sys.exit(EXIT_INTERNAL)
