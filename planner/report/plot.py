"""`planner sweep --plot FILE.png`: the sweep drawn with matplotlib (an optional extra: in a
checkout `pip install -e '.[plot]'`, else `pip install 'planner[plot]'`).

Left: the cost-throughput frontier (every point's optimum; those on the frontier in colour and
joined). Right: what the sweep moved, against the swept value: the objective's own measure
(USD per million output tokens for max-tokens-per-dollar) beside throughput and cost.
`check_plot_target` runs before the sweep, so a missing matplotlib or a bad path costs nothing.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from planner.errors import InputError
from planner.studies.sweep import Sweep

INSTALL = "pip install -e '.[plot]' in a checkout, pip install 'planner[plot]' otherwise"


def check_plot_target(path: str | Path) -> Path:
    """The plot's path, checked (matplotlib importable, a known suffix, an existing folder)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise InputError(f"--plot needs matplotlib: {INSTALL} (the terminal chart needs nothing)") from None
    p = Path(path)
    if p.suffix.lower() not in (".png", ".svg", ".pdf"):
        raise InputError(f"--plot {p}: give a .png, .svg or .pdf file")
    if not p.parent.is_dir():
        raise InputError(f"--plot {p}: folder '{p.parent}' does not exist")
    return p


def plot_sweep(s: Sweep, path: str | Path) -> None:
    p = check_plot_target(path)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ok = [q for q in s.points if q.feasible]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.4), dpi=120)
    fig.suptitle(f"{s.workload} on {s.fleet}: sweep of {s.parameter} ({s.unit}), {s.objective}", fontsize=10)
    off = [q for q in ok if not q.on_frontier]
    if off:
        ax1.scatter([q.requests_per_s for q in off], [q.cost_usd_per_hour for q in off], color="0.6", s=18,
                    label="optimum, off the frontier", zorder=2)
    front = sorted((q.requests_per_s, q.cost_usd_per_hour) for q in ok if q.on_frontier)
    if front:
        ax1.step([f[0] for f in front], [f[1] for f in front], where="pre", color="C0", lw=1.6, zorder=3)
        ax1.scatter([f[0] for f in front], [f[1] for f in front], color="C0", s=22, zorder=4,
                    label="optimum on the frontier")
    ax1.set_xlabel("throughput (requests/s)")
    ax1.set_ylabel("cost (USD/hour)")
    ax1.set_title("cost-throughput frontier", fontsize=9)
    ax1.grid(alpha=0.3)
    ax1.legend(loc="upper left", fontsize=8)

    vals = [q.value for q in ok]
    if s.objective == "max-tokens-per-dollar":
        first = ("USD per million output tokens", [q.usd_per_million_output_tokens for q in ok])
    else:
        first = ("throughput (requests/s)", [q.requests_per_s for q in ok])
    second = ("cost (USD/hour)", [q.cost_usd_per_hour for q in ok])
    if s.objective == "max-tokens-per-dollar":
        second = ("throughput (requests/s)", [q.requests_per_s for q in ok])
    (l1,) = ax2.plot(vals, first[1], "o-", color="C1", ms=3, label=first[0])
    ax2.set_xlabel(f"{s.parameter} ({s.unit})")
    ax2.set_ylabel(first[0], color="C1")
    ax3 = ax2.twinx()
    (l2,) = ax3.plot(vals, second[1], "s--", color="C2", ms=3, label=second[0])
    ax3.set_ylabel(second[0], color="C2")
    ax2.set_title(f"the optimum against {s.parameter}", fontsize=9)
    ax2.grid(alpha=0.3)
    ax2.legend(handles=[l1, l2], loc="best", fontsize=8)
    fig.tight_layout()
    fd, tmp = tempfile.mkstemp(prefix=".plot.", suffix=p.suffix, dir=p.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, format=p.suffix.lstrip(".").lower())
        os.replace(tmp, p)
    finally:
        plt.close(fig)
        if os.path.exists(tmp):
            os.unlink(tmp)
