"""Load a configuration file (plus `DNSCTL_*` environment overrides) into a frozen DnsctlSpec.

Every problem is reported at once, in one ConfigError: unknown keys, wrong types, duplicate keys,
and the rules of every part that is well-typed. Each problem names its location and its source:
`FILE:LINE` for a value from the file, the variable's name for one from the environment. Nothing
here prints or exits.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from dnsctl.config import document, environment, rules
from dnsctl.config.convert import to_spec
from dnsctl.config.document import Loc
from dnsctl.config.fields import model_fields_at
from dnsctl.config.partial import salvage
from dnsctl.config.schema import DnsctlSettings
from dnsctl.config.values import shown
from dnsctl.core.model import DnsctlSpec
from dnsctl.errors import ConfigError, Problem
from dnsctl.process import secrets
from dnsctl.process.secrets import is_secret_name, mask

DEFAULT_PATH = "dnsctl.yaml"
# Top-level keys with this prefix are ignored: a place for YAML anchors (`x-monitor: &monitor`).
EXTENSION_PREFIX = "x-"


def config_path(explicit: str | None, environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(explicit or env.get("DNSCTL_CONFIG") or DEFAULT_PATH)


def load(
    path: Path, environ: Mapping[str, str] | None = None, *, serving: bool = True, validating: bool = False
) -> DnsctlSpec:
    """The spec of `path`. `serving`: the command runs the admin API, so its rules apply too.
    `validating`: `dnsctl validate`, which also checks that the environment holds the secrets the
    configuration needs (commands that use them refuse to start without them anyway)."""
    return to_spec(load_settings(path, environ, serving=serving, validating=validating))


def load_settings(
    path: Path, environ: Mapping[str, str] | None = None, *, serving: bool = True, validating: bool = False
) -> DnsctlSettings:
    env = os.environ if environ is None else environ
    doc = document.read(path)
    found: list[tuple[Loc, str, str | None]] = []  # (where, what, source when known)
    data = _top_level(doc, found)
    overrides = environment.apply(data, DnsctlSettings, env)
    found.extend(_doc_problems(doc))
    found.extend((loc, what, name) for loc, what, name in overrides.problems)
    try:
        settings = DnsctlSettings.model_validate(data)
    except ValidationError as e:
        found.extend((loc, what, None) for loc, what in _explain(e))
        settings = salvage(DnsctlSettings, data)
    checked = rules.check(settings, env, serving=serving, secrets=validating)
    found.extend((_parse_loc(where), what, None) for where, what in checked)
    if found:
        raise ConfigError(_sourced(doc, overrides, found, secrets.SecretSet(secrets.from_environment(env))))
    return settings


def _top_level(doc: document.Document, found: list[tuple[Loc, str, str | None]]) -> dict[str, Any]:
    if doc.data is None:
        return {}
    if not isinstance(doc.data, dict):
        raise ConfigError(
            [Problem("", "the top level must be a mapping (profiles:, resolver:, ...)", str(doc.path))]
        )
    data: dict[str, Any] = {}
    for key, value in doc.data.items():
        if not isinstance(key, str):
            # YAML allows keys like `1:` or `~:`; they cannot become settings fields.
            what = f"the key {shown(key)} is not a name (profiles:, resolver:, ...)"
            found.append(((), what, f"{doc.path}:{doc.lines.get((key,), 0)}"))
        elif not key.startswith(EXTENSION_PREFIX):
            data[key] = value
    return data


def _doc_problems(doc: document.Document) -> list[tuple[Loc, str, str]]:
    return [(loc, what, f"{doc.path}:{line}") for loc, what, line in doc.problems]


def _sourced(
    doc: document.Document,
    overrides: environment.Overrides,
    found: list[tuple[Loc, str, str | None]],
    masker: secrets.SecretSet,
) -> list[Problem]:
    """Each problem with its source, and without any secret (of this process, or of `env`)."""
    out: list[Problem] = []
    seen: set[tuple[str, str]] = set()
    for loc, what, given in found:
        where = _format_loc(loc)
        source = given
        if (where, what) in seen:
            continue
        seen.add((where, what))
        if source is None:
            source = overrides.source_of(loc)
        if source is None:
            line = doc.line_of(loc)
            source = f"{doc.path}:{line}" if line is not None else str(doc.path)
        out.append(Problem(masker.mask(mask(where)), masker.mask(mask(what)), source))
    return sorted(out, key=lambda p: _order(p, doc))


def _explain(error: ValidationError) -> list[tuple[Loc, str]]:
    out: list[tuple[Loc, str]] = []
    for err in error.errors(include_url=False):
        loc = _clean_loc(tuple(err["loc"]))
        about = ""
        if loc and loc[-1] == "[key]":  # pydantic's marker for a mapping's key rather than its value
            loc, about = loc[:-1], "the key: "
        if err["type"] == "extra_forbidden":
            key = str(loc[-1]) if loc else ""
            valid = model_fields_at(loc[:-1])
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else (f"; valid keys: {', '.join(valid)}" if valid else "")
            )
            out.append((loc, f"unknown key{hint}"))
        elif err["type"] == "missing":
            out.append((loc, "required"))
        else:
            msg = err["msg"].removeprefix("Value error, ")
            name = next((part for part in reversed(loc) if isinstance(part, str)), None)
            got = "" if is_secret_name(name) else f" (got {shown(err.get('input'))})"
            if err["type"] == "value_error":  # our own messages quote the value
                got = ""
            if out and out[-1][0] == loc and _is_branch(err["loc"]):
                # Each branch of a union fails on its own; one line says what any of them wanted.
                out[-1] = (loc, out[-1][1].removesuffix(got) + f", or {msg[0].lower()}{msg[1:]}{got}")
            else:
                out.append((loc, f"{about}{msg}{got}"))
    return out


def _is_branch(loc: tuple[Any, ...]) -> bool:
    return bool(loc) and isinstance(loc[-1], str) and (loc[-1] in _BRANCHES or "[" in loc[-1])


_BRANCHES = {"int", "str", "float", "bool", "list", "dict"}


def _clean_loc(loc: tuple[Any, ...]) -> Loc:
    """pydantic's location without its union-branch markers, which say nothing to a user."""
    return tuple(
        part
        for i, part in enumerate(loc)
        if isinstance(part, int) or not (part in _BRANCHES or ("[" in str(part) and part != "[key]"))
    )


_MAX_KEY = 40


def _format_loc(loc: Loc) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            name = str(part)
            name = name if len(name) <= _MAX_KEY else name[: _MAX_KEY - 3] + "..."
            text += f".{name}" if text else name
    return text or "(top level)"


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _parse_loc(where: str) -> Loc:
    """The location a rule names (`profiles[0].monitor.fall`) as a path."""
    return tuple(name if name else int(index) for name, index in _STEP.findall(where))


def _order(p: Problem, doc: document.Document) -> tuple[int, int]:
    """The file's problems by line (the file as a whole first), then the environment's."""
    prefix = f"{doc.path}:"
    if p.source == str(doc.path):
        return (0, 0)
    if p.source.startswith(prefix) and p.source[len(prefix) :].isdigit():
        return (1, int(p.source[len(prefix) :]))
    return (2, 0)
