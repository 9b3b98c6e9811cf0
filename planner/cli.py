"""Command-line interface: parse, call the library, render, map exit codes.

No modelling happens here; see `planner.api` and the stages below it.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer

from planner.errors import InputError, PlannerError
from planner.process import OneLineGroup

app = typer.Typer(
    cls=OneLineGroup,  # usage errors as one `error:` line (planner/process.py)
    add_completion=False,
    no_args_is_help=True,
    help="Capacity planner for LLM serving on mixed GPU fleets (prefill/decode disaggregation).",
    pretty_exceptions_enable=False,
)
catalog_app = typer.Typer(no_args_is_help=True, help="Show the built-in GPU and model catalog.")
app.add_typer(catalog_app, name="catalog")

EXIT_INTERNAL = 4

# bounds of command-line numbers the library does not bound itself (README, "Exit codes")
MAX_SIM_REQUESTS = 10_000_000  # simulate --requests (500,000 take about 20 s)
MAX_SIM_DURATION_S = 86_400.0  # simulate --duration: one simulated day
MAX_SEED = 2**32 - 1  # simulate --seed: 0 .. 2^32 - 1
MAX_GRID_VALUES = 64  # model --batches/--prompts/--contexts: values per list
GRID_LIMITS = {"batches": 100_000, "prompts": 10_000_000, "contexts": 10_000_000}  # the largest value per list


def _version(value: bool) -> None:
    if value:
        from planner import __version__

        sys.stdout.write(f"planner {__version__}\n")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="print the planner's version and exit")
    ] = False,
) -> None:
    pass


def report_console(stderr: bool = False):
    """The console a report goes to: as wide as $COLUMNS or the terminal, 120 columns when piped."""
    from planner.report.fmt import console

    return console(stderr)


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


def _cli_errors(command):
    """Every failure of a command ends in one `error:` line and its exit code (`_fail`)."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except typer.Exit:
            raise
        except Exception as e:  # noqa: BLE001 - every failure ends in one line and an exit code
            _fail(e)

    return run


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
@_cli_errors
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
    time_limit: Annotated[Optional[float], typer.Option(help="wall-clock budget for the whole command (capacities, every solve, the explanation), seconds; the plan reports its gap")] = None,
    mip_gap: Annotated[
        Optional[float],
        typer.Option(help="stop at this relative MIP gap, e.g. 0.001 on large fleets (default: prove optimality)"),
    ] = None,
    budget_usd_per_hour: Annotated[Optional[float], typer.Option(help="the plan may cost at most this (USD/h)")] = None,
    roles: Annotated[
        Optional[str], typer.Option(help="roles to consider, comma-separated: prefill,decode,colocated (default: all)")
    ] = None,
    require_qps: Annotated[Optional[float], typer.Option(help="CI gate: exit 1 if the plan serves less (req/s)")] = None,
    max_cost_usd_per_hour: Annotated[Optional[float], typer.Option(help="CI gate: exit 1 if the plan costs more")] = None,
    max_usd_per_million_tokens: Annotated[
        Optional[float], typer.Option(help="CI gate: exit 1 if a million tokens cost more")
    ] = None,
    require_optimal: Annotated[bool, typer.Option(help="CI gate: exit 1 unless proven optimal")] = False,
    engine: Annotated[
        Optional[str], typer.Option(help="serving engine for every GPU type: vllm, sglang, trtllm or vllm-2023 (default: the fleet's, else vllm)")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no terminal report")] = False,
) -> None:
    """Find the optimal plan for a fleet and a workload, and explain it."""
    from planner.api import plan_files
    from planner.report.export import export
    from planner.studies.gates import check_requirements

    check_requirements(require_qps, max_cost_usd_per_hour, max_usd_per_million_tokens)
    if time_limit is not None and not time_limit > 0:
        raise InputError("--time-limit must be a positive number of seconds")
    if mip_gap is not None and not 0 <= mip_gap < 1:
        raise InputError(f"--mip-gap must be in [0, 1) (got {mip_gap})")
    plan = plan_files(
        fleet, workload, objective.value if objective else None, qps, solver.value, explain, time_limit, mip_gap,
        budget_usd_per_hour, _roles(roles), engine,
    )
    if json_out is not None:
        export(plan, json_out)
    if not quiet:
        from planner.report.terminal import render  # rich: only when a report is printed

        render(plan, report_console(stderr=json_out == "-"), explain)
    _gate(plan, require_qps, max_cost_usd_per_hour, max_usd_per_million_tokens, require_optimal)


def _roles(text: str | None) -> list[str] | None:
    return None if text is None else [r.strip() for r in text.split(",") if r.strip()]


def _gate(plan, require_qps, max_cost, max_per_m, require_optimal) -> None:
    from planner.errors import InfeasibleError
    from planner.studies.gates import unmet_requirements

    unmet = unmet_requirements(plan, require_qps, max_cost, max_per_m, require_optimal)
    if unmet:
        raise InfeasibleError("requirement not met: " + "; ".join(unmet))


def _objective(o: "Objective | None") -> str | None:
    return o.value if o else None


@app.command()
@_cli_errors
def compare(
    workload: Annotated[list[Path], typer.Argument(help="workload YAML (several: models sharing each fleet)")],
    scenarios: Annotated[
        Optional[Path], typer.Option(help="scenarios file: a base fleet and changes (see README, 'Scenarios')")
    ] = None,
    fleet: Annotated[Optional[list[Path]], typer.Option(help="a fleet to compare (repeat the option)")] = None,
    objective: Annotated[Optional[Objective], typer.Option(help="default as for solve")] = None,
    qps: Annotated[Optional[float], typer.Option(help="QPS target (overrides the workload's)")] = None,
    budget_usd_per_hour: Annotated[Optional[float], typer.Option(help="budget for every scenario (USD/h)")] = None,
    roles: Annotated[Optional[str], typer.Option(help="roles to consider, e.g. colocated")] = None,
    solver: Annotated[SolverName, typer.Option(help="MILP solver")] = SolverName.highs,
    time_limit: Annotated[Optional[float], typer.Option(help="wall-clock budget for the whole command (capacities, every solve, the explanation), seconds; the plan reports its gap")] = None,
    json_out: Annotated[Optional[str], typer.Option("--json", help="write the comparison as JSON to FILE, or -")] = None,
    engine: Annotated[
        Optional[str], typer.Option(help="serving engine for every GPU type: vllm, sglang, trtllm or vllm-2023 (default: the fleet's, else vllm)")
    ] = None,
) -> None:
    """Plan one workload on several fleets or scenario overlays, side by side."""
    from planner.report.export import write_json
    from planner.report.studies import comparison_table
    from planner.studies.compare import compare as run_compare
    from planner.studies.compare import fleets_from_files, fleets_from_scenarios

    if (scenarios is None) == (not fleet):
        raise InputError("give a scenarios file (--scenarios) or fleets (--fleet A --fleet B ...), not both")
    fleets = fleets_from_scenarios(scenarios) if scenarios else fleets_from_files(fleet)
    result, _ = run_compare(
        fleets, workload, _objective(objective), qps, solver.value, budget_usd_per_hour, _roles(roles), time_limit, engine
    )
    if json_out is not None:
        write_json(result.model_dump(mode="json"), json_out)
    report_console(stderr=json_out == "-").print(comparison_table(result))


@app.command()
@_cli_errors
def sweep(
    fleet: Annotated[Path, typer.Argument(help="fleet YAML")],
    workload: Annotated[list[Path], typer.Argument(help="workload YAML (several: models sharing the fleet)")],
    vary: Annotated[
        str, typer.Option(help="qps | budget | price:<gpu> | link:<zone>:<zone> | network:<gpu> | ttft | tpot")
    ],
    start: Annotated[Optional[float], typer.Option("--from", help="first value")] = None,
    stop: Annotated[Optional[float], typer.Option("--to", help="last value")] = None,
    steps: Annotated[int, typer.Option(help="number of points from --from to --to")] = 10,
    log: Annotated[bool, typer.Option(help="geometric spacing")] = False,
    values: Annotated[Optional[str], typer.Option(help="explicit values, comma-separated (instead of --from/--to)")] = None,
    objective: Annotated[Optional[Objective], typer.Option(help="default: min-cost for qps, max-throughput for budget, else as for solve")] = None,
    qps: Annotated[Optional[float], typer.Option(help="QPS target (when not swept)")] = None,
    budget_usd_per_hour: Annotated[Optional[float], typer.Option(help="budget (when not swept)")] = None,
    roles: Annotated[Optional[str], typer.Option(help="roles to consider, e.g. colocated")] = None,
    solver: Annotated[SolverName, typer.Option(help="MILP solver")] = SolverName.highs,
    time_limit: Annotated[Optional[float], typer.Option(help="wall-clock budget for the whole command (capacities, every solve, the explanation), seconds; the plan reports its gap")] = None,
    plot: Annotated[Optional[Path], typer.Option(help="draw the sweep to FILE.png, .svg or .pdf (needs matplotlib: pip install -e '.\\[plot]')")] = None,
    json_out: Annotated[Optional[str], typer.Option("--json", help="write the sweep as JSON to FILE, or -")] = None,
    engine: Annotated[
        Optional[str], typer.Option(help="serving engine for every GPU type: vllm, sglang, trtllm or vllm-2023 (default: the fleet's, else vllm)")
    ] = None,
) -> None:
    """Vary one input over a range: the optimum at each point and the cost-throughput frontier."""
    from rich.progress import Progress

    from planner.api import load_problem
    from planner.report.export import write_json
    from planner.report.studies import sweep_table, text_chart
    from planner.studies.sweep import sweep as run_sweep
    from planner.studies.sweep import values_between

    if values is not None:
        if start is not None or stop is not None:
            raise InputError("give --values or --from/--to, not both")
        try:
            points = [float(v) for v in values.split(",") if v.strip()]
        except ValueError:
            raise InputError(f"--values: '{values}' is not a comma-separated list of numbers") from None
        if not all(math.isfinite(v) for v in points) or not 1 <= len(points) <= 1000:
            raise InputError(f"--values: give 1 to 1000 finite numbers (got {values[:80]!r})")
    elif start is None or stop is None:
        raise InputError("give --from and --to (with --steps), or --values")
    else:
        points = values_between(start, stop, steps, log)
    problem = load_problem(fleet, workload, qps, budget_usd_per_hour, _roles(roles), engine)
    if plot is not None:
        from planner.report.plot import check_plot_target

        check_plot_target(plot)  # before the sweep: a plotting error costs nothing
    console = report_console(stderr=json_out == "-")
    with Progress(console=console, transient=True, disable=len(points) < 8) as bar:
        task = bar.add_task(f"sweeping {vary}", total=len(points))
        result = run_sweep(
            problem, vary, points, _objective(objective), solver.value, time_limit,
            progress=lambda i: bar.update(task, completed=i),
        )
    if json_out is not None:
        write_json(result.model_dump(mode="json"), json_out)
    console.print(sweep_table(result))
    if plot is not None:
        from planner.report.plot import plot_sweep

        plot_sweep(result, plot)
        console.print(f"sweep drawn to {plot}")
    else:
        console.print(text_chart(result))


@app.command()
@_cli_errors
def diff(
    old: Annotated[Path, typer.Argument(help="the earlier plan JSON")],
    new: Annotated[Path, typer.Argument(help="the later plan JSON")],
    tolerance: Annotated[float, typer.Option(help="relative change that counts as a regression")] = 0.02,
    fail_on_regression: Annotated[bool, typer.Option(help="exit 1 on a regression beyond the tolerance")] = False,
) -> None:
    """What changed between two plans (pools, throughput, cost); a CI gate with --fail-on-regression."""
    from planner.errors import InfeasibleError
    from planner.report.export import read_plan
    from planner.report.studies import diff_table
    from planner.studies.gates import diff_plans

    if not 0 <= tolerance < 10:
        raise InputError(f"--tolerance must be between 0 and 10 (got {tolerance})")
    d = diff_plans(read_plan(old), read_plan(new))
    report_console().print(diff_table(d, tolerance))
    bad = d.regressions(tolerance)
    if bad and fail_on_regression:
        raise InfeasibleError(f"regression beyond {tolerance:.1%}: " + "; ".join(bad))


@app.command()
@_cli_errors
def deploy(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN.json", help="a plan written by `planner solve --json`")],
    target: Annotated[str, typer.Option(help="vllm | sglang | trtllm (launch scripts), dynamo | llm-d (Kubernetes manifests)")],
    out: Annotated[Path, typer.Option(help="folder to write (refused if it exists and is not empty, unless --force)")],
    force: Annotated[bool, typer.Option(help="replace a non-empty --out folder")] = False,
) -> None:
    """Launch configurations, router weights and a RUNBOOK.md for a plan."""
    from planner.deploy import deploy as make_bundle
    from planner.deploy import write_bundle
    from planner.report.export import read_plan

    files, warnings = make_bundle(read_plan(plan_file), target, str(plan_file))
    write_bundle(files, out, force)
    for w in warnings:
        sys.stderr.write(f"warning: {w}\n")
    sys.stdout.write(f"wrote {len(files)} files to {out}/: " + ", ".join(files) + "\n")


@app.command()
@_cli_errors
def estimate(
    gpu: Annotated[str, typer.Option(help="catalog GPU id, e.g. h100-sxm")],
    model: Annotated[str, typer.Option(help="catalog model id, e.g. llama-3.1-70b")],
    tp: Annotated[int, typer.Option(min=1, max=64, help="tensor-parallel degree")] = 1,
    batch: Annotated[int, typer.Option(min=1, max=100000, help="batch size (prompts for prefill, sequences for decode)")] = 1,
    prompt_tokens: Annotated[int, typer.Option(min=1, max=10_000_000, help="prompt length")] = 1024,
    context_tokens: Annotated[Optional[int], typer.Option(min=1, max=10_000_000, help="decode context (default: prompt)")] = None,
    dtype: Annotated[Optional[Dtype], typer.Option(help="weight dtype (default: the model's)")] = None,
    kv_dtype: Annotated[Dtype, typer.Option(help="KV-cache dtype")] = Dtype.bf16,
    engine: Annotated[Optional[str], typer.Option(help="serving engine: vllm, sglang, trtllm or vllm-2023 (default: vllm)")] = None,
    concurrency: Annotated[
        Optional[int], typer.Option(min=1, max=100_000, help="also predict a closed-loop benchmark at this client concurrency")
    ] = None,
    output_tokens: Annotated[int, typer.Option(min=1, max=10_000_000, help="output tokens per request (with --concurrency)")] = 256,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Print the performance model's numbers for one configuration."""
    from planner.perf.estimate import estimate as run_estimate

    result = run_estimate(
        gpu, model, tp, batch, prompt_tokens, context_tokens, dtype.value if dtype else None, kv_dtype.value,
        engine, concurrency, output_tokens,
    )
    if json_out:
        sys.stdout.write(json.dumps(result, indent=2) + "\n")
    else:
        from planner.report.tables import estimate_table

        report_console().print(estimate_table(result))


@catalog_app.command("gpus")
@_cli_errors
def catalog_gpus(json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """GPU types with their sourced facts and default prices."""
    from planner.report.tables import gpu_rows, gpus_table

    if json_out:
        sys.stdout.write(json.dumps(gpu_rows(), indent=2) + "\n")
    else:
        report_console().print(gpus_table())


@catalog_app.command("models")
@_cli_errors
def catalog_models(json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False) -> None:
    """Model architectures with their sources."""
    from planner.report.tables import model_rows, models_table

    if json_out:
        sys.stdout.write(json.dumps(model_rows(), indent=2) + "\n")
    else:
        report_console().print(models_table())


@app.command()
@_cli_errors
def simulate(
    plan: Annotated[Path, typer.Argument(help="plan JSON written by planner solve --json")],
    workload: Annotated[list[Path], typer.Argument(help="the plan's workload YAML file(s)")],
    fleet: Annotated[Optional[Path], typer.Option(help="the plan's fleet YAML (default: rebuilt from the plan)")] = None,
    trace: Annotated[Optional[Path], typer.Option(help="replay an Azure-format trace (its timestamps and lengths)")] = None,
    duration: Annotated[Optional[float], typer.Option(max=MAX_SIM_DURATION_S, help="simulated seconds (default: enough for the request count)")] = None,
    requests: Annotated[Optional[int], typer.Option(min=1, max=MAX_SIM_REQUESTS, help="number of requests to simulate")] = None,
    load: Annotated[float, typer.Option(help="arrival rate as a multiple of the planned rate")] = 1.0,
    seed: Annotated[int, typer.Option(min=0, max=MAX_SEED, help="random seed (same seed, same result)")] = 0,
    json_out: Annotated[Optional[str], typer.Option("--json", help="write the result as JSON to FILE, or -")] = None,
    engine: Annotated[
        Optional[str], typer.Option(help="serving engine for every GPU type: vllm, sglang, trtllm or vllm-2023 (default: the plan's)")
    ] = None,
) -> None:
    """Replay a plan in a discrete-event simulation: throughput, TTFT/TPOT percentiles, SLO attainment."""
    from planner.report.export import write_json
    from planner.report.simulation import render_simulation, tty_progress
    from planner.sim import simulate_files

    if not 0 < load <= 100:
        raise InputError(f"--load must be in (0, 100] (got {load})")
    result = simulate_files(
        plan, workload, fleet, trace_path=trace, duration_s=duration, n_requests=requests, load=load, seed=seed,
        engine=engine, progress=tty_progress(),
    )
    if json_out is not None:
        write_json(result.model_dump(mode="json"), json_out)
    render_simulation(result, report_console(stderr=json_out == "-"))


@app.command()
@_cli_errors
def calibrate(
    measurements: Annotated[
        Path,
        typer.Argument(
            help="kernel-level CSV (splitwise, or gpu,model,tp,phase,batch,prompt_tokens,context_tokens,latency_ms), or "
            "serving results: vllm bench serve / genai-perf / AIPerf / GuideLLM JSON, or a CSV in serving_points.csv's columns"
        ),
    ],
    gpu: Annotated[str, typer.Option(help="catalog GPU id whose parameters to fit")],
    model: Annotated[Optional[str], typer.Option(help="fit on this model's rows only (serving results: the model served)")] = None,
    dtype: Annotated[Optional[Dtype], typer.Option(help="dtype of the measured runs (default: fp16 splitwise, bf16 generic, the model's for serving)")] = None,
    out: Annotated[Optional[Path], typer.Option(help="write the profile YAML here (reference it from a fleet: efficiency_profile)")] = None,
    rows: Annotated[bool, typer.Option(help="print the per-row error table")] = True,
    json_out: Annotated[bool, typer.Option("--json", help="print the fit as JSON")] = False,
    tp: Annotated[int, typer.Option(min=1, max=64, help="serving results: the instance's TP degree")] = 1,
    engine: Annotated[Optional[str], typer.Option(help="serving results: the engine benchmarked (default: vllm)")] = None,
    kv_dtype: Annotated[Dtype, typer.Option(help="serving results: KV-cache dtype")] = Dtype.bf16,
) -> None:
    """Fit the performance model's efficiency parameters to your measurements: kernel-level
    latencies, or serving benchmarks (mean TTFT and TPOT at a client concurrency)."""
    if _is_serving_file(measurements):
        from planner.perf.serving_fit import calibrate_serving
        from planner.report.calibration import render_serving_calibration

        if model is None:
            raise InputError("--model: serving results name no catalog model; give the one benchmarked")
        result = calibrate_serving(measurements, gpu, model, tp, engine, dtype.value if dtype else None, kv_dtype.value, out)
        if json_out:
            sys.stdout.write(json.dumps(result.profile_dict() | {"errors": result.errors()}, indent=2) + "\n")
        else:
            render_serving_calibration(result, report_console(), rows)
            if out:
                report_console().print(f"profile written to {out}")
        return
    from planner.perf.calibrate import calibrate_file
    from planner.report.calibration import render_calibration

    result = calibrate_file(measurements, gpu, model, out, dtype.value if dtype else None)
    if json_out:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        render_calibration(result, report_console(), rows)
        if out:
            report_console().print(f"profile written to {out}")


def _is_serving_file(path: Path) -> bool:
    """A benchmark result (JSON) or a serving-points CSV, not a kernel-level CSV."""
    if path.suffix.lower() in (".json", ".jsonl"):
        return True
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "silicon_ttft_ms" in f.readline(4096)
    except OSError:
        return False


def _ints(text: str, what: str) -> list[int]:
    shown = text if len(text) <= 60 else text[:60] + "..."
    try:
        out = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"--{what}: '{shown}' is not a comma-separated list of whole numbers") from None
    top = GRID_LIMITS[what]
    if not 1 <= len(out) <= MAX_GRID_VALUES or not all(1 <= v <= top for v in out):
        raise InputError(f"--{what}: give 1 to {MAX_GRID_VALUES} whole numbers from 1 to {top:,} (got '{shown}')")
    return out


@app.command("model")
@_cli_errors
def model_cmd(
    gpu: Annotated[str, typer.Option(help="catalog GPU id")],
    model: Annotated[str, typer.Option(help="catalog model id")],
    tp: Annotated[int, typer.Option(min=1, max=64, help="tensor-parallel degree")] = 1,
    batches: Annotated[str, typer.Option(help="batch sizes, comma-separated")] = "1,8,32,128",
    prompts: Annotated[str, typer.Option(help="prompt lengths for prefill, comma-separated")] = "512,2048,8192",
    contexts: Annotated[str, typer.Option(help="context lengths for decode, comma-separated")] = "1024,4096,16384",
    dtype: Annotated[Optional[Dtype], typer.Option(help="weight dtype (default: the model's)")] = None,
    kv_dtype: Annotated[Dtype, typer.Option(help="KV-cache dtype")] = Dtype.bf16,
    profile: Annotated[Optional[Path], typer.Option(help="efficiency profile from planner calibrate")] = None,
    engine: Annotated[Optional[str], typer.Option(help="serving engine: vllm, sglang, trtllm or vllm-2023 (default: vllm)")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The performance model over a grid of batch sizes and lengths, with the memory budget."""
    from planner.perf.grid import model_grid
    from planner.report.grid import render_model_grid

    eff = None
    if profile is not None:
        from planner.perf.calibrate import load_profile

        eff = load_profile(profile)
    grid = model_grid(
        gpu, model, tp, _ints(batches, "batches"), _ints(prompts, "prompts"), _ints(contexts, "contexts"),
        dtype.value if dtype else None, kv_dtype.value, eff, engine,
    )
    if json_out:
        sys.stdout.write(json.dumps(grid.to_dict(), indent=2) + "\n")
    else:
        render_model_grid(grid, report_console())


@app.command()
@_cli_errors
def validate(
    held_out: Annotated[bool, typer.Option(help="also refit each profile on 4 of 5 folds of configurations (about a minute)")] = True,
) -> None:
    """Hold the engine profiles against the measured serving points (per engine and GPU family:
    TTFT, TPOT, output tokens/s per GPU on the rows fitted and held out), and the vllm-2023
    profile against the splitwise rows (per-row table)."""
    from planner.perf.serving_fit import accuracy_report
    from planner.perf.validate import evaluate_defaults, print_table

    print("== vllm-2023 against the splitwise rows (kernel-level, vLLM 2023) ==")
    print_table(evaluate_defaults())
    print()
    print("== current engines against the aiconfigurator serving points (closed loop) ==")
    accuracy_report(held_out)


def main() -> None:
    from planner.process import run_main

    try:
        run_main(app)  # signals, standard output's faults, exit codes (planner/process.py)
    except SystemExit:
        raise
    except Exception as e:  # pragma: no cover - typer handles its own errors; this is the last net
        sys.stderr.write(f"error: internal error: {type(e).__name__}: {_one_line(str(e))}\n")
        sys.exit(EXIT_INTERNAL)
