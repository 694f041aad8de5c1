"""Read the configuration file into plain data, remembering the line of every key and list item.

YAML's hazards are refused here, fast: a file over 1 MiB, nesting deeper than 64 levels, aliases
that expand beyond a bound (an anchor bomb) or into themselves. Duplicate keys are problems,
reported with the others; the first value is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from dnsctl.errors import ConfigError, Problem

MAX_BYTES = 1 << 20
MAX_DEPTH = 64
# Values an alias may add beyond those written in the file: far more than sharing a monitor
# block across profiles needs, far less than a bomb's millions.
MAX_ALIAS_EXPANSION = 100_000

Loc = tuple[str | int, ...]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE = "tag:yaml.org,2002:merge"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"


@dataclass
class Document:
    path: Path
    data: Any
    lines: dict[Loc, int] = field(default_factory=dict)  # 1-based line of each key and list item
    problems: list[tuple[Loc, str, int]] = field(default_factory=list)  # (where, what, line)

    def line_of(self, loc: Loc) -> int | None:
        """The line of `loc`, or of its nearest ancestor the file has."""
        for end in range(len(loc), 0, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        return None


def read(path: Path) -> Document:
    text = _read_text(path)
    try:
        _check_depth(path, text)
        root = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as e:
        raise ConfigError([Problem("", _yaml_problem(e), str(path))]) from None
    doc = Document(path, None)
    if root is not None:
        try:
            doc.data = _Walker(doc).value(root, ())
        except yaml.YAMLError as e:
            raise ConfigError([Problem("", _yaml_problem(e), str(path))]) from None
    return doc


def _read_text(path: Path) -> str:
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            [Problem("", "no such file (give one with -c FILE or DNSCTL_CONFIG)", str(path))]
        ) from None
    except OSError as e:
        raise ConfigError([Problem("", f"cannot read: {e.strerror or e}", str(path))]) from None
    if len(raw) > MAX_BYTES:
        raise ConfigError([Problem("", "larger than 1 MiB: not a configuration file", str(path))])
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise ConfigError(
            [Problem("", f"cannot read: not UTF-8 (byte {e.start + 1})", f"{path}:{line}")]
        ) from None


def _check_depth(path: Path, text: str) -> None:
    """Refuse deep nesting from the event stream, before anything recursive sees the document."""
    depth = 0
    events = yaml.parse(text, Loader=_Loader)
    try:
        for event in events:
            depth = _step(path, event, depth)
    except yaml.YAMLError as e:
        # The C parser has a nesting limit of its own; say it in the same words.
        mark = getattr(e, "problem_mark", None)
        if mark is not None and "nesting depth" in str(getattr(e, "problem", "")):
            raise ConfigError(
                [Problem("", f"nested deeper than {MAX_DEPTH} levels", f"{path}:{mark.line + 1}")]
            ) from None
        raise


def _step(path: Path, event: yaml.Event, depth: int) -> int:
    if isinstance(event, yaml.CollectionStartEvent):
        depth += 1
        if depth > MAX_DEPTH:
            line = event.start_mark.line + 1 if event.start_mark else 0
            raise ConfigError([Problem("", f"nested deeper than {MAX_DEPTH} levels", f"{path}:{line}")])
    elif isinstance(event, yaml.CollectionEndEvent):
        depth -= 1
    return depth


class _Expansion(Exception):
    def __init__(self, node: Node, message: str) -> None:
        self.node = node
        self.message = message


class _UnreadableDocument(Exception):
    """A scalar YAML parsed but Python cannot hold (an integer of more than 4300 digits, a bad date)."""

    def __init__(self, node: Node, loc: Loc, message: str) -> None:
        self.node = node
        self.loc = loc
        self.message = message


def _where(loc: Loc) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


class _Walker:
    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.visits = 0
        self.seen: set[int] = set()
        self.active: set[int] = set()
        self.constructor = yaml.constructor.SafeConstructor()

    def value(self, node: Node, loc: Loc) -> Any:
        try:
            return self._value(node, loc)
        except _Expansion as e:
            line = e.node.start_mark.line + 1 if e.node.start_mark else 0
            raise ConfigError([Problem("", e.message, f"{self.doc.path}:{line}")]) from None
        except _UnreadableDocument as e:
            line = e.node.start_mark.line + 1 if e.node.start_mark else 0
            raise ConfigError([Problem(_where(e.loc), e.message, f"{self.doc.path}:{line}")]) from None

    def _scalar(self, node: Node, loc: Loc) -> Any:
        try:
            return self.constructor.construct_object(node)
        except (ValueError, OverflowError) as e:
            if "integer string conversion" in str(e):
                what = "a number too long to read (more than 4300 digits)"
            else:
                what = f"cannot read this value: {str(e)[:100]}"
            raise _UnreadableDocument(node, loc, what) from None

    def _value(self, node: Node, loc: Loc) -> Any:
        self.visits += 1
        self.seen.add(id(node))
        if self.visits - len(self.seen) > MAX_ALIAS_EXPANSION:
            raise _Expansion(
                node, f"aliases expand to more than {MAX_ALIAS_EXPANSION} values (an alias bomb?)"
            )
        if len(loc) > MAX_DEPTH:
            raise _Expansion(node, f"aliases nest deeper than {MAX_DEPTH} levels")
        if isinstance(node, ScalarNode):
            return self._scalar(node, loc)
        if id(node) in self.active:
            raise _Expansion(node, "an alias refers to the block that contains it")
        self.active.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                self._tag(node, _SEQ)
                out = []
                for i, child in enumerate(node.value):
                    self.doc.lines.setdefault((*loc, i), child.start_mark.line + 1)
                    out.append(self._value(child, (*loc, i)))
                return out
            if isinstance(node, MappingNode):
                self._tag(node, _MAP)
                return self._mapping(node, loc)
        finally:
            self.active.discard(id(node))
        raise yaml.YAMLError(f"unexpected node {node!r}")

    def _tag(self, node: Node, expected: str) -> None:
        if node.tag != expected:
            raise yaml.constructor.ConstructorError(
                None, None, f"unsupported tag {node.tag!r}: only plain mappings and lists", node.start_mark
            )

    def _mapping(self, node: MappingNode, loc: Loc) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        merged: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE:
                for source in value_node.value if isinstance(value_node, SequenceNode) else [value_node]:
                    if not isinstance(source, MappingNode):
                        self.doc.problems.append((loc, "'<<' merges mappings only", line))
                        continue
                    for k, v in self._value(source, loc).items():
                        merged.setdefault(k, v)
                continue
            if not isinstance(key_node, ScalarNode):
                self.doc.problems.append((loc, "a key must be a plain name, not a list or mapping", line))
                continue
            key = self._scalar(key_node, loc)
            if key in out:
                first = self.doc.lines.get((*loc, key))
                self.doc.problems.append(
                    ((*loc, key), f"duplicate key (first at line {first}); remove one", line)
                )
                continue
            self.doc.lines[(*loc, key)] = line
            out[key] = self._value(value_node, (*loc, key))
        for k, v in merged.items():
            out.setdefault(k, v)
        return out


def _yaml_problem(e: yaml.YAMLError) -> str:
    where = ""
    mark = getattr(e, "problem_mark", None)
    if mark is not None:
        where = f" at line {mark.line + 1}, column {mark.column + 1}"
    problem = getattr(e, "problem", None) or str(e)
    return f"not valid YAML{where}: {problem}"
