"""The shipped examples whose plans are kept as golden files (tests/golden/*.json).

Regenerate after an intended change with `make golden` and review the diff.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "golden"

# (fleet, workload, objective, qps[, engine]): the default engine unless a fifth item names one
CASES = [
    ("h100-a100", "chat-llama70b", None, None),
    ("h100-a100", "chat-llama70b", None, None, "vllm-2023"),  # old results reproduce
    ("h100-a100", "batch-llama70b", None, None),
    ("h100-a100", "reasoning-qwen32b", None, None),
    ("cloud-mix", "rag-llama8b", None, None),
    ("cloud-mix", "rag-llama8b", "max-throughput", None),
    ("h100-a100", "azure-conv-llama70b", None, None),
    ("h100-a100-buy", "chat-llama70b", "min-cost", 40.0),  # purchase mode
    ("h100-a100", "grid-conv-llama70b", None, None),  # a load tester's prompt x output grid
]


def case_name(fleet: str, workload: str, objective: str | None, qps: float | None, engine: str | None = None) -> str:
    return "__".join(x for x in (fleet, workload, objective, f"qps{qps:g}" if qps else None, engine) if x)


def plan_document(
    fleet: str, workload: str, objective: str | None, qps: float | None, engine: str | None = None, solver: str = "highs",
    explain: bool = True,
) -> dict:
    from planner.api import plan_files
    from planner.report.export import plan_json

    plan = plan_files(
        ROOT / "fleets" / f"{fleet}.yaml", ROOT / "workloads" / f"{workload}.yaml", objective, qps, solver, explain, engine=engine
    )
    doc = json.loads(plan_json(plan))
    doc.pop("metadata")
    return doc


def regenerate() -> None:
    GOLDEN.mkdir(exist_ok=True)
    for case in CASES:
        doc = plan_document(*case)
        (GOLDEN / f"{case_name(*case)}.json").write_text(json.dumps(doc, indent=2) + "\n")
        print(f"wrote tests/golden/{case_name(*case)}.json")


if __name__ == "__main__":
    regenerate()
