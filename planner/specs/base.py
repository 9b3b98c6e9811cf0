"""Shared pieces of the input schemas: strict models and error reporting with positions."""

from __future__ import annotations

import difflib
import math
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from planner.errors import InputError
from planner.specs.yamlio import Located, format_path

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Unknown keys are errors; values are not coerced from strings; models are frozen."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _finite(v: float) -> float:
    if not math.isfinite(v):
        raise ValueError("must be a finite number")
    return v


def bounded(low: float, high: float, what: str):
    """A finite number in [low, high]; the bounds keep the MILP's coefficients meaningful (a
    GPU-hour at $1e308 or a 1e-20 $/h price only produce solver round-off)."""

    def check(v: float) -> float:
        _finite(v)
        if not low <= v <= high:
            raise ValueError(f"must be between {low:g} and {high:g} {what}")
        return v

    return Annotated[float, AfterValidator(check)]


def _price(v: float) -> float:
    _finite(v)
    if v != 0 and not 1e-3 <= v <= 1000:
        raise ValueError("must be 0 (free) or between 0.001 and 1000 USD per GPU-hour")
    if v < 0:
        raise ValueError("must be 0 or more")
    return v


PriceUsdPerHour = Annotated[float, AfterValidator(_price)]


_AT = "@at:"


def at(path: tuple[str | int, ...], message: str) -> str:
    """A validator message that carries the position it is about (read by
    `describe_validation_error`), for checks that span several fields."""
    return f"{_AT}{'/'.join(map(str, path))}|{message}"


def plain_message(e: ValidationError) -> str:
    """The first error of a validation that has no document to point into (a fleet rebuilt from
    a plan, say): its message without pydantic's "Value error, " prefix or the `at` marker,
    prefixed with the field path."""
    first = e.errors(include_url=False)[0]
    msg = _message(first)
    loc = tuple(first["loc"])
    if msg.startswith(_AT):
        where, _, msg = msg[len(_AT) :].partition("|")
        loc = loc + tuple(int(p) if p.isdigit() else p for p in where.split("/") if p)
    loc = tuple(p for p in loc if isinstance(p, int) or "[" not in p)  # no union/validator tags
    return f"{format_path(loc)}: {msg}" if loc else msg


def validate_document(model: type[M], doc: Located, what: str) -> M:
    """Validate a located YAML document; the first error names file:line:col and field."""
    if not isinstance(doc.data, dict):
        raise InputError(f"{doc.where(())}: a {what} file must be a YAML mapping at the top level")
    try:
        return model.model_validate(doc.data)
    except ValidationError as e:
        raise InputError(describe_validation_error(e, doc)) from None


def describe_validation_error(e: ValidationError, doc: Located) -> str:
    # an unknown key is usually the cause of a "missing" one beside it (a typo): report it first
    errors = sorted(e.errors(include_url=False), key=lambda err: err["type"] != "extra_forbidden")
    first = errors[0]
    loc = _clean_loc(first["loc"], doc.data)
    msg = _message(first)
    if msg.startswith(_AT):
        where, _, msg = msg[len(_AT) :].partition("|")
        loc = loc + tuple(int(p) if p.isdigit() else p for p in where.split("/") if p)
    if first["type"] == "extra_forbidden" and isinstance(loc[-1], str):
        siblings = [
            _clean_loc(err["loc"], doc.data)[-1]
            for err in errors
            if err["type"] == "missing" and _clean_loc(err["loc"], doc.data)[:-1] == loc[:-1]
        ]
        close = difflib.get_close_matches(loc[-1], [str(x) for x in siblings], n=1, cutoff=0.6)
        if close:
            msg += f"; did you mean '{close[0]}'?"
    more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
    return f"{doc.where(loc)}: {format_path(loc)}: {msg}{more}"


def _clean_loc(loc: tuple[Any, ...], data: Any) -> tuple[str | int, ...]:
    """The part of pydantic's error location that is a path in the document.

    pydantic inserts union-branch and validator tags ('function-after[...]', 'str', 'list[...]')
    between real keys; walking the document itself tells them apart from a user's key that
    happens to be called 'str'. A last part not in the document (a missing field) is kept."""
    out: list[str | int] = []
    cur = data
    for i, part in enumerate(loc):
        if isinstance(cur, dict) and part in cur:
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            out.append(part)
            cur = cur[part]
        elif i == len(loc) - 1 and isinstance(cur, dict) and isinstance(part, str):
            out.append(part)  # a missing field
    return tuple(out)


def _message(err: dict[str, Any]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        return "unknown field (not part of the schema; check the spelling)"
    if kind == "missing":
        return "required field is missing"
    msg = str(err["msg"])
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    inp = err.get("input")
    if kind not in ("missing",) and not isinstance(inp, (dict, list)):
        msg += f" (got {inp!r})"
    return msg
