"""The terminal report of a simulation (`planner simulate`): throughput against the plan,
latency percentiles and SLO attainment, and what each pool did."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from planner.report.fmt import columns_table
from planner.report.fmt import num as _f
from planner.sim.result import SimResult


def _share(x: float | None) -> str:
    return "-" if x is None else f"{x:.1%}"


def tty_progress(stream=None):
    """A progress callback for `simulate` that redraws one line on `stream` (stderr), or None when
    the stream is not a terminal: piped and captured output stay byte-for-byte the same."""
    import sys

    out = stream if stream is not None else sys.stderr
    if not (hasattr(out, "isatty") and out.isatty()):
        return None

    def show(done: int, total: int) -> None:
        out.write(f"\rsimulating: {done:,} of {total:,} requests arrived" if done < total else "\r\033[K")
        out.flush()

    return show


def render_simulation(result: SimResult, console: Console) -> None:
    for part in simulation_parts(result):
        console.print(part)


def simulation_parts(result: SimResult) -> list:
    i = result.inputs
    head = Text.assemble(
        ("planner simulate ", "bold"),
        f"{i.workload} on {i.fleet}: {i.requests:,} requests ({i.arrivals} arrivals), load {i.load:g}x, seed {i.seed}\n",
        f"measured {i.measured_window_s:,.0f} s after a warm-up of {i.warmup_s:,.0f} s",
    )
    parts: list = [head, _throughput(result), _latency(result), _pools(result)]
    if result.notes:
        parts.append(Text("\n".join(f"note: {n}" for n in result.notes)))
    return parts


def _throughput(result: SimResult) -> Table:
    t = columns_table("Throughput", ("model", "planned req/s", "offered req/s", "completed req/s", "vs planned", "vs offered"), left=("model",))
    for r in result.throughput:
        t.add_row(
            r.name,
            _f(r.planned_requests_per_s, 3),
            _f(r.offered_requests_per_s, 3),
            _f(r.completed_requests_per_s, 3),
            _share(r.throughput_ratio),
            _share(r.completion_ratio),
        )
    return t


def _latency(result: SimResult) -> Table:
    cols = ("class", "requests", "TTFT p50", "p90", "p99", "SLO", "TPOT p50", "p90", "p99", "SLO",
            "decode wait p90", "TTFT ok", "TPOT ok", "both", "target", "met")
    t = columns_table("Latency and SLO attainment (measured requests)", cols, left=("class",))
    for r in result.latency:
        t.add_row(
            r.name if r.scope != "overall" else "all",
            f"{r.requests:,}",
            _f(r.ttft_ms_p50, 0),
            _f(r.ttft_ms_p90, 0),
            _f(r.ttft_ms_p99, 0),
            _f(r.ttft_slo_ms, 0),
            _f(r.tpot_ms_p50, 1),
            _f(r.tpot_ms_p90, 1),
            _f(r.tpot_ms_p99, 1),
            _f(r.tpot_slo_ms, 0),
            _f(r.decode_wait_ms_p90, 0),
            _share(r.ttft_attainment),
            _share(r.tpot_attainment),
            _share(r.both_attainment),
            "-" if r.slo_percentile is None else f"{r.slo_percentile:g}%",
            "-" if r.meets_target is None else ("yes" if r.meets_target else "NO"),
        )
    return t


def _pools(result: SimResult) -> Table:
    multi = len({p.model for p in result.pools}) > 1
    # load/SLO cap.: the plan's load as a share of the pool's SLO-limited capacity; busy: the share
    # of time the pool computes (a tight TTFT percentile keeps a prefill pool mostly idle)
    cols = ("GPU", "role", "TP", "inst.", "requests", "load / SLO cap. planned", "busy planned", "simulated",
            "batch planned", "mean", "queue mean", "max")
    t = columns_table("Pools", (("model",) if multi else ()) + cols, left=("model", "GPU", "role"))
    for p in result.pools:
        row = [
            p.gpu,
            p.role,
            str(p.tp),
            str(p.instances),
            f"{p.requests:,}",
            _share(p.planned_utilisation),
            _share(p.planned_busy),
            _share(p.utilisation),
            "-" if p.planned_batch is None else str(p.planned_batch),
            _f(p.mean_batch, 1),
            _f(p.mean_queue, 2),
            str(p.max_queue),
        ]
        t.add_row(*([p.model] if multi else []), *row)
    return t
