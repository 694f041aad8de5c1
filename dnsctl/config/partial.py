"""Build as much of a settings model as is well-typed, so rules can check every part that parsed.

A field whose value does not validate becomes BROKEN. Touching BROKEN in any way (reading an
attribute, comparing, iterating, formatting, truth) raises Broken, which the rule runner catches:
a rule that depends on a broken value is skipped, and the type error already reported stands alone.
"""

from __future__ import annotations

import functools
from types import UnionType
from typing import Annotated, Any, NoReturn, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError
from pydantic.fields import FieldInfo

M = TypeVar("M", bound=BaseModel)


class Broken(Exception):
    """A rule touched a value that did not validate."""


class _BrokenValue:
    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise Broken

    __bool__ = __len__ = __iter__ = __contains__ = __hash__ = _refuse
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _refuse
    __str__ = __repr__ = __format__ = __int__ = __float__ = __index__ = _refuse
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __mod__ = _refuse
    __getitem__ = __call__ = _refuse

    def __getattr__(self, name: str) -> NoReturn:
        raise Broken


BROKEN: Any = _BrokenValue()


def is_broken(value: object) -> bool:
    return value is BROKEN


def salvage(model: type[M], raw: object) -> M:
    """`model` from `raw`, with BROKEN for each field (at any depth) that does not validate."""
    if not isinstance(raw, dict):
        return BROKEN  # type: ignore[no-any-return]
    try:
        return model.model_validate(raw)
    except ValidationError:
        pass
    values: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        if name in raw:
            values[name] = _field(info, raw[name])
        elif info.is_required():
            values[name] = BROKEN
    return model.model_construct(**values)


def _field(info: FieldInfo, raw: object) -> Any:
    annotation = info.annotation
    inner = _model_of(annotation)
    if inner is not None:
        if raw is None and _optional(annotation):
            return None
        return salvage(inner, raw)
    item = _list_of_models(annotation)
    if item is not None:
        if not isinstance(raw, list):
            return BROKEN
        return [salvage(item, x) for x in raw]
    try:
        return _adapter(info).validate_python(raw)
    except ValidationError:
        pass
    item_type = _list_item(annotation)
    if item_type is not None and isinstance(raw, list):
        # A list of plain values: the items that validate are checked by the rules, the others not.
        return [_item(item_type, x) for x in raw]
    return BROKEN


def _list_item(annotation: Any) -> Any:
    """The item type of a list, also as the list branch of a union (`addresses`: a list or per site)."""
    origin = get_origin(annotation)
    if origin is list:
        (item_type,) = get_args(annotation)
        return item_type
    if origin is Annotated:
        return _list_item(get_args(annotation)[0])
    if origin not in (Union, UnionType):
        return None  # a dict of lists is not a list
    for arg in get_args(annotation):
        found = _list_item(arg)
        if found is not None:
            return found
    return None


def _item(annotation: Any, raw: object) -> Any:
    try:
        return _adapter_for(annotation, ()).validate_python(raw)
    except ValidationError:
        return BROKEN


@functools.cache
def _adapter_for(annotation: Any, metadata: tuple[Any, ...]) -> TypeAdapter[Any]:
    return TypeAdapter(Annotated[annotation, *metadata] if metadata else annotation)


def _adapter(info: FieldInfo) -> TypeAdapter[Any]:
    metadata = tuple(info.metadata)
    annotation: Any = info.annotation
    try:
        return _adapter_for(annotation, metadata)
    except TypeError:  # metadata that cannot be a cache key
        return TypeAdapter(Annotated[annotation, *metadata] if metadata else annotation)


def _optional(annotation: Any) -> bool:
    return type(None) in get_args(annotation)


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    args = [a for a in get_args(annotation) if a is not type(None)]
    if get_origin(annotation) is not None and len(args) == 1 and _optional(annotation):
        return _model_of(args[0])
    return None


def _list_of_models(annotation: Any) -> type[BaseModel] | None:
    if get_origin(annotation) is list:
        (item,) = get_args(annotation)
        return _model_of(item)
    return None
