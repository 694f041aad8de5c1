"""The settings' field names by location, for suggesting a name for an unknown key."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from dnsctl.config.schema import DnsctlSettings


def model_fields_at(loc: tuple[str | int, ...]) -> list[str]:
    """The valid field names of the model at `loc` (for suggesting a name for an unknown key)."""
    model: Any = DnsctlSettings
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        model = inner_model(field.annotation)
        if model is None:
            return []
    return list(model.model_fields)


def inner_model(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = inner_model(arg)
        if found is not None:
            return found
    return None
