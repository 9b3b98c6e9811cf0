"""JSON export: versioned, deterministic, written atomically.

Everything but the `metadata` block is a function of the inputs: same inputs, same bytes.
"""

from __future__ import annotations

import json
import math
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


# Limits on a plan JSON read back (`diff`, `simulate`; README, "Exit codes"): a plan is tens of
# KB; these are far above any plan the planner writes.
MAX_PLAN_BYTES = 2 * 1024 * 1024  # bytes of one plan file (the examples' plans: 15-40 KB); bounds the parse's memory
MAX_PLAN_VALUES = 200_000  # values (numbers, strings, lists, objects) in one plan
MAX_PLAN_DEPTH = 32  # nesting of lists and objects (a plan needs 6)
MAX_PLAN_INT_DIGITS = 30  # digits of an integer
KNOWN_SCHEMA_VERSIONS = ("1.0", "1.1", "1.2", "1.3", "1.4")  # the versions this planner reads (1.4 it writes)
# the numbers of the schema that may be negative (changes and prices of constraints); every
# other number of a plan is a count, a rate, a time, a cost or a share, never below 0
SIGNED_FIELDS = frozenset(
    {"delta_cost_usd_per_hour", "delta_objective", "delta_requests_per_s", "gain_of_plan", "lp_shadow_price"}
)


SHARE_FIELDS = frozenset({"utilisation", "share_of_capacity", "share_of_link"})  # parts of a whole: at most 1
SHARE_TOLERANCE = 1e-3  # a share may exceed 1 by the solver's tolerances, never by more
COUNT_FIELDS = frozenset({"instances", "gpus", "owned", "used", "bought", "buy_limit", "tp", "added_gpus"})
MAX_PLAN_COUNT = 10_000_000  # GPUs or instances of one entry (the planner's own cap on purchases is 100,000)


def _schema_number_fields() -> frozenset[str]:
    """The properties the shipped schema types as numbers (alone or in an anyOf with null)."""
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    names: set[str] = set()

    def numeric(prop: dict) -> bool:
        kinds = [prop.get("type")] + [a.get("type") for a in prop.get("anyOf", []) if isinstance(a, dict)]
        return any(k in ("number", "integer") for k in kinds)

    def walk(x: object) -> None:
        if isinstance(x, dict):
            for k, v in (x.get("properties") or {}).items():
                if isinstance(v, dict) and numeric(v):
                    names.add(k)
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)

    walk(schema)
    return frozenset(names)


class _Refused(ValueError):
    pass


def _no_constant(name: str) -> float:
    raise _Refused(f"{name} is not a finite number")


def _bounded_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    if digits > MAX_PLAN_INT_DIGITS:
        raise _Refused(f"an integer of {digits} digits (integers are limited to {MAX_PLAN_INT_DIGITS} digits)")
    return int(text)


def _finite_float(text: str) -> float:
    v = float(text)
    if not math.isfinite(v):
        raise _Refused(f"{text[:30]} is not a finite number")
    return v


def _check_plan_values(doc: object, src: str) -> None:
    """The rules of the shipped schema a plan's numbers must keep: finite (checked while parsing),
    counts and quantities not negative, text that is valid Unicode, bounded nesting."""
    numbers = _schema_number_fields()
    stack: list[tuple[object, str, int]] = [(doc, "", 0)]
    seen = 0
    while stack:
        value, where, depth = stack.pop()
        seen += 1
        if seen > MAX_PLAN_VALUES:
            raise InputError(f"{src}: more than {MAX_PLAN_VALUES} values; plan files are limited to {MAX_PLAN_VALUES}")
        if depth > MAX_PLAN_DEPTH:
            raise InputError(f"{src}: nested more than {MAX_PLAN_DEPTH} deep; plan files are limited to {MAX_PLAN_DEPTH}")
        if isinstance(value, dict):
            for k, v in value.items():
                _check_text(k, src, where)
                key = f"{where}.{k}" if where else str(k)
                hint = "is this a plan written by `planner solve --json`?"
                if isinstance(v, bool) and k in numbers:
                    raise InputError(f"{src}: {key}: must be a number (got {json.dumps(v)}); {hint}")
                if isinstance(v, (int, float)) and not isinstance(v, bool):
                    if v < 0 and k not in SIGNED_FIELDS:
                        raise InputError(f"{src}: {key}: must not be negative (got {v!r}); {hint}")
                    if k in SHARE_FIELDS and v > 1 + SHARE_TOLERANCE:
                        raise InputError(f"{src}: {key}: a share must be at most 1 (got {v!r}); {hint}")
                    if k in COUNT_FIELDS and v > MAX_PLAN_COUNT:
                        raise InputError(f"{src}: {key}: {v:g} is over {MAX_PLAN_COUNT:,} (the most a count may be); {hint}")
                stack.append((v, key, depth + 1))
        elif isinstance(value, list):
            stack.extend((v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value))
        elif isinstance(value, str):
            _check_text(value, src, where)


def _check_text(text: str, src: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InputError(f"{src}: {where or '(top level)'}: text with a lone surrogate (not valid Unicode)") from None


def read_plan(path: str | Path) -> Plan:
    """A plan JSON written by `planner solve --json`, checked against the plan schema's rules
    (known schema_version, finite numbers, no negative counts, the schema's fields and types)
    before use; errors name the file (and the line, or the field)."""
    from pydantic import ValidationError

    from planner.files import decode_text, read_input

    p = Path(path)
    text = decode_text(read_input(p, "plan", MAX_PLAN_BYTES), str(p))
    try:
        doc = json.loads(text, parse_constant=_no_constant, parse_int=_bounded_int, parse_float=_finite_float)
    except json.JSONDecodeError as e:
        raise InputError(f"{p}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from None
    except _Refused as e:
        raise InputError(f"{p}: {e}; is this a plan written by `planner solve --json`?") from None
    except RecursionError:
        raise InputError(f"{p}: nested too deeply; plan files are limited to {MAX_PLAN_DEPTH} levels") from None
    except ValueError as e:
        raise InputError(f"{p}: not valid JSON: {str(e)[:100]}") from None
    if not isinstance(doc, dict) or "schema_version" not in doc:
        raise InputError(f"{p}: not a plan file (no schema_version); write one with planner solve --json")
    _check_plan_values(doc, str(p))
    version = doc["schema_version"]
    if not isinstance(version, str) or version not in KNOWN_SCHEMA_VERSIONS:
        raise InputError(
            f"{p}: plan schema {version!r} is not supported (this planner reads {', '.join(KNOWN_SCHEMA_VERSIONS)})"
        )
    try:
        return Plan.model_validate(doc)
    except ValidationError as e:
        err = e.errors(include_url=False)[0]
        where = ".".join(str(x) for x in err["loc"]) or "(top level)"
        raise InputError(f"{p}: {where}: {err['msg']} (is this a plan written by `planner solve --json`?)") from None
