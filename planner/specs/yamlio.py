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

MAX_INPUT_BYTES = 16 * 1024 * 1024  # a fleet or workload file is a few KB; refuse runaway inputs

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
    if not p.exists():
        raise InputError(f"{p}: file not found")
    if not p.is_file():
        raise InputError(f"{p}: not a regular file")
    try:
        size = p.stat().st_size
        if size > MAX_INPUT_BYTES:
            raise InputError(f"{p}: file is {size} bytes; inputs are limited to {MAX_INPUT_BYTES}")
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise InputError(f"{p}: cannot read: {e.strerror}") from None
    return parse_yaml(text, str(p))


def parse_yaml(text: str, source: str = "<string>") -> Located:
    try:
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
    doc.data = _build(node, (), doc)
    return doc


_scalar_loader = _Loader("")

# plain data only: what YAML's core schema resolves by itself (no !!python/..., no !!binary)
_PLAIN_TAGS = {
    "tag:yaml.org,2002:" + t for t in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}


def _build(node: yaml.Node, path: Path_t, doc: Located) -> Any:
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
            key = str(_scalar_loader.construct_object(key_node))
            if key in out:
                raise InputError(
                    f"{_at(key_node, doc)}: duplicate key '{key}' in {format_path(path)}"
                )
            if key == "<<":
                raise InputError(f"{_at(key_node, doc)}: YAML merge keys are not supported")
            out[key] = _build(value_node, path + (key,), doc)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(v, path + (i,), doc) for i, v in enumerate(node.value)]
    try:
        return _scalar_loader.construct_object(node)
    except yaml.MarkedYAMLError as e:
        raise InputError(f"{_at(node, doc)}: {e.problem}") from None


def _at(node: yaml.Node, doc: Located) -> str:
    return f"{doc.source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"
