"""Identifiers and the deterministic client order id scheme.

A client order id is derived from (deployment tag, strategy, cycle, leg) so that a restarted
engine computes the same id for the same intent and the exchange can tell us whether it already
has the order. The deployment tag (four lowercase letters, one per database) keeps two
deployments on one exchange account apart: a second service, or a test database pointed at the
same keys, never reissues our ids, and an engine never touches an order that does not carry its
own deployment's tag. Ids stay letters and digits only, within every venue's limit (binance 36
chars of ``[.A-Z:/a-z0-9_-]``, OKX 32 alphanumerics): ``mgabcd4242c1234s12`` is 18 characters.
Ids made before tags existed (``mg42c7s3``) still parse, with the tag "".
"""

from __future__ import annotations

import re
from typing import NewType

UserId = NewType("UserId", int)
AccountId = NewType("AccountId", int)
StrategyId = NewType("StrategyId", int)

CLIENT_ORDER_ID_MAX = 32  # OKX's limit, the tightest of the venues we know
TAG_RE = re.compile(r"^[a-z]{4}$")
_LEG_RE = re.compile(r"^[a-z]{1,2}[0-9]{0,4}$")
_COID_RE = re.compile(
    r"^mg(?P<tag>[a-z]{4})?(?P<strategy>[0-9]+)c(?P<cycle>[0-9]+)(?P<leg>[a-z]{1,2}[0-9]{0,4})$"
)


def client_order_id(strategy_id: int, cycle: int, leg: str, *, tag: str = "") -> str:
    """Return ``mg<tag><strategy>c<cycle><leg>``, e.g. ``mgkqzw42c7s3`` for safety order 3 of
    cycle 7 of strategy 42 in the deployment tagged ``kqzw``.

    Legs: ``b`` base order, ``s<n>`` safety order n, ``u<n>`` safety order n placed again
    after the market's rules changed, ``t<k>`` take-profit revision k, ``t<x><k>`` take-profit
    step x (a..j: steps 1..10) placed in round k, ``x<k>`` market exit (stop loss / sell now).
    """
    if strategy_id < 0 or cycle < 0:
        raise ValueError("strategy id and cycle must be >= 0")
    if not _LEG_RE.match(leg):
        raise ValueError(f"invalid order leg {leg!r}")
    if tag and not TAG_RE.match(tag):
        raise ValueError(f"invalid deployment tag {tag!r}: four lowercase letters")
    coid = f"mg{tag}{strategy_id}c{cycle}{leg}"
    if len(coid) > CLIENT_ORDER_ID_MAX:
        raise ValueError(f"client order id {coid!r} exceeds {CLIENT_ORDER_ID_MAX} characters")
    return coid


def parse_client_order_id(coid: str) -> tuple[int, int, str] | None:
    """(strategy, cycle, leg) of an id `client_order_id` made, whatever its deployment tag;
    None for ids we did not make (e.g. manual orders)."""
    match = _COID_RE.match(coid)
    if match is None:
        return None
    return int(match["strategy"]), int(match["cycle"]), match["leg"]


def client_order_id_tag(coid: str) -> str | None:
    """The deployment tag of an id `client_order_id` made ("" for an id made before tags
    existed); None for ids we did not make."""
    match = _COID_RE.match(coid)
    if match is None:
        return None
    return match["tag"] or ""
