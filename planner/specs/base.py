"""Shared pieces of the input schemas: strict models and error reporting with positions."""

from __future__ import annotations

import difflib
import math
from types import UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

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


MAX_REPORTED_ERRORS = 5  # input errors shown for one file (the rest are counted)


def validate_document(model: type[M], doc: Located, what: str) -> M:
    """Validate a located YAML document; the error names file:line:col and field of each of
    its first MAX_REPORTED_ERRORS errors."""
    if not isinstance(doc.data, dict):
        raise InputError(f"{doc.where(())}: a {what} file must be a YAML mapping at the top level")
    try:
        return model.model_validate(doc.data)
    except ValidationError as e:
        raise InputError(describe_validation_error(e, doc, model)) from None


def describe_validation_error(e: ValidationError, doc: Located, model: type[BaseModel] | None = None) -> str:
    """One line: each error as `file:line:col: path: message`, the first MAX_REPORTED_ERRORS
    joined by "; also ", then how many more. An unknown key is usually the cause of a
    "missing" one beside it (a typo): it comes first, with "did you mean", and the missing
    field it explains is not repeated."""
    errors = sorted(e.errors(include_url=False), key=lambda err: err["type"] != "extra_forbidden")
    errors = _one_branch(errors, doc.data)
    described: list[str] = []
    explained: set[tuple[str | int, ...]] = set()
    for err in errors:
        loc = _clean_loc(err["loc"], doc.data, keep_last=err["type"] == "missing")
        if err["type"] == "missing" and loc in explained:
            continue
        msg = _message(err)
        if msg.startswith(_AT):
            where, _, msg = msg[len(_AT) :].partition("|")
            loc = loc + tuple(int(p) if p.isdigit() else p for p in where.split("/") if p)
        if err["type"] == "extra_forbidden" and loc and isinstance(loc[-1], str):
            siblings = [
                str(_clean_loc(x["loc"], doc.data)[-1])
                for x in errors
                if x["type"] == "missing" and _clean_loc(x["loc"], doc.data)[:-1] == loc[:-1]
            ]
            close = difflib.get_close_matches(loc[-1], siblings, n=1, cutoff=0.6)
            if not close and model is not None:
                fields = sorted(_field_names_at(model, loc[:-1]) - set(_keys_at(doc.data, loc[:-1])))
                close = difflib.get_close_matches(loc[-1], fields, n=1, cutoff=0.6)
                if not close:  # `ttft` for `ttft_ms`: a field the key begins
                    close = [f for f in fields if f.startswith(str(loc[-1]) + "_")][:1]
            if close:
                msg += f"; did you mean '{close[0]}'?"
                explained.add(loc[:-1] + (close[0],))
        described.append(f"{doc.where(loc)}: {format_path(loc)}: {msg}")
    shown = described[:MAX_REPORTED_ERRORS]
    more = len(described) - len(shown)
    return "; also ".join(shown) + (f" (and {more} more error(s))" if more else "")


def _is_type_mismatch(err: dict[str, Any]) -> bool:
    return err["type"].endswith("_type") or err["type"] in ("model_attributes_type", "union_tag_invalid")


def _one_branch(errors: list[dict[str, Any]], data: Any) -> list[dict[str, Any]]:
    """A value checked against a union (`model: <catalog id> | <architecture>`) fails in each
    branch; keep the branch the value is written for: a type mismatch is dropped when another
    error lies at or below the same place, and of several mismatches at one place the first
    is kept."""
    locs = [_clean_loc(err["loc"], data, keep_last=True) for err in errors]
    keep, seen_mismatch = [], set()
    for i, err in enumerate(errors):
        if _is_type_mismatch(err):
            here = _clean_loc(err["loc"], data, keep_last=False)
            deeper = any(
                j != i and not _is_type_mismatch(other) and locs[j][: len(here)] == here
                for j, other in enumerate(errors)
            )
            if deeper or here in seen_mismatch:
                continue
            seen_mismatch.add(here)
        keep.append(err)
    return keep or errors


def _keys_at(data: Any, path: tuple[str | int, ...]) -> list[str]:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return []
    return [str(k) for k in data] if isinstance(data, dict) else []


def _leaves(ann: Any) -> list[Any]:
    """The types an annotation stands for: Annotated, Optional and unions unwrapped."""
    origin = get_origin(ann)
    if origin is Annotated:
        return _leaves(get_args(ann)[0])
    if origin in (Union, UnionType):
        return [t for a in get_args(ann) for t in _leaves(a)]
    return [ann]


def _field_names_at(model: type[BaseModel], path: tuple[str | int, ...]) -> set[str]:
    """The field names of the schema at `path` (a mapping's keys), walking the models' annotations."""
    anns: list[Any] = [model]
    for part in path:
        nxt: list[Any] = []
        for leaf in (t for a in anns for t in _leaves(a)):
            origin, args = get_origin(leaf), get_args(leaf)
            if isinstance(part, int) and origin in (list, tuple) and args:
                nxt.append(args[0])
            elif isinstance(part, str) and isinstance(leaf, type) and issubclass(leaf, BaseModel):
                f = leaf.model_fields.get(part)
                if f is not None:
                    nxt.append(f.annotation)
            elif isinstance(part, str) and origin is dict and len(args) == 2:
                nxt.append(args[1])
        anns = nxt
    names: set[str] = set()
    for leaf in (t for a in anns for t in _leaves(a)):
        if isinstance(leaf, type) and issubclass(leaf, BaseModel):
            names.update(f.alias or n for n, f in leaf.model_fields.items())
    return names


def _clean_loc(loc: tuple[Any, ...], data: Any, keep_last: bool = True) -> tuple[str | int, ...]:
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
        elif keep_last and i == len(loc) - 1 and isinstance(cur, dict) and isinstance(part, str):
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
