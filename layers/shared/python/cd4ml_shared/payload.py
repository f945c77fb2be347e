"""Light checks of the events a handler receives: a missing field or one of the wrong type is an `InvalidPayload`
naming the field, not a `KeyError` deep in the handler. Plain dictionaries and no pydantic, so the functions that
parse no pydantic model keep their cold start (see `run_input`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from .errors import InvalidPayload

PayloadKind = Literal["string", "integer", "number", "boolean", "object", "array"]
_MISSING = object()
# What a field must be, by the name a message gives it; bool is not a number here even though Python says it is.
_TYPES: dict[PayloadKind, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}
_A = {"integer": "an integer", "object": "an object", "array": "an array"}


def _lookup(payload: Any, path: str) -> Any:
    value = payload
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def field(payload: Any, path: str, kind: PayloadKind, *, where: str, optional: bool = False) -> Any:
    """The value at the dotted `path` of `payload`, checked to be of `kind` (string, integer, number, boolean,
    object, array); `InvalidPayload` names `where` (the handler), the field and what is wrong. An `optional` field
    may be absent (None is returned) but not of another type."""
    allowed = _TYPES[kind]
    if not isinstance(payload, Mapping):
        raise InvalidPayload(f"{where}: the event must be a JSON object, got {type(payload).__name__}")
    value = _lookup(payload, path)
    if value is _MISSING or value is None:
        if optional:
            return None
        raise InvalidPayload(
            f"{where}: field {path!r} is {'missing' if value is _MISSING else 'null'}, expected a {kind}"
        )
    if not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed):
        raise InvalidPayload(
            f"{where}: field {path!r} must be {_A.get(kind, 'a ' + kind)}, got {type(value).__name__} {value!r:.80}"
        )
    return value


def require(payload: Any, fields: Mapping[str, PayloadKind], *, where: str) -> None:
    """Check every `path: kind` of `fields` (see `field`), in order, so the first problem is the one reported."""
    for path, kind in fields.items():
        field(payload, path, kind, where=where)
