"""Journal rows read as a trader's lines; anything unreadable falls back to the raw row."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.codec import dumps
from domain.commands import PlaceOrder
from domain.events import OrderFilled, OrderPartiallyFilled
from domain.orders import Fill, OrderType, Side
from services.event_text import event_line, leg_label

AT = datetime(2030, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("leg", "label"),
    [
        ("b", "base order"),
        ("s3", "safety order 3"),
        ("u3", "safety order 3 (placed again)"),
        ("t1", "take-profit"),
        ("t4", "take-profit (revision 4)"),
        ("tb3", "take-profit step 2 (round 3)"),
        ("x1", "exit at market"),
        ("zz", "order zz"),
    ],
)
def test_legs_are_named(leg: str, label: str) -> None:
    assert leg_label(leg) == label


def test_the_engines_own_messages_read_as_lines() -> None:
    place = PlaceOrder(
        client_order_id="mg7c2s2",
        symbol="ETH/BTC",
        side=Side.BUY,
        order_type=OrderType.LIMIT,
        amount=Decimal("0.062"),
        price=Decimal("0.096193"),
        cycle=2,
        leg="s2",
    )
    assert event_line("PlaceOrder", dumps(place)) == (
        "place safety order 2: buy 0.062 at 0.096193 (cycle 2)"
    )
    fill = Fill(
        trade_id="9",
        client_order_id="mg7c2s2",
        symbol="ETH/BTC",
        side=Side.BUY,
        price=Decimal("0.096193"),
        amount=Decimal("0.031"),
    )
    part = OrderPartiallyFilled(at=AT, fill=fill)
    assert event_line("OrderPartiallyFilled", dumps(part)) == (
        "safety order 2 part-filled: buy 0.031 at 0.096193"
    )
    done = OrderFilled(at=AT, client_order_id="mg7c2t1")
    assert event_line("OrderFilled", dumps(done)) == "take-profit filled"


@pytest.mark.parametrize(
    ("kind", "payload"),
    [("Mystery", '{"a": 1}'), ("PlaceOrder", "not json"), ("OrderFilled", "[1, 2]")],
)
def test_what_cannot_be_read_is_shown_raw(kind: str, payload: str) -> None:
    assert event_line(kind, payload) == f"{kind} {payload}"
