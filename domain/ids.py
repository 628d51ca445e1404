"""Identifiers and the deterministic client order id scheme.

A client order id is derived from (strategy, cycle, leg) so that a restarted engine computes the
same id for the same intent and the exchange can tell us whether it already has the order.
Exchanges limit ids (binance: 36 chars of ``[.A-Z:/a-z0-9_-]``); ours stay well inside that.
"""

from __future__ import annotations

import re
from typing import NewType

UserId = NewType("UserId", int)
AccountId = NewType("AccountId", int)
StrategyId = NewType("StrategyId", int)

CLIENT_ORDER_ID_MAX = 36
_LEG_RE = re.compile(r"^[a-z]{1,2}[0-9]{0,4}$")
_COID_RE = re.compile(r"^mg(?P<strategy>[0-9]+)c(?P<cycle>[0-9]+)(?P<leg>[a-z]{1,2}[0-9]{0,4})$")


def client_order_id(strategy_id: int, cycle: int, leg: str) -> str:
    """Return ``mg<strategy>c<cycle><leg>``, e.g. ``mg42c7s3`` for safety order 3 of cycle 7.

    Legs: ``b`` base order, ``s<n>`` safety order n, ``t<k>`` take-profit revision k,
    ``x<k>`` market exit (stop loss / sell now), ``f<k>`` flatten (re-sell of a remainder).
    """
    if strategy_id < 0 or cycle < 0:
        raise ValueError("strategy id and cycle must be >= 0")
    if not _LEG_RE.match(leg):
        raise ValueError(f"invalid order leg {leg!r}")
    coid = f"mg{strategy_id}c{cycle}{leg}"
    if len(coid) > CLIENT_ORDER_ID_MAX:
        raise ValueError(f"client order id {coid!r} exceeds {CLIENT_ORDER_ID_MAX} characters")
    return coid


def parse_client_order_id(coid: str) -> tuple[int, int, str] | None:
    """Inverse of `client_order_id`; None for ids we did not make (e.g. manual orders)."""
    match = _COID_RE.match(coid)
    if match is None:
        return None
    return int(match["strategy"]), int(match["cycle"]), match["leg"]
