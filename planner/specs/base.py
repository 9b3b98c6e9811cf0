"""Shared pieces of the input schemas: strict models and error reporting with positions."""

from __future__ import annotations

import math
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError

from planner.errors import InputError
from planner.specs.yamlio import Located, format_path

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """Unknown keys are errors; values are not coerced from strings; models are frozen."""

    model_config = ConfigDict(extra="forbid", strict=False, frozen=True)


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


def validate_document(model: type[M], doc: Located, what: str) -> M:
    """Validate a located YAML document; the first error names file:line:col and field."""
    if not isinstance(doc.data, dict):
        raise InputError(f"{doc.where(())}: a {what} file must be a YAML mapping at the top level")
    try:
        return model.model_validate(doc.data)
    except ValidationError as e:
        raise InputError(describe_validation_error(e, doc)) from None


def describe_validation_error(e: ValidationError, doc: Located) -> str:
    errors = e.errors(include_url=False)
    first = errors[0]
    loc = _clean_loc(first["loc"])
    msg = _message(first)
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
