"""Safe YAML reading that remembers where every value came from.

Values are built from the composed node tree (safe loader only: no tags, no object
construction), and each value's position is recorded under its path, so a schema error can
name `file:line:column` and the field path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from planner.errors import InputError

try:  # libyaml is an order of magnitude faster where it is available
    _Base = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on the PyYAML build
    _Base = yaml.SafeLoader


class _Loader(_Base):
    """Safe loading, plus YAML 1.2 floats without a dot (`1e-3`), which YAML 1.1 reads as
    strings: a user who writes `price_usd_per_hour: 1e-1` means a number."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

# Limits on a YAML input (fleet, workload, scenarios, efficiency profile; README, "Exit codes"):
# the shipped files are a few KB with a few hundred values; each limit is far above any real
# file and keeps a hostile one under a second and a few tens of MB.
MAX_YAML_BYTES = 1024 * 1024  # bytes of one YAML file
MAX_INPUT_BYTES = MAX_YAML_BYTES  # the former name
MAX_YAML_NODES = 20_000  # values (scalars, lists, mappings), aliases expanded: stops "billion laughs"
MAX_YAML_ALIASES = 100  # `*alias` references in one file
MAX_YAML_DEPTH = 32  # nesting of lists and mappings (a fleet needs 5)
MAX_INT_DIGITS = 30  # digits of an integer (the largest real value, mem_bytes, has 12)

Path_t = tuple[str | int, ...]


@dataclass
class Located:
    """A parsed document with the (line, column) of each value, 1-based."""

    source: str
    data: Any
    marks: dict[Path_t, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path_t) -> str:
        """`file:line:col` of the deepest known ancestor of `path`."""
        p = tuple(path)
        while p and p not in self.marks:
            p = p[:-1]
        line, col = self.marks.get(p, (1, 1))
        return f"{self.source}:{line}:{col}"


def format_path(path: Path_t) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(document)"


def read_yaml(path: str | Path) -> Located:
    p = Path(path)
    from planner.files import decode_text, read_input

    text = decode_text(read_input(p, "YAML input", MAX_YAML_BYTES), str(p))
    return parse_yaml(text, str(p))


def _prescan(text: str, source: str) -> None:
    """Count values, aliases and nesting from the event stream (no tree is built), so that a
    file over a limit is refused before it costs memory."""
    nodes = aliases = depth = 0
    for ev in yaml.parse(text, Loader=_Loader):
        if isinstance(ev, yaml.NodeEvent):
            nodes += 1
            if nodes > MAX_YAML_NODES:
                raise InputError(f"{_mark(ev, source)}: more than {MAX_YAML_NODES} values (elements); YAML inputs are limited to {MAX_YAML_NODES}")
            if isinstance(ev, yaml.AliasEvent):
                aliases += 1
                if aliases > MAX_YAML_ALIASES:
                    raise InputError(f"{_mark(ev, source)}: more than {MAX_YAML_ALIASES} aliases; YAML inputs are limited to {MAX_YAML_ALIASES}")
        if isinstance(ev, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise InputError(f"{_mark(ev, source)}: lists and mappings nested more than {MAX_YAML_DEPTH} deep; YAML inputs are limited to {MAX_YAML_DEPTH}")
        elif isinstance(ev, yaml.CollectionEndEvent):
            depth -= 1


def _mark(ev: yaml.Event, source: str) -> str:
    m = ev.start_mark
    return f"{source}:{m.line + 1}:{m.column + 1}" if m else source


def parse_yaml(text: str, source: str = "<string>") -> Located:
    try:
        _prescan(text, source)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        raise InputError(f"{where}: YAML syntax error: {e.problem or e.context}") from None
    except yaml.YAMLError as e:
        raise InputError(f"{source}: YAML error: {e}") from None
    doc = Located(source=source, data=None)
    if node is None:
        raise InputError(f"{source}:1:1: the file is empty")
    doc.data = _build(node, (), doc, [0])
    return doc


_scalar_loader = _Loader("")

# plain data only: what YAML's core schema resolves by itself (no !!python/..., no !!binary)
_PLAIN_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}


_INT, _FLOAT = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"


def _build(node: yaml.Node, path: Path_t, doc: Located, count: list[int]) -> Any:
    count[0] += 1
    if count[0] > MAX_YAML_NODES:  # aliases expanded ("billion laughs")
        raise InputError(
            f"{_at(node, doc)}: more than {MAX_YAML_NODES} values (elements) once aliases are expanded; "
            f"YAML inputs are limited to {MAX_YAML_NODES}"
        )
    if len(path) > MAX_YAML_DEPTH:  # a recursive alias (`&a [*a]`)
        raise InputError(
            f"{_at(node, doc)}: lists and mappings nested more than {MAX_YAML_DEPTH} deep (a recursive alias?); "
            f"YAML inputs are limited to {MAX_YAML_DEPTH}"
        )
    doc.marks[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if node.tag not in _PLAIN_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        raise InputError(f"{_at(node, doc)}: unsupported YAML tag '{tag}' (input files hold plain data only)")
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise InputError(f"{_at(key_node, doc)}: mapping keys must be plain names")
            if key_node.tag not in _PLAIN_TAGS:
                tag = key_node.tag.replace("tag:yaml.org,2002:", "!!")
                raise InputError(f"{_at(key_node, doc)}: unsupported YAML tag '{tag}' on a key (plain data only)")
            key = str(_scalar(key_node, path, doc, "key"))
            if key in out:
                raise InputError(
                    f"{_at(key_node, doc)}: duplicate key '{key}' in {format_path(path)}"
                )
            if key == "<<":
                raise InputError(f"{_at(key_node, doc)}: YAML merge keys are not supported")
            out[key] = _build(value_node, path + (key,), doc, count)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(v, path + (i,), doc, count) for i, v in enumerate(node.value)]
    return _scalar(node, path, doc, "value")


def _scalar(node: yaml.Node, path: Path_t, doc: Located, what: str) -> Any:
    """A scalar's value; a value its tag cannot read (`!!int abc`) is an input error."""
    value = str(node.value)
    if node.tag in (_INT, _FLOAT) and not node.style and ":" in value:
        # YAML 1.1 sexagesimal (`1:30` = 90): read as the text written, as YAML 1.2 does
        return value
    if node.tag == _INT and sum(c.isdigit() for c in value) > MAX_INT_DIGITS:
        raise InputError(
            f"{_at(node, doc)}: {format_path(path)}: an integer of {sum(c.isdigit() for c in value)} digits; "
            f"integers are limited to {MAX_INT_DIGITS} digits"
        )
    try:
        return _scalar_loader.construct_object(node)
    except Exception:  # noqa: BLE001 - ValueError, OverflowError, ConstructorError: the text does not fit the tag
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        shown = value if len(value) <= 40 else value[:40] + "..."
        on = f" on a key of {format_path(path)}" if what == "key" else f" for {format_path(path)}"
        raise InputError(f"{_at(node, doc)}: cannot read {shown!r} as {tag}{on}") from None


def _at(node: yaml.Node, doc: Located) -> str:
    return f"{doc.source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"
