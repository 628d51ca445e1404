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


# Per dataclass, its field names (and, for decoding, their resolved type hints): computed once.
# `dataclasses.fields` and `typing.get_type_hints` (which evaluates string annotations) were most
# of the cost of an engine's snapshot, encoded on every step and decoded on every boot.
_FIELDS: dict[type[Any], tuple[str, ...] | None] = {}  # None: not a dataclass
_HINTS: dict[type[Any], tuple[tuple[str, Any], ...]] = {}
_PLAIN = frozenset({str, int, float, bool, type(None)})


def _field_names(cls: type[Any]) -> tuple[str, ...] | None:
    try:
        return _FIELDS[cls]
    except KeyError:
        names = (
            tuple(f.name for f in dataclasses.fields(cls))
            if dataclasses.is_dataclass(cls)
            else None
        )
        _FIELDS[cls] = names
        return names


def encode(obj: Any) -> Any:
    cls = type(obj)
    if cls in _PLAIN:
        return obj
    if cls is Decimal:
        return str(obj)
    names = _field_names(cls)
    if names is not None:
        out: dict[str, Any] = {}
        if cls.__name__ in _REGISTRY:
            out["type"] = cls.__name__
        for name in names:
            out[name] = encode(getattr(obj, name))
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
    if isinstance(obj, str | int | float | bool):
        return obj
    raise TypeError(f"cannot encode {cls.__name__}")


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
    return _decoder(hint)(value)


# Per type hint, the function that decodes a value of it: the hint is looked at once, not at
# every value (`typing.get_origin`, `is_dataclass` and the rest were most of a snapshot's
# decoding, which every engine start pays).
Decoder = typing.Callable[[Any], Any]
_DECODERS: dict[Any, Decoder] = {}


def _decoder(hint: Any) -> Decoder:
    try:
        return _DECODERS[hint]
    except KeyError:
        found = _DECODERS[hint] = _build(hint)
        return found
    except TypeError:  # an unhashable hint: built each time
        return _build(hint)


def _identity(value: Any) -> Any:
    return value


def _build(hint: Any) -> Decoder:
    """The decoder of `hint`; each decoder is given a value that is not None."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        inner = _decoder(args[0]) if len(args) == 1 else _identity

        def union(value: Any) -> Any:
            if isinstance(value, dict) and value.get("type") in _REGISTRY:
                return decode(value)
            return inner(value)

        return union
    if origin in (list, tuple):
        item_hints = typing.get_args(hint)
        item = _decoder(item_hints[0]) if item_hints else _identity
        make = tuple if origin is tuple else list
        return lambda value: make([None if v is None else item(v) for v in value])
    if origin is dict:
        _, vtype = typing.get_args(hint) or (Any, Any)
        each = _decoder(vtype)
        return lambda value: {k: None if v is None else each(v) for k, v in value.items()}
    if hint is Any or not isinstance(hint, type):
        return _identity
    if dataclasses.is_dataclass(hint):
        return _dataclass_decoder(hint)
    if issubclass(hint, enum.Enum):
        return hint
    if hint is Decimal:
        return Decimal
    if hint is datetime:
        return datetime.fromisoformat
    return _identity


def _dataclass_decoder(cls: type[Any]) -> Decoder:
    fields: list[tuple[str, Decoder]] | None = None  # on first use: a field may name `cls`

    def dataclass(value: Any) -> Any:
        nonlocal fields
        tag = value.get("type") if isinstance(value, dict) else None
        if tag is not None and tag in _REGISTRY and _REGISTRY[tag] is not cls:
            return _decoder(_REGISTRY[tag])(value)
        if fields is None:
            fields = [(name, _decoder(field_hint)) for name, field_hint in _init_hints(cls)]
        kwargs = {}
        for name, decode_field in fields:
            if name in value:
                v = value[name]
                kwargs[name] = None if v is None else decode_field(v)
        return cls(**kwargs)

    return dataclass


def _init_hints(cls: type[Any]) -> tuple[tuple[str, Any], ...]:
    """(name, resolved type hint) of each field the constructor takes."""
    found = _HINTS.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = _HINTS[cls] = tuple(
            (f.name, hints[f.name]) for f in dataclasses.fields(cls) if f.init
        )
    return found
