"""The one strict YAML loader every dbpatch input file goes through (inventory, policy, build specs, catalog).

It refuses, each with one ``ConfigError`` line naming the file (and the line where known):
files over ``MAX_BYTES`` (checked before reading), text that is not UTF-8, duplicate keys, merge keys,
custom tags, nesting deeper than ``MAX_DEPTH``, and alias bombs (more than ``MAX_NODES`` values once aliases
are expanded). Scalars resolve as in YAML 1.2's core schema: ``22:00`` stays the text "22:00" (YAML 1.1 reads
the integer 1320), ``yes``/``on`` stay text, ``0755`` is not octal, and dates stay text for the models to parse.

``load`` returns the data and a map from field path (``("targets", 1, "port")``) to the line it is on.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

from dbpatch.errors import ConfigError

MAX_BYTES = 2 * 1024 * 1024  # about 13,000 targets; parsed in about 2 s
MAX_DEPTH = 40
MAX_NODES = 200_000

Lines = dict[tuple[Any, ...], int]

# YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution)
_NULL = re.compile(r"~|null|Null|NULL|")
_BOOL = re.compile(r"true|True|TRUE|false|False|FALSE")
_INT = re.compile(r"[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+")
_FLOAT = re.compile(
    r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN)"
)
_STR, _SEQ, _MAP = "tag:yaml.org,2002:str", "tag:yaml.org,2002:seq", "tag:yaml.org,2002:map"
_PLAIN = "tag:dbpatch,2026:plain"  # an unquoted scalar without a tag: resolved by ``_implicit``
_TYPED = {f"tag:yaml.org,2002:{t}": t for t in ("null", "bool", "int", "float")}
_CORE_TAGS = {_STR, _SEQ, _MAP, _PLAIN, *_TYPED}
_MAX_DIGITS = 4000  # below Python's limit for int(str)


if yaml.__with_libyaml__:  # libyaml's scanner and parser (3x faster), PyYAML's composer on top
    from yaml._yaml import CParser as _Parser
else:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser as _PyParser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Parser(Reader, Scanner, _PyParser):  # type: ignore[no-redef]
        def __init__(self, stream: str):
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            _PyParser.__init__(self)

        def dispose(self) -> None:
            self.states, self.state = [], None


class _Loader(_Parser, Composer, Resolver):  # type: ignore[misc, valid-type]
    """A YAML parser and PyYAML's composer with a depth limit; every plain scalar is tagged ``_PLAIN`` (YAML
    1.1's resolvers are dropped) and ``_scalar`` resolves it."""

    yaml_implicit_resolvers: dict[Any, Any] = {}
    get_single_node = Composer.get_single_node
    compose_document = Composer.compose_document

    def __init__(self, stream: str):
        _Parser.__init__(self, stream)
        Composer.__init__(self)
        Resolver.__init__(self)
        self._depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:  # type: ignore[override]
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                event = self.peek_event()
                line = event.start_mark.line + 1 if event is not None and event.start_mark else None
                raise _Refused(f"nested deeper than {MAX_DEPTH} levels", line)
            return Composer.compose_node(self, parent, index)
        finally:
            self._depth -= 1


_Loader.add_implicit_resolver(_PLAIN, re.compile(r".*", re.S), None)


class _Refused(Exception):
    def __init__(self, reason: str, line: int | None = None):
        self.reason, self.line = reason, line


def read_text(path: str | Path) -> str:
    """The file as text: refused when missing, unreadable, over ``MAX_BYTES`` (before reading) or not UTF-8."""
    path = Path(path)
    try:
        size = os.stat(path).st_size
        if not path.is_file():
            raise ConfigError(f"{path}: not a regular file")
        if size > MAX_BYTES:
            raise ConfigError(
                f"{path.name}: file is {size / 2**20:.1f} MiB; the limit is {MAX_BYTES / 2**20:g} MiB"
            )
        with path.open("rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    if len(raw) > MAX_BYTES:
        raise ConfigError(f"{path.name}: file is over the limit of {MAX_BYTES / 2**20:g} MiB")
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path.name}: line {line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8"
        ) from None


def load(path: str | Path) -> tuple[Any, Lines]:
    """Read and parse ``path``: its data (dicts, lists, str, int, float, bool, None) and field-path lines."""
    path = Path(path)
    return parse(read_text(path), path.name)


def parse(text: str, source: str) -> tuple[Any, Lines]:
    """Parse YAML ``text``; every refusal is a ``ConfigError`` line ``<source>: line N: …``."""
    loader = None
    try:
        loader = _Loader(text)
        root = loader.get_single_node()
        if root is None:
            return None, {}
        _count(root, {}, set())
        lines: Lines = {}
        return _build(root, (), lines), lines
    except _Refused as exc:
        where = f"line {exc.line}: " if exc.line else ""
        raise ConfigError(printable(f"{source}: {where}{exc.reason}")) from None
    except yaml.reader.ReaderError as exc:
        line = text.encode()[: exc.position].count(b"\n") + 1 if yaml.__with_libyaml__ else None
        line = line or text[: exc.position].count("\n") + 1
        raise ConfigError(
            f"{source}: line {line}: invalid YAML: a control character is not allowed"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(printable(f"{source}: {where}invalid YAML: {problem}")) from None
    finally:
        if loader is not None:
            loader.dispose()


def printable(line: str) -> str:
    """Control characters escaped, so a message is one line."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in line)


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _count(node: Node, sizes: dict[int, int], open_: set[int]) -> int:
    """Values under ``node`` with aliases expanded (memoised, so a billion laughs costs nothing to count)."""
    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_:
        raise _Refused("an alias refers to the value that contains it", _line(node))
    open_.add(key)
    total = 1
    if isinstance(node, SequenceNode):
        total += sum(_count(child, sizes, open_) for child in node.value)
    elif isinstance(node, MappingNode):
        total += sum(_count(k, sizes, open_) + _count(v, sizes, open_) for k, v in node.value)
    open_.discard(key)
    if total > MAX_NODES:
        raise _Refused(
            f"more than {MAX_NODES} values once aliases are expanded (an alias bomb?)", _line(node)
        )
    sizes[key] = total
    return total


def _build(node: Node, path: tuple[Any, ...], lines: Lines) -> Any:
    lines.setdefault(path, _line(node))
    if node.tag not in _CORE_TAGS:
        raise _Refused(f"tag {node.tag!r} is not supported", _line(node))
    if isinstance(node, ScalarNode):
        return _scalar(node)
    if isinstance(node, SequenceNode):
        return [_build(child, (*path, i), lines) for i, child in enumerate(node.value)]
    assert isinstance(node, MappingNode)
    out: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, ScalarNode):
            raise _Refused("a key must be a plain value, not a list or mapping", _line(key_node))
        if key_node.value == "<<" and key_node.tag == _PLAIN:
            raise _Refused("merge keys (<<) are not supported; write the keys out", _line(key_node))
        key = _scalar(key_node)
        if isinstance(key, list | dict) or key is None:
            raise _Refused("a key must be text", _line(key_node))
        if key in out:
            first = lines.get((*path, key))
            also = f" (first on line {first})" if first else ""
            raise _Refused(f"duplicate key {key!r}{also}", _line(key_node))
        lines[(*path, key)] = _line(key_node)
        out[key] = _build(value_node, (*path, key), lines)
    return out


def _scalar(node: ScalarNode) -> Any:
    """YAML 1.2 core resolution of plain scalars; quoted scalars and ``!!str`` are text."""
    if node.tag == _PLAIN:
        return _implicit(node.value, _line(node))
    if node.tag in _TYPED:  # an explicit !!int, !!bool, …: the text must have that shape
        value = _implicit(node.value) if not node.style else node.value
        if {bool: "bool", int: "int", float: "float", type(None): "null"}.get(type(value)) != _TYPED[
            node.tag
        ]:
            raise _Refused(f"{node.value!r} is not a valid !!{_TYPED[node.tag]}", _line(node))
        return value
    if node.tag != _STR:
        raise _Refused(f"tag {node.tag!r} is not supported", _line(node))
    return node.value


def _implicit(text: str, line: int | None = None) -> Any:
    if _NULL.fullmatch(text):
        return None
    if _BOOL.fullmatch(text):
        return text.lower() == "true"
    if _INT.fullmatch(text):
        if text.startswith(("0o", "0x")):
            return int(text[2:], 8 if text[1] == "o" else 16)
        if len(text) > _MAX_DIGITS:
            raise _Refused(f"a number of {len(text)} digits", line)
        return int(text)
    if _FLOAT.fullmatch(text):
        special = text.lower().replace(".", "")
        return float(special) if special.lstrip("+-") in ("inf", "nan") else float(text)
    return text
