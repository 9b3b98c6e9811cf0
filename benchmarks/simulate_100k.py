"""Wall time of the simulator on 100,000 requests (the chat example at its planned load).

    python benchmarks/simulate_100k.py [--requests N] [--seed S]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    from planner.api import load_problem, plan_problem
    from planner.perf.capacity import build_capacity_table
    from planner.sim import simulate

    problem = load_problem(ROOT / "fleets" / "h100-a100.yaml", ROOT / "workloads" / "chat-llama70b.yaml")
    table = build_capacity_table(problem)
    plan = plan_problem(problem, explain=False)
    t0 = time.perf_counter()
    r = simulate(problem, table, plan, n_requests=a.requests, seed=a.seed)
    wall = time.perf_counter() - t0
    total = r.throughput[-1]
    print(
        f"{a.requests:,} requests over {r.inputs.duration_s:,.0f} simulated s: {wall:.2f} s wall "
        f"({wall / a.requests * 1e6:.1f} us per request); throughput ratio {total.throughput_ratio:.3f}"
    )


if __name__ == "__main__":
    main()
