"""Users' notifications: the events a target can want, the message an event becomes, its text.

The vocabulary is shared by the config file, the database, the REST API and the notifier
(`actors.notifier`), so it lives here, with the standard library only. `Notify` is what an
engine or a supervisor tells the notifier: small, frozen, and built only when the user has a
target that wants the event (`actors.notifier.Notifications.wants`). Its text is made on the
notifier's thread, never on an engine's (`render`).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Final


class NotifyEvent(enum.StrEnum):
    CYCLE_CLOSED = "cycle_closed"  # a cycle sold at its take-profit (or by hand): its profit
    SAFETY_FILLED = "safety_filled"  # a safety order filled (chatty: off by default)
    SAFETY_EXHAUSTED = "safety_exhausted"  # the last safety order filled: no more to buy
    STOP_LOSS = "stop_loss"  # a cycle closed by its stop loss
    STRATEGY_FAULTED = "strategy_faulted"  # given up on after repeated crashes
    STRATEGY_DEGRADED = "strategy_degraded"  # exchange or feed trouble, retried
    KEY_REJECTED = "key_rejected"  # the exchange refused the account's API key
    TEST = "test"  # `martingale notify test` and the API's test: every target gets it


ALL_EVENTS: Final = frozenset(e for e in NotifyEvent if e is not NotifyEvent.TEST)
DEFAULT_EVENTS: Final = ALL_EVENTS - {NotifyEvent.SAFETY_FILLED}
EVENT_NAMES: Final = tuple(sorted(e.value for e in ALL_EVENTS))
NAME_PATTERN: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_SCHEME: Final = re.compile(r"^([a-z][a-z0-9+.-]{0,31})://", re.IGNORECASE)


def parse_events(values: Iterable[str]) -> frozenset[NotifyEvent]:
    """The events named, or ValueError naming the unknown one and the choices."""
    out = set()
    for value in values:
        try:
            event = NotifyEvent(value)
        except ValueError:
            event = None
        if event is None or event is NotifyEvent.TEST:
            raise ValueError(f"unknown event {value!r}; choose from {', '.join(EVENT_NAMES)}")
        out.add(event)
    return frozenset(out)


def url_scheme(url: str) -> str | None:
    """The scheme of an apprise URL ("tgram", "discord", "json"...), lower case, or None when
    the text is not ``scheme://...``. The scheme is all of a URL that may be shown."""
    match = _SCHEME.match(url.strip())
    return match[1].lower() if match else None


def target_name_problem(name: str) -> str | None:
    if not NAME_PATTERN.fullmatch(name):
        return "must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Notify:
    """One event for one user's targets. `profit` is in `currency` (the quote); `level` is a
    safety order's number; `detail` an error's text (never a secret: the log redactor's
    registered values are masked from it again before it is sent)."""

    user_id: int
    event: NotifyEvent
    at: datetime
    strategy_id: int | None = None
    symbol: str | None = None
    cycle: int | None = None
    profit: Decimal | None = None
    currency: str | None = None
    level: int | None = None
    detail: str | None = None


_DETAIL_MAX = 300


def money_text(value: Decimal, currency: str | None) -> str:
    """A profit as people read it: signed, 8 places at most, no trailing zeros."""
    places = Decimal("1e-8")
    text = format(value.quantize(places, rounding=ROUND_HALF_EVEN), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    if text in ("-0", ""):
        text = "0"
    if not text.startswith("-"):
        text = "+" + text
    return f"{text} {currency}" if currency else text


def render(notice: Notify, strategy: str | None) -> tuple[str, str]:
    """(title, body) of a notification: short, naming the strategy, symbol and cycle."""
    name = strategy or (f"strategy {notice.strategy_id}" if notice.strategy_id else "")
    where = " ".join(p for p in (name, f"({notice.symbol})" if notice.symbol else "") if p)
    cycle = f"cycle {notice.cycle}" if notice.cycle is not None else "the cycle"
    profit = money_text(notice.profit, notice.currency) if notice.profit is not None else "?"
    detail = _short(notice.detail)
    event = notice.event
    if event is NotifyEvent.CYCLE_CLOSED:
        return f"{name}: profit {profit}", f"{where}: {cycle} closed with {profit}."
    if event is NotifyEvent.STOP_LOSS:
        return f"{name}: stop loss", f"{where}: {cycle} closed by its stop loss, {profit}."
    if event is NotifyEvent.SAFETY_FILLED:
        return (
            f"{name}: safety order {notice.level}",
            f"{where}: safety order {notice.level} filled in {cycle}.",
        )
    if event is NotifyEvent.SAFETY_EXHAUSTED:
        return (
            f"{name}: all safety orders used",
            f"{where}: the last safety order ({notice.level}) filled in {cycle}; no more buys "
            "until the cycle closes.",
        )
    if event is NotifyEvent.STRATEGY_FAULTED:
        return f"{name}: faulted", f"{where} was stopped after repeated failures: {detail}"
    if event is NotifyEvent.STRATEGY_DEGRADED:
        return f"{name}: degraded", f"{where} is degraded and retrying: {detail}"
    if event is NotifyEvent.KEY_REJECTED:
        return (
            "API key rejected",
            f"The exchange rejected an API key: {detail} Its strategies were stopped; replace "
            "the key, then resume them.",
        )
    return "martingale: test", "A test notification from martingale: this target works."


def _short(text: str | None) -> str:
    if not text:
        return "no detail."
    text = " ".join(text.split())
    if len(text) > _DETAIL_MAX:
        text = text[: _DETAIL_MAX - 1] + "…"
    return text if text.endswith((".", "…")) else text + "."
