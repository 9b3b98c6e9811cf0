"""Worst time and peak memory of any single bad input (issue 14's goal: 2 s and 300 MB).

Runs every bad-input case of tests/test_hostile.py (each YAML attack through the fleet reader,
each damaged plan through `diff`, each CSV attack through its three readers, the bad options)
as its own `planner` process and reports its wall time and peak resident memory (wait4).

    .venv/bin/python benchmarks/hostile.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import test_hostile as h  # noqa: E402


TIME = "/usr/bin/time"  # GNU time: the peak memory of the command alone (wait4's of a forked
# child also counts the memory this script held at the fork)


def run(args: list) -> tuple[int, float, float, str]:
    cmd = [sys.executable, "-m", "planner", *map(str, args)]
    if os.path.exists(TIME):
        cmd = [TIME, "-f", "maxrss_kb=%M", *cmd]
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    err = p.stderr.read().decode(errors="replace")
    _, status, usage = os.wait4(p.pid, 0)
    seconds = time.perf_counter() - t0
    kb = usage.ru_maxrss
    lines = err.strip().splitlines()
    if lines and lines[-1].startswith("maxrss_kb="):
        kb = int(lines.pop().split("=")[1])
    lines = [ln for ln in lines if not ln.startswith("Command exited with non-zero status")]  # GNU time's
    return os.waitstatus_to_exitcode(status), seconds, kb / 1024, "\n".join(lines)


def main() -> int:
    cases: list[tuple[str, list]] = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        plan = base / "plan.json"
        subprocess.run([sys.executable, "-m", "planner", "solve", h.FLEET, h.CHAT, *h.FAST, "--json", plan], check=True)
        doc = json.loads(plan.read_text())
        for kind, (text, _) in h.YAML_BAD.items():
            d = base / f"y-{kind}"
            d.mkdir()
            cases.append((f"yaml:fleet:{kind}", h._yaml_places(d, text)["fleet"]))
        for kind in h.PLAN_BAD:
            bad = base / f"p-{kind}.json"
            bad.write_text(h._damaged(doc, kind))
            cases.append((f"plan:diff:{kind}", ["diff", plan, bad, "--fail-on-regression"]))
        for kind in h.CSV_BAD:
            d = base / f"c-{kind}"
            d.mkdir()
            (d / "plan.json").write_text(json.dumps(doc))
            for reader, args in h._csv_places(d, kind).items():
                cases.append((f"csv:{reader}:{kind}", args))
        # inputs just under their byte limits, bad at the end (the slowest to answer)
        from planner.files import MAX_CSV_BYTES
        from planner.report.export import MAX_PLAN_BYTES
        from planner.specs.distributions import MAX_TRACE_BYTES
        from planner.specs.yamlio import MAX_YAML_BYTES

        y = base / "big.yaml"
        y.write_text("gpus:\n" + "  - {type: h100-sxm, count: 1}\n" * ((MAX_YAML_BYTES - 100) // 31))
        cases.append(("limit:yaml-1MiB", ["solve", y, h.CHAT, *h.FAST]))
        big = dict(doc, notes=["a"] * ((MAX_PLAN_BYTES - 20_000) // 4))
        bp = base / "big.json"
        bp.write_text(json.dumps(big, separators=(",", ":")))
        cases.append(("limit:plan-2MiB", ["diff", plan, bp]))
        row = "2023-11-16 18:15:46.6805900,10,10\n"
        tr = base / "big-trace.csv"
        tr.write_text(h.TRACE_HEADER + "\n" + row * ((MAX_TRACE_BYTES - 100) // len(row)) + "bad,row,x\n")
        cases.append(("limit:trace-8MiB", ["simulate", plan, h.CHAT, "--fleet", h.FLEET, "--trace", tr]))
        row = "h100-sxm,llama-3.1-8b,1,prefill,1,512,,10\n"
        mc = base / "big-m.csv"
        mc.write_text(h.GENERIC_HEADER + "\n" + row * ((MAX_CSV_BYTES - 200) // len(row)) + "h100-sxm,llama-3.1-8b,1,prefill,1,512,,-1\n")
        cases.append(("limit:measurements-2MiB", ["calibrate", mc, "--gpu", "h100-sxm", "--json"]))
        cases.append(("option:require-qps-nan", ["solve", h.FLEET, h.CHAT, *h.FAST, "--require-qps", "nan"]))
        cases.append(("option:requests-1e12", ["simulate", plan, h.CHAT, "--requests", "1000000000000"]))
        cases.append(("option:batches-1e30", ["model", "--gpu", "h100-sxm", "--model", "llama-3.1-8b", "--batches", "1" + "0" * 30]))
        worst_t = worst_m = 0.0
        bad = 0
        for name, args in cases:
            code, secs, mib, err = run(args)
            lines = [ln for ln in err.splitlines() if ln.strip()]
            ok = code == 2 and len(lines) == 1 and lines[0].startswith("error: ")
            bad += not ok
            worst_t, worst_m = max(worst_t, secs), max(worst_m, mib)
            print(f"{'ok ' if ok else 'BAD'} {name:40s} exit {code}  {secs:5.2f} s  {mib:6.1f} MiB  {lines[-1][:90] if lines else ''}")
        print(f"{len(cases)} bad inputs, {bad} not answered by one error line with exit 2; "
              f"worst {worst_t:.2f} s, peak {worst_m:.1f} MiB")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
