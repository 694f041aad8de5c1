"""Load a configuration file (plus `DNSCTL_*` environment overrides) into a frozen DnsctlSpec.

Every problem is reported at once, as `location: message` lines in a ConfigError; nothing here
prints or exits.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from dnsctl.config import rules
from dnsctl.config.convert import to_spec
from dnsctl.config.schema import DnsctlSettings, model_fields_at
from dnsctl.core.model import DnsctlSpec
from dnsctl.errors import ConfigError

DEFAULT_PATH = "dnsctl.yaml"


def config_path(explicit: str | None, environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    return Path(explicit or env.get("DNSCTL_CONFIG") or DEFAULT_PATH)


def load(path: Path) -> DnsctlSpec:
    return to_spec(load_settings(path))


def load_settings(path: Path) -> DnsctlSettings:
    data = _read_yaml(path)
    try:
        settings = DnsctlSettings(**data)
    except ValidationError as e:
        # Type errors stop the whole model; the sections that are well-typed on their own still
        # get their rules checked, so the user sees every problem in one go.
        problems = _explain(e) + [p for p in rules.check_sections(data) if p not in _explain(e)]
        raise ConfigError([f"{path}: {line}" for line in problems]) from None
    problems = rules.check(settings)
    if problems:
        raise ConfigError([f"{path}: {line}" for line in problems])
    return settings


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{path}: no such file (give one with -c FILE or DNSCTL_CONFIG)"]) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError([f"{path}: cannot read: {e}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        where = ""
        mark = getattr(e, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(e, "problem", None) or str(e)
        raise ConfigError([f"{path}: not valid YAML{where}: {problem}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{path}: the top level must be a mapping (profiles:, resolver:, ...)"])
    # YAML allows keys like `1:` or `~:`; they cannot become settings fields.
    odd = [key for key in data if not isinstance(key, str)]
    if odd:
        raise ConfigError(
            [f"{path}: the top level key {key!r} is not a name (profiles:, resolver:, ...)" for key in odd]
        )
    return data


def _explain(error: ValidationError) -> list[str]:
    out = []
    for err in error.errors(include_url=False):
        loc = tuple(err["loc"])
        where = _format_loc(loc)
        if err["type"] == "extra_forbidden":
            key = str(loc[-1])
            valid = model_fields_at(loc[:-1])
            close = difflib.get_close_matches(key, valid, n=1, cutoff=0.5)
            hint = (
                f"; did you mean {close[0]!r}?"
                if close
                else (f"; valid keys: {', '.join(valid)}" if valid else "")
            )
            out.append(f"{where}: unknown key{hint}")
        elif err["type"] == "missing":
            out.append(f"{where}: required")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            out.append(f"{where}: {msg} (got {_short(err.get('input'))})")
    return out


_BRANCHES = {"int", "str", "float", "bool", "list", "dict"}


def _format_loc(loc: tuple[Any, ...]) -> str:
    text = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        elif i < len(loc) - 1 and ("[" in str(part) or part in _BRANCHES):
            continue  # pydantic's union-branch markers say nothing to a user
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
