"""One codec for every message: frozen dataclasses <-> JSON-safe dicts.

Registered types are encoded as ``{"type": <name>, ...fields}``. Decimals become strings,
datetimes ISO-8601 strings, enums their values, tuples lists. Decoding uses the dataclass's
type hints, so there is no hand-written to_dict/from_dict per message.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

T = TypeVar("T")

_REGISTRY: dict[str, type[Any]] = {}


def register(cls: type[T]) -> type[T]:
    """Class decorator: make a dataclass encodable by name."""
    if not dataclasses.is_dataclass(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass")
    _REGISTRY[cls.__name__] = cls
    return cls


def encode(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {}
        if type(obj).__name__ in _REGISTRY:
            out["type"] = type(obj).__name__
        for f in dataclasses.fields(obj):
            out[f.name] = encode(getattr(obj, f.name))
        return out
    if isinstance(obj, enum.Enum):
        return obj.value
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, list | tuple):
        return [encode(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): encode(v) for k, v in obj.items()}
    if obj is None or isinstance(obj, str | int | float | bool):
        return obj
    raise TypeError(f"cannot encode {type(obj).__name__}")


def decode(data: dict[str, Any], cls: type[T] | None = None) -> T:
    """Decode a dict made by `encode`; `cls` defaults to the registered name in data['type']."""
    target: type[Any] = cls if cls is not None else _REGISTRY[data["type"]]
    return typing.cast(T, _decode_value(data, target))


def dumps(obj: Any) -> str:
    return json.dumps(encode(obj), separators=(",", ":"), sort_keys=True)


def loads(text: str, cls: type[T] | None = None) -> T:
    return decode(json.loads(text), cls)


def _decode_value(value: Any, hint: Any) -> Any:
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if isinstance(value, dict) and "type" in value and value["type"] in _REGISTRY:
            return decode(value)
        return _decode_value(value, args[0]) if len(args) == 1 else value
    if origin in (list, tuple):
        item_hints = typing.get_args(hint)
        item = item_hints[0] if item_hints else Any
        items = [_decode_value(v, item) for v in value]
        return tuple(items) if origin is tuple else list(items)
    if origin is dict:
        _, vtype = typing.get_args(hint) or (Any, Any)
        return {k: _decode_value(v, vtype) for k, v in value.items()}
    if hint is Any:
        return value
    if isinstance(hint, type):
        if dataclasses.is_dataclass(hint):
            if isinstance(value, dict) and value.get("type") in _REGISTRY:
                hint = _REGISTRY[value["type"]]
            hints = typing.get_type_hints(hint)
            kwargs = {
                f.name: _decode_value(value[f.name], hints[f.name])
                for f in dataclasses.fields(hint)
                if f.name in value and f.init
            }
            return hint(**kwargs)
        if issubclass(hint, enum.Enum):
            return hint(value)
        if hint is Decimal:
            return Decimal(value)
        if hint is datetime:
            return datetime.fromisoformat(value)
    return value
