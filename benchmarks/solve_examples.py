"""Wall time of `planner solve` on every shipped example, end to end (median of 5 runs).

    make bench            (or: python benchmarks/solve_examples.py [--runs N])

Each run is a fresh process, as a user runs it: interpreter start-up, imports, YAML, the
capacity table, the main solve, the explaining re-solves (baselines, marginal values, LP
shadow prices) and the report. The in-process split below it shows where the time goes.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = [
    ("fleets/h100-a100.yaml", "workloads/chat-llama70b.yaml", []),
    ("fleets/h100-a100.yaml", "workloads/batch-llama70b.yaml", []),
    ("fleets/h100-a100.yaml", "workloads/reasoning-qwen32b.yaml", []),
    ("fleets/h100-a100.yaml", "workloads/azure-code-llama70b.yaml", []),
    ("fleets/h100-a100.yaml", "workloads/azure-conv-llama70b.yaml", []),
    ("fleets/cloud-mix.yaml", "workloads/rag-llama8b.yaml", []),
    ("fleets/cloud-mix.yaml", "workloads/rag-llama8b.yaml", ["--objective", "min-cost", "--qps", "40"]),
]


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    return time.perf_counter() - t0


def split(fleet: str, workload: str, extra: list[str]) -> str:
    from planner.api import default_objective, load_problem
    from planner.optimize.scenarios import solve_and_explain
    from planner.optimize.solve import solve
    from planner.perf.capacity import build_capacity_table
    from planner.plan import build_plan

    qps = float(extra[extra.index("--qps") + 1]) if "--qps" in extra else None
    t0 = time.perf_counter()
    p = load_problem(ROOT / fleet, ROOT / workload, qps)
    obj = extra[extra.index("--objective") + 1] if "--objective" in extra else default_objective(p)
    t1 = time.perf_counter()
    table = build_capacity_table(p)
    t2 = time.perf_counter()
    sol = solve(p, table, obj)
    t3 = time.perf_counter()
    done = solve_and_explain(p, table, obj, "highs", lambda: solve(p, table, obj))
    t4 = time.perf_counter()
    build_plan(p, table, done.solution, done.baselines, done.marginals, done.shadow)
    t5 = time.perf_counter()
    return (
        f"load {1e3 * (t1 - t0):.0f} ms, capacities {1e3 * (t2 - t1):.0f} ms, main solve alone {1e3 * (t3 - t2):.0f} ms "
        f"({sol.solves} solves, {len(sol.milp.configs)} configurations), main solve + explaining re-solves "
        f"in parallel {1e3 * (t4 - t3):.0f} ms, plan {1e3 * (t5 - t4):.0f} ms"
    )


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    planner = [sys.executable, "-m", "planner"]
    t_import = statistics.median(wall([sys.executable, "-c", "import planner.cli, planner.api, planner.report.terminal"]) for _ in range(args.runs))
    print(f"python start-up + imports alone: {t_import:.3f} s (median of {args.runs})\n")
    print(f"{'example':<72} {'median s':>8} {'min s':>7} {'max s':>7}")
    worst = 0.0
    for fleet, workload, extra in EXAMPLES:
        cmd = planner + ["solve", fleet, workload, *extra]
        times = [wall(cmd) for _ in range(args.runs)]
        med = statistics.median(times)
        worst = max(worst, med)
        name = f"{fleet} {workload} {' '.join(extra)}".strip()
        print(f"{name:<72} {med:>8.3f} {min(times):>7.3f} {max(times):>7.3f}")
        print(f"    in-process: {split(fleet, workload, extra)}")
    print(f"\nslowest example, median wall: {worst:.3f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
