"""Sweep benchmark (issue 4): a 20-point sweep of the QPS target on the H100 + A100 chat
example, end to end in a fresh process (`planner sweep ...`), median of 3 runs. Target: under
5 s.

    python benchmarks/sweep.py          (or: make bench-sweep)
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CMD = [
    sys.executable, "-m", "planner", "sweep", "fleets/h100-a100.yaml", "workloads/chat-llama70b.yaml",
    "--vary", "qps", "--from", "2", "--to", "30", "--steps", "20", "--json", "/dev/null",
]


def main() -> int:
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run(CMD, cwd=ROOT, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"20-point QPS sweep (fresh process each): median {med:.2f} s over 3 runs ({', '.join(f'{t:.2f}' for t in times)}); target < 5 s: {'met' if med < 5 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
