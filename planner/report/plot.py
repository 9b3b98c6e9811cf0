"""`planner sweep --plot FILE.png`: the cost-throughput frontier with matplotlib (an optional
extra: `pip install 'planner[plot]'`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from planner.errors import InputError
from planner.studies.sweep import Sweep


def plot_sweep(s: Sweep, path: str | Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise InputError("--plot needs matplotlib: pip install 'planner[plot]' (the terminal chart needs nothing)") from None
    p = Path(path)
    if p.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise InputError(f"--plot {p}: give a .png, .svg or .pdf file")
    if not p.parent.is_dir():
        raise InputError(f"--plot {p}: folder '{p.parent}' does not exist")
    ok = [q for q in s.points if q.feasible]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=120)
    xs = [q.requests_per_s for q in ok]
    ys = [q.cost_usd_per_hour for q in ok]
    ax1.scatter(xs, ys, color="0.6", s=18, label="optimum at each point", zorder=2)
    front = sorted((q.requests_per_s, q.cost_usd_per_hour) for q in ok if q.on_frontier)
    if front:
        ax1.step([f[0] for f in front], [f[1] for f in front], where="pre", color="C0", lw=1.6, label="frontier", zorder=3)
        ax1.scatter([f[0] for f in front], [f[1] for f in front], color="C0", s=22, zorder=4)
    ax1.set_xlabel("throughput (requests/s)")
    ax1.set_ylabel("cost (USD/hour)")
    ax1.set_title("cost-throughput frontier")
    ax1.grid(alpha=0.3)
    ax1.legend(loc="upper left", fontsize=8)
    vals = [q.value for q in ok]
    ax2.plot(vals, xs, "o-", color="C1", ms=3, label="req/s")
    ax2.set_xlabel(f"{s.parameter} ({s.unit})")
    ax2.set_ylabel("throughput (requests/s)", color="C1")
    ax3 = ax2.twinx()
    ax3.plot(vals, ys, "s--", color="C2", ms=3, label="USD/h")
    ax3.set_ylabel("cost (USD/hour)", color="C2")
    ax2.set_title(f"optimum against {s.parameter} ({s.objective})")
    ax2.grid(alpha=0.3)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=p.suffix, dir=p.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format=p.suffix.lstrip(".").lower())
        os.replace(tmp, p)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
