"""`DNSCTL_*` environment variables that override the file, each remembered as the source of its value.

`DNSCTL_SECTION__KEY=value` sets `section.key` (`__` separates levels, names are case-insensitive).
A variable whose first part names no top-level key (`DNSCTL_CONFIG`, `DNSCTL_ADMIN_TOKEN`, ...) is
not a setting and is left alone, unless it has a `__` (then it is a misspelt section). Lists,
mappings and whole sections are given as JSON; other values as plain text. A mapping given in JSON
merges into the file's; anything else replaces it.

The values come from pydantic-settings' environment source (the settings' `env_prefix` and
`env_nested_delimiter`), one variable at a time so that each problem names its variable; this module
adds what that source does not say: which variable set what, and a located problem (not an
exception) for a misspelt section, a list set item by item, JSON that does not parse or nests too deep.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from dnsctl.config.document import MAX_DEPTH, Loc
from dnsctl.config.schema import DnsctlSettings, environment_values

# The names are pydantic-settings': the settings' own prefix and delimiter.
PREFIX = str(DnsctlSettings.model_config.get("env_prefix", "")).upper()
DELIMITER = str(DnsctlSettings.model_config.get("env_nested_delimiter", ""))


@dataclass
class Overrides:
    sources: dict[Loc, str] = field(default_factory=dict)  # location -> the variable that set it
    problems: list[tuple[Loc, str, str]] = field(default_factory=list)  # (where, what, variable)

    def source_of(self, loc: Loc) -> str | None:
        for end in range(len(loc), 0, -1):
            name = self.sources.get(loc[:end])
            if name is not None:
                return name
        return None


def apply(data: dict[str, Any], model: type[BaseModel], environ: Mapping[str, str]) -> Overrides:
    """Merge the overrides in `environ` into `data` (in place)."""
    found = Overrides()
    wanted: list[tuple[Loc, str, str]] = []
    for name, value in environ.items():
        if not name.upper().startswith(PREFIX):
            continue
        parts = name[len(PREFIX) :].lower().split(DELIMITER)
        if parts[0] not in model.model_fields:
            if len(parts) > 1:  # meant for a section, surely: ignoring it would hide a typo
                close = difflib.get_close_matches(parts[0], list(model.model_fields), n=1, cutoff=0.5)
                hint = f"; did you mean {PREFIX}{close[0].upper()}{DELIMITER}...?" if close else ""
                found.problems.append(((), f"no section {parts[0]!r} to override{hint}", name))
            continue
        wanted.append((tuple(parts), name, value))
    # Whole sections first, so that a variable for one key inside wins over them.
    for loc, name, value in sorted(wanted, key=lambda w: (len(w[0]), w[1])):
        if _acceptable(model, loc, name, value, found):
            try:
                values = environment_values(name, value)
            except ValueError as e:  # what the checks above let through: still this variable's problem
                found.problems.append((loc, f"not a usable value ({e})", name))
                continue
            _merge_into(data, values)
            found.sources[loc] = name
    return found


def _acceptable(model: type[BaseModel], loc: Loc, name: str, value: str, found: Overrides) -> bool:
    """Whether the variable `name` can be read, else its problem recorded."""
    annotation: Any = model
    for i, part in enumerate(loc):
        if _is_list(annotation):
            whole = PREFIX + DELIMITER.join(str(p) for p in loc[:i]).upper()
            found.problems.append(
                (loc[:i], f"a list is set whole, as JSON in {whole}, not item by item", name)
            )
            return False
        annotation = _child(annotation, str(part))
    # An unknown key keeps its text: the schema reports the key (and never echoes the value).
    if annotation is not None and _is_structured(annotation):
        kind = "list" if _is_list(annotation) else "object"
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as e:
            found.problems.append((loc, f"not valid JSON ({e.msg}): a JSON {kind} is expected", name))
            return False
        except (ValueError, RecursionError):
            found.problems.append((loc, f"not a usable JSON {kind}", name))
            return False
        if _depth(parsed) + len(loc) > MAX_DEPTH:
            found.problems.append((loc, f"nested deeper than {MAX_DEPTH} levels", name))
            return False
    return True


def _merge_into(data: dict[str, Any], values: dict[str, Any]) -> None:
    """The file's data with the environment's over it: a mapping merges into the file's, the rest replaces."""
    for key, value in values.items():
        old = data.get(key)
        data[key] = _merge(old, value) if isinstance(old, dict) and isinstance(value, dict) else value


def _merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = dict(old)
    for k, v in new.items():
        out[k] = _merge(out[k], v) if isinstance(out.get(k), dict) and isinstance(v, dict) else v
    return out


def _strip_optional(annotation: Any) -> Any:
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is not None and type(None) in get_args(annotation) and len(args) == 1:
        return args[0]
    return annotation


def _child(annotation: Any, part: str) -> Any:
    """The annotation of key `part` inside a value of type `annotation`; None when unknown."""
    annotation = _strip_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        field_info = annotation.model_fields.get(part)
        return field_info.annotation if field_info is not None else None
    if get_origin(annotation) is dict:
        return get_args(annotation)[1]
    return None


def _is_list(annotation: Any) -> bool:
    return get_origin(_strip_optional(annotation)) in (list, tuple, set, frozenset)


def _is_structured(annotation: Any) -> bool:
    annotation = _strip_optional(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel | dict | list):
        return True
    return get_origin(annotation) in (list, tuple, set, frozenset, dict)


def _depth(value: Any) -> int:
    """How deeply lists and mappings nest in `value` (without recursion: the value may be hostile)."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, level + 1)
            if deepest > MAX_DEPTH:
                return deepest
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest
