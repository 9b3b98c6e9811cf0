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


def _positive(v: float) -> float:
    _finite(v)
    if v <= 0:
        raise ValueError("must be greater than 0")
    return v


def _non_negative(v: float) -> float:
    _finite(v)
    if v < 0:
        raise ValueError("must be 0 or more")
    return v


PositiveFloat = Annotated[float, AfterValidator(_positive)]
NonNegativeFloat = Annotated[float, AfterValidator(_non_negative)]


_AT = "@at:"


def at(path: tuple[str | int, ...], message: str) -> str:
    """A validator message that carries the position it is about (read by
    `describe_validation_error`), for checks that span several fields."""
    return f"{_AT}{'/'.join(map(str, path))}|{message}"


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
    loc = _clean_loc(first["loc"])
    msg = _message(first)
    if msg.startswith(_AT):
        where, _, msg = msg[len(_AT) :].partition("|")
        loc = loc + tuple(int(p) if p.isdigit() else p for p in where.split("/") if p)
    if first["type"] == "extra_forbidden" and isinstance(loc[-1], str):
        siblings = [
            _clean_loc(err["loc"])[-1] for err in errors if err["type"] == "missing" and _clean_loc(err["loc"])[:-1] == loc[:-1]
        ]
        close = difflib.get_close_matches(loc[-1], [str(x) for x in siblings], n=1, cutoff=0.6)
        if close:
            msg += f"; did you mean '{close[0]}'?"
    more = f" (and {len(errors) - 1} more error(s))" if len(errors) > 1 else ""
    return f"{doc.where(loc)}: {format_path(loc)}: {msg}{more}"


def _clean_loc(loc: tuple[Any, ...]) -> tuple[str | int, ...]:
    # pydantic adds union-branch and validator tags to locations ('function-after[...]', 'str');
    # keep only the parts that are real keys or indices of the document
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, int):
            out.append(part)
        elif isinstance(part, str) and "[" not in part and part not in _TYPE_TAGS:
            out.append(part)
    return tuple(out)


_TYPE_TAGS = {"str", "int", "float", "bool", "dict", "list", "literal['max']", "ModelArchitecture"}


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
