"""Terminal rendering of comparisons, sweeps and plan diffs."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text

from planner.report.fmt import columns_table, signed_pct
from planner.studies.compare import Comparison
from planner.studies.gates import PlanDiff
from planner.studies.sweep import Sweep


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None else format(x, fmt)


_pct = signed_pct


def comparison_table(c: Comparison) -> Table:
    target = f", target {c.qps_target:g} req/s" if c.qps_target else ""
    buys = any(r.gpus_bought for r in c.scenarios)
    cols = ("scenario", "req/s", "USD/h", "USD per M output tok", "GPUs used") + ("bought",) * buys
    cols += ("Δ req/s", "Δ USD/h", "status")
    t = columns_table(f"{c.workload}: {c.objective}{target}", cols, left=("scenario", "bought", "status"), heavy=True)
    wins = {name: [m for m, names in c.winners.items() if name in names] for name in (r.name for r in c.scenarios)}
    reasons = []  # in full below the table, not squeezed into a column
    for r in c.scenarios:
        if not r.feasible:
            reasons.append(f"({len(reasons) + 1}) {r.name}: {r.reason}")
            t.add_row(r.name, "-", "-", "-", "-", *("-",) * buys, "-", "-", f"infeasible ({len(reasons)})")
            continue
        mark = {m: "*" if m in wins[r.name] and len(c.scenarios) > 1 else "" for m in c.winners}
        t.add_row(
            r.name,
            _num(r.requests_per_s, ",.3f") + mark["throughput"],
            _num(r.cost_usd_per_hour, ",.2f") + mark["cost"],
            _num(r.usd_per_million_output_tokens, ",.3f") + mark["usd_per_million_output_tokens"],
            str(r.gpus_used),
            *((", ".join(f"{g} {n}" for g, n in r.gpus_bought.items()) or "-",) if buys else ()),
            "ref." if r.name == c.reference else _pct(r.throughput_vs_first),
            "ref." if r.name == c.reference else _pct(r.cost_vs_first),
            r.status or "",
        )
    t.caption = "\n".join(
        [f"* best on that measure; Δ against '{c.reference}'. Winners: " + "; ".join(
            f"{m.replace('_', ' ')}: {', '.join(n) or '-'}" for m, n in c.winners.items()
        )] + reasons
    )
    return t


def sweep_table(s: Sweep) -> Table:
    buys = any(p.gpus_bought for p in s.points)  # purchase mode: what each point buys
    cols = (s.parameter.replace(":", ":\n"), "req/s", "USD/h", "USD per M output tok", "pools (GPU, TP, role, instances)")
    cols += ("bought",) * buys + ("Pareto", "status")
    t = columns_table(f"sweep of {s.parameter} ({s.unit}), {s.objective}", cols, left=(cols[4], "bought", "status"), heavy=True)
    reasons = []
    for p in s.points:
        if not p.feasible:
            reasons.append(f"({len(reasons) + 1}) at {p.value:,.4g}: {p.reason}")
            t.add_row(f"{p.value:,.4g}", "-", "-", "-", "-", *("-",) * buys, "", f"infeasible ({len(reasons)})")
            continue
        t.add_row(
            f"{p.value:,.4g}",
            _num(p.requests_per_s, ",.3f"),
            _num(p.cost_usd_per_hour, ",.2f"),
            _num(p.usd_per_million_output_tokens, ",.3f"),
            "\n".join(p.pools),
            *((", ".join(f"{g} {n}" for g, n in p.gpus_bought.items()) or "-",) if buys else ()),
            "*" if p.on_frontier else "",
            p.status or "",
        )
    t.caption = "\n".join(["Pareto *: on the cost-throughput frontier (no other point serves as much for less)"] + reasons)
    return t


def text_chart(s: Sweep, width: int = 60, height: int = 14) -> Text:
    """A character plot. Sweeps of the QPS target or the budget: the cost-throughput frontier
    (USD/h against req/s; '*' on the frontier). Other sweeps, whose throughput or cost stays
    fixed by the objective: the objective's measure against the swept value."""
    ok = [p for p in s.points if p.feasible]
    if len(ok) < 2:
        return Text("(too few feasible points for a chart)")
    if s.parameter in ("qps", "budget"):
        pts = [(p.requests_per_s, p.cost_usd_per_hour, p.on_frontier) for p in ok]
        title, xunit = "cost-throughput frontier (USD/h against req/s; * on the frontier)", "req/s"
    elif s.objective == "max-tokens-per-dollar":
        pts = [(p.value, p.usd_per_million_output_tokens, True) for p in ok if p.usd_per_million_output_tokens]
        title, xunit = f"USD per million output tokens against {s.parameter}", s.unit
    elif s.objective == "min-cost":
        pts = [(p.value, p.cost_usd_per_hour, True) for p in ok]
        title, xunit = f"cost (USD/h) against {s.parameter}", s.unit
    else:
        pts = [(p.value, p.requests_per_s, True) for p in ok]
        title, xunit = f"throughput (req/s) against {s.parameter}", s.unit
    return _char_plot(pts, title, xunit, width, height)


def _char_plot(pts: list[tuple[float, float, bool]], title: str, xunit: str, width: int, height: int) -> Text:
    xs, ys = [p[0] for p in pts], [p[1] for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    grid = [[" "] * width for _ in range(height)]
    for x, y, star in pts:
        col = 0 if x1 == x0 else round((x - x0) / (x1 - x0) * (width - 1))
        row = 0 if y1 == y0 else round((y - y0) / (y1 - y0) * (height - 1))
        cell = grid[height - 1 - row][col]
        grid[height - 1 - row][col] = "*" if star or cell == "*" else "o"
    label_w = max(len(f"{y1:,.2f}"), len(f"{y0:,.2f}"))
    lines = [title]
    for i, row in enumerate(grid):
        label = f"{y1:,.2f}" if i == 0 else f"{y0:,.2f}" if i == height - 1 else ""
        lines.append(f"{label:>{label_w}} |{''.join(row)}")
    lines.append(f"{'':>{label_w}} +{'-' * width}")
    left, right = f"{x0:,.4g}", f"{x1:,.4g} {xunit}"
    lines.append(f"{'':>{label_w}}  {left}{right:>{width - len(left)}}")
    return Text("\n".join(lines))


def diff_table(d: PlanDiff, tolerance: float) -> Group:
    t = columns_table("plan diff (old -> new)", ("measure", "old", "new", "change", ""), left=("measure", ""), heavy=True)
    for c in d.changes:
        flag = "regression" if c.worse and c.relative is not None and abs(c.relative) > tolerance else ""
        t.add_row(c.measure, _num(c.old, ",.4g"), _num(c.new, ",.4g"), _pct(c.relative), flag)
    lines = []
    if d.status[0] != d.status[1]:
        lines.append(f"status: {d.status[0]} -> {d.status[1]}")
    for label, items in (("pools added", d.pools_added), ("pools removed", d.pools_removed),
                         ("pools resized", d.pools_resized), ("inputs changed", d.inputs_changed)):
        if items:
            lines.append(f"{label}: {'; '.join(items)}")
    return Group(t, Text("\n".join(lines) or "same pools"))
