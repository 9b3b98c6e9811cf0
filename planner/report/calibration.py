"""`planner calibrate`: the fitted parameters beside the catalog's, and the per-row errors."""

from __future__ import annotations

from rich.console import Console

from planner.perf.calibrate import PHASES, CalibrationResult
from planner.perf.efficiency import Efficiency
from planner.report.fmt import columns_table


def render_calibration(result: CalibrationResult, console: Console, rows: bool = True) -> None:
    r = result
    scope = r.gpu + (f", {r.model}" if r.model else ", all models in the file")
    console.print(
        f"calibration of {scope} ({r.dtype}) on {r.rows_used} rows of {r.source_file or 'measurements'}"
        + (f" ({r.rows_excluded} excluded)" if r.rows_excluded else "")
    )
    if rows:
        t = columns_table("Rows", ("configuration", "measured ms", "fitted ms", "error", "catalog ms", "error "), left=("configuration",))
        for (m, p), (_, prev) in zip(r.rows, r.previous_rows):
            note = f"excluded: {m.excluded}" if m.excluded else ""
            t.add_row(
                m.key + (f"  [dim]{note}[/dim]" if note else ""),
                f"{m.latency_ms:,.1f}",
                f"{p:,.1f}",
                f"{p / m.latency_ms - 1:+.1%}",
                f"{prev:,.1f}",
                f"{prev / m.latency_ms - 1:+.1%}",
            )
        console.print(t)
    err, before = r.errors(), r.previous_errors()
    t = columns_table("|error| per phase", ("phase", "rows", "median", "worst", "catalog median", "catalog worst"), left=("phase",))
    for phase in PHASES:
        if phase in err:
            e, b = err[phase], before[phase]
            t.add_row(phase, str(e.rows), f"{e.median_abs_error:.1%}", f"{e.worst_abs_error:.1%}",
                      f"{b.median_abs_error:.1%}", f"{b.worst_abs_error:.1%}")
    console.print(t)
    t = columns_table("Efficiency parameters", ("parameter", "fitted", "catalog", "change"), left=("parameter",))
    for n, v, p in zip(Efficiency.names(), r.efficiency.as_vector(), r.previous.as_vector()):
        change = "held" if n in r.held else (f"{v / p - 1:+.1%}" if p else "-")
        t.add_row(n, f"{v:.4g}", f"{p:.4g}", change)
    console.print(t)
    for note in r.notes:
        console.print(f"note: {note}")


def render_serving_calibration(result, console: Console, rows: bool = True) -> None:
    """`planner calibrate` on serving results (`planner.perf.serving_fit.ServingCalibration`)."""
    r = result
    console.print(
        f"calibration of {r.gpu} TP{r.tp}, {r.model} ({r.weight_dtype} weights, {r.kv_dtype} KV) under {r.engine} "
        f"on {len(r.rows)} closed-loop points of {r.path} ({r.format})"
    )
    for s in r.skipped:
        console.print(f"skipped: {s}")
    if rows:
        t = columns_table(
            "Points",
            ("point", "conc.", "in/out tok", "TTFT ms", "fitted", "profile", "TPOT ms", "fitted ", "profile "),
            left=("point",),
        )
        for row, a, b in zip(r.rows, r.after, r.before):
            t.add_row(
                row.id, f"{row.concurrency:g}", f"{row.prompt_tokens:g}/{row.output_tokens:g}",
                f"{row.ttft_ms:,.1f}", f"{a[0]:,.1f}", f"{b[0]:,.1f}", f"{row.tpot_ms:,.2f}", f"{a[1]:,.2f}", f"{b[1]:,.2f}",
            )
        console.print(t)
    err = r.errors()
    t = columns_table("|error|", ("metric", "median", "p90", "profile median", "profile p90"), left=("metric",))
    for m, e in err["after"].items():
        b = err["before"][m]
        t.add_row(m, f"{e['median_abs']:.1%}", f"{e['p90_abs']:.1%}", f"{b['median_abs']:.1%}", f"{b['p90_abs']:.1%}")
    console.print(t)
    t = columns_table("Efficiency parameters", ("parameter", "fitted", "profile", "change"), left=("parameter",))
    for n in Efficiency.all_names():
        v, p = getattr(r.efficiency, n), getattr(r.previous, n)
        change = "held" if n not in r.free else (f"{v / p - 1:+.1%}" if p else "-")
        t.add_row(n, f"{v:.4g}", f"{p:.4g}", change)
    console.print(t)
