"""JSON export: versioned, deterministic, written atomically.

Everything but the `metadata` block is a function of the inputs: same inputs, same bytes.
"""

from __future__ import annotations

import json
import sys
from importlib import resources
from pathlib import Path

from planner.errors import InputError
from planner.files import write_atomic
from planner.plan import Plan


def plan_json(plan: Plan) -> str:
    return json.dumps(plan.model_dump(mode="json"), indent=2, sort_keys=False) + "\n"


def export(plan: Plan, target: str) -> None:
    """`-` writes to stdout, anything else is a file path."""
    text = plan_json(plan)
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(target, text)


def schema_path() -> Path:
    return Path(str(resources.files("planner") / "schema" / "plan.schema.json"))


def generated_schema() -> str:
    schema = Plan.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def write_json(doc: object, target: str) -> None:
    """Any JSON document (comparison, sweep, simulation): `-` for stdout, else atomically."""
    text = json.dumps(doc, indent=2) + "\n"
    if target == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        write_atomic(target, text)


def read_plan(path: str | Path) -> Plan:
    """A plan JSON written by `planner solve --json`, validated against the plan schema; errors
    name the file (and the line, or the field)."""
    from pydantic import ValidationError

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{p}: file not found")
    try:
        doc = json.loads(p.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise InputError(f"{p}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror}") from None
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise InputError(f"{p}: not a plan file (no schema_version); write one with planner solve --json")
    if str(doc["schema_version"]).split(".")[0] != "1":
        raise InputError(f"{p}: plan schema {doc['schema_version']} is not supported (this planner reads 1.x)")
    try:
        return Plan.model_validate(doc)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        where = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise InputError(f"{p}: {where}: {err['msg']} (is this a plan written by `planner solve --json`?)") from None
