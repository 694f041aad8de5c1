"""The reference configuration documents every field of the schema, with its default.

The schema's pydantic models are walked recursively; a field added to them without a line in
examples/dnsctl.example.yaml fails here. Optional fields may be shown commented out (`# key: value`):
the walk reads the file with those lines switched on. A value that is not the default must say
what the default is on its line ("default").
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, cast

import pytest
import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo
from typing_extensions import TypeForm

from dnsctl.config.fields import inner_model
from dnsctl.config.schema import DnsctlSettings

from .documents import load_ok

REFERENCE = Path(__file__).resolve().parents[2] / "examples" / "dnsctl.example.yaml"
# A commented-out field starts near the left margin; comments that continue a line's note are indented
# to the notes' column (20 or more) and stay comments.
_COMMENTED_KEY = re.compile(r"^( {0,19})# (\s*)((?:- )?[A-Za-z_][\w-]*:(?:\s.*)?)$")


def switched_on(text: str) -> str:
    """The reference with its commented-out fields as live YAML (prose comments stay comments)."""
    return "\n".join(_COMMENTED_KEY.sub(r"\1\2\3", line) for line in text.splitlines())


def comments_of(text: str, key: str) -> list[str]:
    """The trailing comments of every line that sets `key` (and of the comment lines right below)."""
    lines = switched_on(text).splitlines()
    out = []
    for i, line in enumerate(lines):
        if not re.match(rf"^\s*(?:- )?{re.escape(key)}:", line) and not re.search(rf"[{{,]\s*{key}:", line):
            continue
        parts = [line.split(" # ", 1)[1] if " # " in line else ""]
        for below in lines[i + 1 :]:
            if not below.lstrip().startswith("#") or not below.startswith(" " * 20):
                break
            parts.append(below.strip().lstrip("#"))
        out.append(" ".join(parts))
    return out


def default_of(field: FieldInfo) -> Any:
    return field.get_default(call_default_factory=True)


def parsed(field: FieldInfo, value: Any) -> Any:
    annotation = Annotated[field.annotation, *field.metadata] if field.metadata else field.annotation
    adapter: TypeAdapter[Any] = TypeAdapter(cast("TypeForm[Any]", annotation))
    try:
        return adapter.validate_python(value)
    except ValidationError:
        return _INVALID


_INVALID = object()


def undocumented(model: type[BaseModel], nodes: list[Any], where: str, text: str) -> list[str]:
    """Problems with the fields of `model`, given every place (`nodes`) the reference fills it in."""
    problems = []
    for name, field in model.model_fields.items():
        here = f"{where}.{name}" if where else name
        values = [n[name] for n in nodes if isinstance(n, dict) and name in n]
        if not values:
            problems.append(f"{here}: missing from {REFERENCE.name}")
            continue
        inner = inner_model(field.annotation)
        if inner is not None:
            children: list[Any] = []
            for v in values:
                children += v if isinstance(v, list) else [v]
            problems += undocumented(inner, children, here, text)
            continue
        if field.is_required():
            continue
        default = default_of(field)
        if any(parsed(field, v) == default for v in values):
            continue
        if any("default" in c for c in comments_of(text, name)):
            continue
        problems.append(
            f"{here}: shown as {values[0]!r}, which is not its default {default!r}, and no comment on "
            "its line says what the default is"
        )
    return problems


@pytest.fixture(scope="module")
def text() -> str:
    return REFERENCE.read_text(encoding="utf-8")


def test_every_schema_field_is_in_the_reference_with_its_default(text: str) -> None:
    doc = yaml.safe_load(switched_on(text))
    assert undocumented(DnsctlSettings, [doc], "", text) == []


def test_the_reference_is_valid_as_shipped() -> None:
    load_ok(REFERENCE)


def test_the_documented_fallback_is_not_the_profiles_own_name(text: str) -> None:
    # A fallback equal to the fqdn would answer the name with itself: a CNAME loop.
    for profile in yaml.safe_load(switched_on(text))["profiles"]:
        assert profile.get("fallback"), "the reference shows a fallback"
        assert profile["fallback"].rstrip(".") != profile["fqdn"].rstrip(".")


def test_the_walk_notices_a_field_that_is_not_documented() -> None:
    class Probe(BaseModel):
        documented: int = 1
        forgotten: int = 2
        changed: int = 3

    problems = undocumented(Probe, [{"documented": 1, "changed": 4}], "x", "changed: 4\n")
    assert problems == [
        "x.forgotten: missing from dnsctl.example.yaml",
        "x.changed: shown as 4, which is not its default 3, and no comment on its line says what the "
        "default is",
    ]
    assert (
        undocumented(Probe, [{"documented": 1, "forgotten": 2, "changed": 4}], "x", "changed: 4  # default 3")
        == []
    )


def test_commented_fields_are_switched_on_and_prose_is_not() -> None:
    text = (
        "a: 1\n# Validate it with: x\n# b: 2             # note\n"
        "                    # manual: a note that goes on\n# c:\n#   d: 5s\n"
    )
    assert yaml.safe_load(switched_on(text)) == {"a": 1, "b": 2, "c": {"d": "5s"}}
