"""Read models of the web dashboard: the overview of a user's strategies and one strategy's page.

Everything comes from the database (what the service wrote: states, cycles, orders, fills,
heartbeats), plus the market's current price where this process knows it (`PriceOf`: the
running service's feeds; None where the dashboard runs without them, and the price columns then
say so). Money stays Decimal; the templates format it.

Unrealized profit is the open position valued at the current price minus what it cost, before
the fee of the sale that has not happened yet. Totals are per quote currency: profits in BTC
and in USDT are never added together.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from domain.money import ZERO
from domain.orders import OrderState
from persistence.records import (
    ActualState,
    CycleStatus,
    StrategyStatus,
)
from persistence.repository import Repository
from services.status import line_of, waiting_for

# The market's price now, by (venue, symbol); None when this process has no price for it.
PriceOf = Callable[[str, str], Decimal | None]
# Engines beat every 10 s (actors.root); a user whose newest beat is older than this has no
# service running for them, or a stuck one: the dashboard says so in a banner.
HEARTBEAT_STALE = timedelta(seconds=45)
# States in which an engine runs, and so beats.
BEATING = frozenset(
    {ActualState.STARTING, ActualState.RUNNING, ActualState.WAITING, ActualState.PAUSED}
)
ACTIVE_ORDER = frozenset({OrderState.PENDING_SUBMIT, OrderState.OPEN, OrderState.PARTIALLY_FILLED})


def no_prices(_venue: str, _symbol: str) -> Decimal | None:
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyRow:
    id: int
    name: str
    symbol: str
    quote: str
    account: str
    state: str
    desired_state: str
    cycle: int | None
    cycles_completed: int
    safety_used: int
    safety_max: int
    position: Decimal
    held: bool  # the position a closed cycle kept (after a stop-now), not an open cycle's
    cost: Decimal  # position x average entry (0 when there is none)
    average: Decimal | None
    take_profit: Decimal | None
    price: Decimal | None
    unrealized: Decimal | None
    realized: Decimal
    last_error: str | None
    heartbeat_age_s: int | None
    # Since the service last showed life for it: its heartbeat, or the state change that
    # started it (an engine beats first some seconds after it starts).
    seen_age_s: int
    waiting_for: str | None = None  # state waiting: "waiting for rsi14<30 on 5m"


@dataclass(frozen=True, slots=True, kw_only=True)
class QuoteTotal:
    quote: str
    realized: Decimal
    unrealized: Decimal | None  # None: some position of this currency has no price here
    in_position: Decimal  # positions at their average entry


@dataclass(frozen=True, slots=True, kw_only=True)
class Overview:
    rows: list[StrategyRow]
    totals: list[QuoteTotal]
    # None: fine; else why the service looks down (no engine of this user beat lately).
    service_down: str | None


def quote_of(symbol: str) -> str:
    return symbol.split("/", 1)[1] if "/" in symbol else ""


def overview(
    repo: Repository,
    user_id: int,
    *,
    now: datetime,
    price_of: PriceOf,
    only: int | None = None,
) -> Overview:
    """The user's strategies (with `only`, that one strategy's row alone, or none)."""
    venues = {account.id: (account.name, account.venue) for account in repo.list_accounts(user_id)}
    rows = [
        _row(status, venues, now, price_of)
        for status in repo.list_status(user_id=user_id)
        if status.strategy.user_id == user_id and only in (None, status.strategy.id)
    ]
    rows.sort(key=lambda row: row.name)
    return Overview(rows=rows, totals=_totals(rows), service_down=_down(rows))


def _row(
    status: StrategyStatus,
    venues: Mapping[int, tuple[str, str]],
    now: datetime,
    price_of: PriceOf,
) -> StrategyRow:
    """Position: the open cycle's, or what a closed one kept (a stop-now keeps it, and the
    next cycle adopts it): it is on the account either way, and so is its result."""
    record = status.strategy
    account, venue = venues.get(record.account_id, ("?", ""))
    line = line_of(status, "", now)
    cycle = status.latest_cycle
    holding = cycle is not None and cycle.status is CycleStatus.OPEN
    price = price_of(venue, record.symbol) if venue else None
    position = line.position_amount if holding else line.held_amount
    average = line.average_price if holding else line.held_average
    unrealized = ZERO if position == 0 else None  # nothing held: nothing unrealized
    if holding and cycle is not None and (position == 0 or price is not None):
        # The open cycle's result were its position sold at the price: with what its sells
        # already received (a take-profit that filled for part of the position), so realized
        # (closed cycles) plus unrealized is the whole result.
        unrealized = position * (price or ZERO) + cycle.received - cycle.cost
    elif position != 0 and price is not None and average is not None:
        unrealized = position * (price - average)
    take_profit = status.take_profit if holding else None
    age = None if line.heartbeat_age_s is None else int(line.heartbeat_age_s)
    seen = max(record.updated_at, record.last_heartbeat or record.updated_at)
    return StrategyRow(
        id=record.id,
        name=record.name,
        symbol=record.symbol,
        quote=quote_of(record.symbol),
        account=account,
        state=record.actual_state.value,
        desired_state=record.desired_state.value,
        cycle=status.current_cycle,
        cycles_completed=status.cycles_completed,
        safety_used=cycle.safety_orders_filled if holding and cycle is not None else 0,
        safety_max=int(record.params.get("max_safety_orders", 0)),
        position=position,
        held=not holding and position != 0,  # a short's kept debt is negative
        cost=position * average if average is not None else ZERO,
        average=average,
        take_profit=take_profit,
        price=price,
        unrealized=unrealized,
        realized=status.realized_profit,
        last_error=record.last_error,
        waiting_for=waiting_for(record),
        heartbeat_age_s=age,
        seen_age_s=max(0, int((now - seen).total_seconds())),
    )


def _totals(rows: list[StrategyRow]) -> list[QuoteTotal]:
    """Per quote currency. Unrealized is None (unknown) when any position in that currency
    has no price here: a partial sum would read as a result."""
    totals: dict[str, QuoteTotal] = {}
    for row in rows:
        was = totals.get(row.quote) or QuoteTotal(
            quote=row.quote, realized=ZERO, unrealized=ZERO, in_position=ZERO
        )
        unrealized = (
            None
            if was.unrealized is None or row.unrealized is None
            else was.unrealized + row.unrealized
        )
        totals[row.quote] = QuoteTotal(
            quote=row.quote,
            realized=was.realized + row.realized,
            unrealized=unrealized,
            in_position=was.in_position + abs(row.cost),  # a short's cost is negative
        )
    return [totals[quote] for quote in sorted(totals)]


def _down(rows: list[StrategyRow]) -> str | None:
    """Why the service looks down for this user, or None: every engine that should be running
    beats every 10 s, so when the newest beat of all is stale, no service runs them."""
    beating = [row for row in rows if row.state in BEATING]
    if not beating:
        return None
    newest = min(row.seen_age_s for row in beating)
    if newest <= HEARTBEAT_STALE.total_seconds():
        return None
    return f"no heartbeat from the service for {newest} s: it may be stopped or stuck"
