"""A strategy's history for the REST API: cycles, orders, fills, events and logs in pages, the
user's status lines and profit summary.

Every function takes an already-authenticated `user_id` and checks first that the strategy is
that user's (`services.strategies.get_strategy`: NotFound for a missing, deleted or another
user's strategy alike). A page is newest first and keyset-paginated on the row id (cycles: on
their number), never OFFSET: a deep page costs what the first does, and rows added meanwhile
neither repeat nor skip rows on the next page. `limit + 1` rows are read to know whether a next
page exists. Cursors are opaque strings; one made for another list, or edited, is refused.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, localcontext
from typing import Generic, TypeVar

from domain.errors import ValidationError
from domain.market import split_symbol
from domain.money import ZERO
from persistence.records import AuditRecord, CycleRecord, EventRecord
from persistence.records_history import FillRecord, OrderRecord
from persistence.repository import Repository
from services.status import StrategyLine, collect_status
from services.strategies import get_strategy

T = TypeVar("T")

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_MAX_KEY = 2**63 - 1  # BIGINT ids


@dataclass(frozen=True, slots=True, kw_only=True)
class Page(Generic[T]):
    """One page of rows, newest first; `next_cursor` None when there is nothing older."""

    items: list[T]
    next_cursor: str | None


def orders(
    repo: Repository,
    user_id: int,
    strategy_id: int,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[OrderRecord]:
    return _page(
        "orders",
        repo=repo,
        user_id=user_id,
        strategy_id=strategy_id,
        cursor=cursor,
        limit=limit,
        read=lambda before, n: repo.page_orders(strategy_id, before_id=before, limit=n),
        key=lambda row: row.id,
    )


def fills(
    repo: Repository,
    user_id: int,
    strategy_id: int,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[FillRecord]:
    return _page(
        "fills",
        repo=repo,
        user_id=user_id,
        strategy_id=strategy_id,
        cursor=cursor,
        limit=limit,
        read=lambda before, n: repo.page_fills(strategy_id, before_id=before, limit=n),
        key=lambda row: row.id,
    )


def events(
    repo: Repository,
    user_id: int,
    strategy_id: int,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[EventRecord]:
    """Journal rows; decode a payload with `domain.codec.loads`."""
    return _page(
        "events",
        repo=repo,
        user_id=user_id,
        strategy_id=strategy_id,
        cursor=cursor,
        limit=limit,
        read=lambda before, n: repo.page_events(strategy_id, before_id=before, limit=n),
        key=lambda row: row.id,
    )


def logs(
    repo: Repository,
    user_id: int,
    strategy_id: int,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[AuditRecord]:
    """The strategy's audit rows: what its engine reported, and who changed it."""
    return _page(
        "logs",
        repo=repo,
        user_id=user_id,
        strategy_id=strategy_id,
        cursor=cursor,
        limit=limit,
        read=lambda before, n: repo.page_audit(strategy_id, before_id=before, limit=n),
        key=lambda row: row.id,
    )


def cycles(
    repo: Repository,
    user_id: int,
    strategy_id: int,
    *,
    cursor: str | None = None,
    limit: int = DEFAULT_LIMIT,
) -> Page[CycleRecord]:
    return _page(
        "cycles",
        repo=repo,
        user_id=user_id,
        strategy_id=strategy_id,
        cursor=cursor,
        limit=limit,
        read=lambda before, n: repo.page_cycles(strategy_id, before_number=before, limit=n),
        key=lambda row: row.number,
    )


def status_of(repo: Repository, user_id: int, *, now: datetime) -> list[StrategyLine]:
    """The user's status lines (`services.status`), read for that user alone."""
    return collect_status(repo, now=now, user_id=user_id)


# --- profit ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfitTotal:
    quote: str  # the quote currency profits are counted in (BTC of ETH/BTC)
    realized_profit: Decimal
    cycles_closed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfitDay:
    day: date  # UTC date the cycles closed on
    quote: str
    realized_profit: Decimal
    cycles_closed: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfitSummary:
    totals: list[ProfitTotal]  # by quote currency
    days: list[ProfitDay]  # by day, then quote currency (oldest first, as a chart reads)


def profit_summary(repo: Repository, user_id: int, *, since: date | None = None) -> ProfitSummary:
    """Realized profit of the user's closed cycles (those with a realized profit) per quote
    currency and per (UTC day, quote), from `since` (a UTC date) on. Cycles of strategies the
    user deleted count: that profit was made. One grouped read (`Repository.profit_by_day`:
    exact sums per symbol and day, in the database), then symbols sharing a quote are added up
    here, exactly; each quote's day rows add up to its total."""
    start = None if since is None else datetime.combine(since, time.min, tzinfo=UTC)
    totals: dict[str, tuple[Decimal, int]] = {}
    days: dict[tuple[date, str], tuple[Decimal, int]] = {}
    with localcontext() as exact:
        exact.prec = 80  # sums of DECIMAL(36,18) values stay exact (28 digits would round)
        for group in repo.profit_by_day(user_id, since=start):
            quote = split_symbol(group.symbol)[1]
            profit, count = totals.get(quote, (ZERO, 0))
            totals[quote] = (profit + group.realized_profit, count + group.cycles_closed)
            profit, count = days.get((group.day, quote), (ZERO, 0))
            days[(group.day, quote)] = (profit + group.realized_profit, count + group.cycles_closed)
    return ProfitSummary(
        totals=[
            ProfitTotal(quote=quote, realized_profit=profit, cycles_closed=count)
            for quote, (profit, count) in sorted(totals.items())
        ],
        days=[
            ProfitDay(day=day, quote=quote, realized_profit=profit, cycles_closed=count)
            for (day, quote), (profit, count) in sorted(days.items())
        ],
    )


# --- pages and cursors ------------------------------------------------------------------------


def _page(
    kind: str,
    *,
    repo: Repository,
    user_id: int,
    strategy_id: int,
    cursor: str | None,
    limit: int,
    read: Callable[[int | None, int], Sequence[T]],
    key: Callable[[T], int],
) -> Page[T]:
    checked = check_limit(limit)
    before = decode_cursor(cursor, kind)
    get_strategy(repo, user_id, strategy_id)
    rows = list(read(before, checked + 1))
    items = rows[:checked]
    more = len(rows) > checked
    return Page(items=items, next_cursor=encode_cursor(kind, key(items[-1])) if more else None)


def check_limit(limit: object) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValidationError(f"must be a whole number from 1 to {MAX_LIMIT}", field="limit")
    return limit


def encode_cursor(kind: str, key: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None, kind: str) -> int | None:
    """The key a cursor of list `kind` stands for; ValidationError(field="cursor") for anything
    `encode_cursor` did not make for that list."""
    if cursor is None:
        return None
    refused = ValidationError(
        "is not a cursor of this list: pass the next_cursor of the previous page as it came, "
        "or none for the first page",
        field="cursor",
    )
    if not isinstance(cursor, str) or not 0 < len(cursor) <= 64:
        raise refused
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError):
        raise refused from None
    digits = text.partition(":")[2]
    if not digits.isascii() or not digits.isdigit() or len(digits) > 19:
        raise refused
    key = int(digits)
    if not 0 < key <= _MAX_KEY or encode_cursor(kind, key) != cursor:
        raise refused  # made for another list, or not by encode_cursor (padding, zeros...)
    return key
