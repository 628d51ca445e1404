"""A strategy's journal rows as lines a trader reads: "safety order 2 filled: buy 0.062 at
0.096193" rather than the stored JSON.

The journal stores each engine message as JSON with its type (domain.codec); this reads the few
fields a line needs from that JSON and never fails: a type it does not know, or a payload it
cannot read, is shown as its type and the start of the raw payload.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from domain.ids import parse_client_order_id

RAW_CHARS = 160


def leg_label(leg: str) -> str:
    """b: base order, s3: safety order 3, u3: safety order 3 placed again, t2: take-profit
    (revision 2), tb3: take-profit step 2 (placed in round 3), x1: exit at market."""
    kind, number = leg[:1], leg[1:]
    if kind == "b":
        return "base order"
    if kind == "s":
        return f"safety order {number}"
    if kind == "u":
        return f"safety order {number} (placed again)"
    if kind == "t" and number[:1].isalpha():
        step = ord(number[0]) - ord("a") + 1
        return f"take-profit step {step} (round {number[1:]})"
    if kind == "t":
        return "take-profit" if number in ("", "1") else f"take-profit (revision {number})"
    if kind == "x":
        return "exit at market"
    return f"order {leg}"


def _order(coid: object) -> str:
    parsed = parse_client_order_id(coid) if isinstance(coid, str) else None
    return leg_label(parsed[2]) if parsed is not None else f"order {coid}"


def _trade(fill: Any) -> str:
    if not isinstance(fill, dict):
        return ""
    return f"{fill.get('side', '?')} {fill.get('amount', '?')} at {fill.get('price', '?')}"


def _place(p: dict[str, Any]) -> str:
    at = f"at {p['price']}" if p.get("price") else "at market"
    return (
        f"place {leg_label(str(p.get('leg', '?')))}: {p.get('side', '?')} {p.get('amount', '?')} "
        f"{at} (cycle {p.get('cycle', '?')})"
    )


def _filled(p: dict[str, Any]) -> str:
    trade = _trade(p.get("fill"))
    return f"{_order(p.get('client_order_id'))} filled" + (f": {trade}" if trade else "")


def _part(p: dict[str, Any]) -> str:
    found = p.get("fill")
    fill: dict[str, Any] = found if isinstance(found, dict) else {}
    return f"{_order(fill.get('client_order_id'))} part-filled: {_trade(fill)}"


def _closed(p: dict[str, Any]) -> str:
    return (
        f"cycle {p.get('cycle', '?')} closed ({p.get('reason', '?')}): profit "
        f"{p.get('realized_profit', '?')}"
    )


LINES: dict[str, Callable[[dict[str, Any]], str]] = {
    "PlaceOrder": _place,
    "CancelOrder": lambda p: f"cancel {_order(p.get('client_order_id'))}",
    "OrderAccepted": lambda p: f"{_order(p.get('client_order_id'))} accepted by the exchange",
    "OrderFilled": _filled,
    "OrderPartiallyFilled": _part,
    "OrderCanceled": lambda p: f"{_order(p.get('client_order_id'))} cancelled",
    "OrderRejected": lambda p: (
        f"{_order(p.get('client_order_id'))} rejected: {p.get('reason', '?')}"
    ),
    "Started": lambda p: f"started at price {p.get('price', '?')}",
    "PriceTicked": lambda p: f"price {p.get('price', '?')}",
    "StopRequested": lambda p: f"stop requested ({p.get('mode', '?')})",
    "CooldownElapsed": lambda p: f"cooldown over, price {p.get('price', '?')}",
    "CycleClosed": _closed,
    "StrategyFinished": lambda p: f"finished: {p.get('reason', '?')}",
    "ScheduleWakeup": lambda p: "wake-up scheduled",
}


def event_line(kind: str, payload: str) -> str:
    """The line for one journal row (its `type` and stored JSON payload)."""
    line = LINES.get(kind)
    if line is not None:
        try:
            data = json.loads(payload)
            if isinstance(data, dict):
                return line(data)
        except (ValueError, TypeError, AttributeError, KeyError):
            pass
    raw = payload[:RAW_CHARS] + ("…" if len(payload) > RAW_CHARS else "")
    return f"{kind} {raw}"
