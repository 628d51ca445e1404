from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain import codec
from domain.orders import Fill, Order, OrderState, OrderType, Side


@codec.register
@dataclass(frozen=True, slots=True, kw_only=True)
class _Sample:
    order: Order
    fills: tuple[Fill, ...] = ()
    note: str | None = None
    tags: dict[str, Decimal] = field(default_factory=dict)


def test_nested_values_round_trip_exactly() -> None:
    at = datetime(2018, 1, 10, 4, 55, tzinfo=UTC)
    order = Order(
        client_order_id="mg1c2s3",
        symbol="ETH/BTC",
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=Decimal("1.00000001"),
        price=Decimal("0.09876543"),
        state=OrderState.OPEN,
        created_at=at,
    )
    fill = Fill(
        trade_id="t1",
        client_order_id="mg1c2s3",
        symbol="ETH/BTC",
        side=Side.BUY,
        price=Decimal("0.09876543"),
        amount=Decimal("0.5"),
        fee=Decimal("0.0005"),
        fee_currency="ETH",
        timestamp=at,
    )
    sample = _Sample(order=order, fills=(fill,), tags={"x": Decimal("0.1")})
    text = codec.dumps(sample)
    assert '"0.09876543"' in text  # decimals travel as strings, never floats
    assert codec.loads(text) == sample


def test_unencodable_values_are_refused() -> None:
    with pytest.raises(TypeError, match="cannot encode"):
        codec.encode(object())


@dataclass(frozen=True, kw_only=True)
class _Base:
    a: Decimal


@dataclass(frozen=True, kw_only=True)
class _Derived(_Base):
    b: str = "x"


def test_field_lists_are_per_class_not_shared_along_the_hierarchy() -> None:
    # Encoding the base first must not make the derived class lose its own field (cached
    # field lists are keyed by the exact class), and a bool stays a bool, not an int.
    assert codec.encode(_Base(a=Decimal("1.50"))) == {"a": "1.50"}
    assert codec.encode(_Derived(a=Decimal(2), b="y")) == {"a": "2", "b": "y"}
    assert codec.encode({"k": (True, 1, None, 1.5)}) == {"k": [True, 1, None, 1.5]}
    assert codec.decode({"a": "3", "b": "z"}, _Derived) == _Derived(a=Decimal(3), b="z")
