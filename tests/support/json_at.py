"""A document's JSON form read in a test: the value at a path of keys and indexes, checked step by step."""

from __future__ import annotations

from dnsctl.documents.jsonable import JsonObject, JsonValue, to_json


def json_at(doc: object, *path: str | int) -> JsonValue:
    """The value at `path` in `doc`'s JSON form (`doc` a document, or JSON already); fails naming the step."""
    value = to_json(doc)
    for i, step in enumerate(path):
        if isinstance(step, str):
            assert isinstance(value, dict), f"not an object at {path[:i]}: {value!r}"
            value = value[step]
        else:
            assert isinstance(value, list), f"not a list at {path[:i]}: {value!r}"
            value = value[step]
    return value


def json_obj(doc: object, *path: str | int) -> JsonObject:
    value = json_at(doc, *path)
    assert isinstance(value, dict), f"not an object at {path}: {value!r}"
    return value


def json_str(doc: object, *path: str | int) -> str:
    value = json_at(doc, *path)
    assert isinstance(value, str), f"not a string at {path}: {value!r}"
    return value


def json_int(doc: object, *path: str | int) -> int:
    value = json_at(doc, *path)
    assert isinstance(value, int) and not isinstance(value, bool), f"not an integer at {path}: {value!r}"
    return value


def json_list(doc: object, *path: str | int) -> list[JsonValue]:
    value = json_at(doc, *path)
    assert isinstance(value, list), f"not a list at {path}: {value!r}"
    return value
