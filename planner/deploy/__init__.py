"""`planner deploy`: a plan as launch configurations, router weights and a runbook.

deploy(plan, target) is a pure function of the plan and the sourced data files: it returns the
files (relative path -> text) and warnings; write_bundle writes them into a folder atomically.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from planner.deploy.engines import ENGINE_FAMILY, version_entry
from planner.deploy.layout import launches
from planner.deploy.runbook import runbook
from planner.deploy.targets import PLAIN, TARGETS, dynamo, llmd, plain
from planner.errors import InputError
from planner.plan import Plan

__all__ = ["TARGETS", "deploy", "write_bundle"]


def deploy(plan: Plan, target: str, where: str = "plan") -> tuple[dict[str, str], list[str]]:
    if target not in TARGETS:
        raise InputError(f"--target: '{target}' is not one of {', '.join(TARGETS)}")
    pools = launches(plan, where)
    warnings: list[str] = []
    version_of: dict[str, str] = {}
    for p in pools:
        engine = target if target in PLAIN else "vllm" if target == "llm-d" else ENGINE_FAMILY.get(p.engine, "vllm")
        e, w = version_entry(engine, p)
        version_of[p.id] = f"{engine} {e['versions']}"
        if w:
            warnings.append(w)
    if target in PLAIN:
        files, args = plain(plan, pools, target)
    elif target == "dynamo":
        files, args, w = dynamo(plan, pools)
        warnings += w
    else:
        files, args, w = llmd(plan, pools)
    warnings = list(dict.fromkeys(warnings))
    routing = plan.routing.model_dump(mode="json")
    routing["endpoints"] = {p.id: [f"{r.node}:{r.port}" for r in p.replicas] for p in pools}
    files["routing.json"] = json.dumps(routing, indent=2) + "\n"
    manifest = {
        "target": target,
        "plan_digest_sha256": plan.inputs.digest_sha256,
        "pools": [
            {
                "pool": p.id, "model": p.model_name, "hf_repo": p.hf_repo, "gpu": p.gpu, "role": p.role, "tp": p.tp,
                "replicas": p.instances, "engine_planned": f"{p.engine} {p.engine_versions}", "engine_launched": version_of[p.id],
                "placement": [{"node": r.node, "gpus": list(r.gpus), "port": r.port} for r in p.replicas],
                "argv": args.get(p.id, []),
            }
            for p in pools
        ],
        "warnings": warnings,
    }
    files["deploy.json"] = json.dumps(manifest, indent=2) + "\n"
    names = sorted(files) + ["RUNBOOK.md"]
    files["RUNBOOK.md"] = runbook(plan, pools, target, version_of, sorted(names), warnings)
    return dict(sorted(files.items())), warnings


def write_bundle(files: dict[str, str], out: str | Path, force: bool = False) -> Path:
    """All files into OUT at once: written into a fresh sibling folder, then renamed into place.
    An existing non-empty OUT is refused unless `force` (then it is replaced as a whole)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise InputError(f"--out {out}: folder exists and is not empty (use --force to replace it)")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise InputError(f"--out {out}: folder '{parent}' does not exist")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=parent))
    except OSError as e:
        raise InputError(f"--out {out}: cannot write: {e.strerror}") from None
    try:
        for rel, text in files.items():
            p = tmp / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            with open(p, "w", encoding="utf-8", newline="\n") as f:
                f.write(text)
            if rel.endswith(".sh"):
                os.chmod(p, 0o755)
        os.chmod(tmp, 0o755)
        old = None
        if out.is_dir():
            old = parent / f".{out.name}.old-{os.getpid()}"
            os.replace(out, old)
        os.replace(tmp, out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if isinstance(e, OSError):
            raise InputError(f"--out {out}: cannot write: {e.strerror}") from None
        raise
    return out
