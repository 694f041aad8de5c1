"""A document's JSON form, and a document read back from it: the field names are the keys.

A field whose value is `ABSENT` is left out (a part of the status only some controllers have); a field
with `key` in its metadata is written under that key (`from` is a Python keyword); a field with
`flatten` in its metadata has its own fields written beside the others.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any, Final, TypeAlias, TypeVar, Union

JsonValue: TypeAlias = bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"] | None
JsonObject: TypeAlias = dict[str, JsonValue]


class Absent(Enum):
    """A part of a document this one does not have (its key is left out, not `null`)."""

    ABSENT = "absent"


ABSENT: Final = Absent.ABSENT

D = TypeVar("D")


class DocumentError(ValueError):
    """A JSON document does not have the shape of the document it should be."""


def iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_of(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("key", f.name))


def to_json(value: object) -> JsonValue:
    """Any document (or part of one) as JSON values."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return to_json(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out: JsonObject = {}
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if v is ABSENT:
                continue
            if f.metadata.get("flatten"):
                inner = to_json(v)
                assert isinstance(inner, dict)
                out.update(inner)
            else:
                out[key_of(f)] = to_json(v)
        return out
    if isinstance(value, Mapping):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    raise TypeError(f"not a document value: {type(value).__name__}")


def to_object(doc: object) -> JsonObject:
    out = to_json(doc)
    assert isinstance(out, dict)
    return out


def from_json(cls: type[D], data: object) -> D:
    """The document `cls` read from its JSON form; DocumentError names the first thing that does not fit."""
    return typing.cast(D, _read(cls, data, "document"))


def _read(tp: Any, data: object, where: str) -> object:
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        options = typing.get_args(tp)
        if data is None and type(None) in options:
            return None
        problems = []
        for option in options:
            if option in (type(None), Absent):
                continue
            try:
                return _read(option, data, where)
            except DocumentError as e:
                problems.append(str(e))
        raise DocumentError(problems[0] if problems else f"{where}: unexpected {data!r}")
    if origin is tuple:
        if not isinstance(data, list):
            raise DocumentError(f"{where}: expected a list")
        (item, _) = typing.get_args(tp)
        return tuple(_read(item, v, f"{where}[{i}]") for i, v in enumerate(data))
    if origin in (Mapping, dict):
        if not isinstance(data, dict):
            raise DocumentError(f"{where}: expected an object")
        _, item = typing.get_args(tp)
        return {str(k): _read(item, v, f"{where}.{k}") for k, v in data.items()}
    if dataclasses.is_dataclass(tp):
        return _read_dataclass(tp, data, where)
    if isinstance(tp, type) and issubclass(tp, Enum):
        try:
            return tp(data)
        except ValueError:
            raise DocumentError(f"{where}: {data!r} is not one of {[e.value for e in tp]}") from None
    if tp is float and isinstance(data, int | float) and not isinstance(data, bool):
        return float(data)
    if tp in (bool, int, str) and type(data) is tp:
        return data
    raise DocumentError(f"{where}: expected {getattr(tp, '__name__', tp)}, got {data!r}")


def _read_dataclass(tp: Any, data: object, where: str) -> object:
    if not isinstance(data, dict):
        raise DocumentError(f"{where}: expected an object")
    hints = typing.get_type_hints(tp)
    values: dict[str, object] = {}
    for f in dataclasses.fields(tp):
        if f.metadata.get("flatten"):
            values[f.name] = _read(hints[f.name], data, where)
            continue
        key = key_of(f)
        if key in data:
            values[f.name] = _read(hints[f.name], data[key], f"{where}.{key}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise DocumentError(f"{where}: no {key!r}")
    return tp(**values)
