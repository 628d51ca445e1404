"""One strategy over historical candles, with the service's own engine and paper matching.

The loop, per candle (`at` is its close time, the time the live replay stamps it with):

1. A candle that crosses none of the engine's watched levels (the highest resting buy or the
   stop-loss price below, the lowest resting sell above) and fires no timer changes nothing:
   the venue is not touched, only the equity is followed. The engine watches every resting
   order, so such a candle cannot fill one.
2. Otherwise the venue takes the whole candle first (`update_candle`, the call the live replay
   makes; the paper venue's matching core, in a `SimVenue` by default: no file): every resting
   buy at or above the low and every resting sell at or below the high fills whole, at its own
   limit; the close becomes the last price.
3. The engine reacts once, as the service's engine does when the feed wakes it: it syncs its
   orders (a safety fill before a take-profit fill: for a long strategy the low is taken to come
   before the high, for a short the high before the low), then sees the low (the stop loss; the
   high for a short, whose stop sits above), then the other side if it reaches a watched level
   there (a trailing stop or take-profit arms or follows its best price: no resting order holds
   that level, so the venue did not fill it), then places what follows. New orders
   meet only the close: a market order, or a limit that crosses the close, fills at the close.
   A level above that the high still reaches after that (a trailing stop's next best) is told
   the high, after the low.
4. Timers due by `at` fire, oldest first (a cooldown ends at the first candle whose close time
   reaches it; its base order fills at that close). A strategy waiting for an indicator looks
   at each close of its timeframe: the candles closed by then (`world.CandleHistory`), and
   when the condition holds its base order fills at that close.

So a safety fill and a take-profit fill happen in one candle only when both rested before it
(low at or below the safety price, high at or above the take-profit), or when the take-profit
placed after a safety fill lies at or below the close.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from actors.engine import Engine
from backtest.world import (
    STRATEGY_ID,
    BacktestExchange,
    CandleHistory,
    LegFill,
    RunStore,
    SyncHost,
    VirtualClock,
)
from domain.events import OrderRejected
from domain.market import Balance, Candle, MarketRules, Ticker
from exchange.paper.exchange import PaperExchange
from exchange.paper.sim import SimVenue
from persistence.records import CycleRecord
from strategy.options import Direction

ACCOUNT = "backtest/main"
REPLAY = "backtest"  # the venue then stamps orders and fills with market time, as on a replay
ZERO = Decimal(0)
INFINITY = Decimal("Infinity")
NEVER = datetime.max.replace(tzinfo=UTC)
PROGRESS_MASK = 2**14 - 1  # progress is told every 16,384 candles
CATCH_UP_LIMIT = 3  # wake-ups on one candle's close after its first (a stop below the close...)


class CandleVenue(Protocol):
    """What the runner needs of a paper venue (`SimVenue`, or a `PaperVenue` on a file)."""

    def open_account(
        self, account_key: str, *, balances: Mapping[str, Decimal], fee_rate: Decimal
    ) -> None: ...
    def set_market_rules(self, rules: MarketRules) -> None: ...
    def update_candle(
        self, symbol: str, candle: Candle, at: datetime | None = None, *, replay: str | None = None
    ) -> Any: ...
    def balances(self, account_key: str) -> dict[str, Balance]: ...
    def ticker(self, symbol: str) -> Ticker: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """What a backtest saw: every fill with its leg, every cycle, and the equity's extremes."""

    symbol: str
    rules: MarketRules
    start: datetime
    end: datetime
    candles: int
    wakes: int
    first_price: Decimal
    last_price: Decimal
    start_balances: dict[str, Decimal]
    end_balances: dict[str, Decimal]
    fills: tuple[LegFill, ...]
    cycles: tuple[CycleRecord, ...]
    max_drawdown: Decimal  # fraction of the peak equity, 0..1
    max_drawdown_at: datetime | None
    notes: tuple[tuple[datetime, str, str], ...]
    # With `equity=True`: (close time, close, equity at the close) for every candle.
    equity: tuple[tuple[datetime, Decimal, Decimal], ...] = ()
    # When each order was staged and when it ended (filled, canceled, refused), by client
    # order id, with its leg's order: the lines of a plot.
    orders: tuple[tuple[str, datetime, datetime | None, Decimal | None], ...] = ()
    short: bool = False  # direction: short (its entries are sells)


def run(
    candles: Sequence[Candle],
    *,
    period: timedelta,
    params: Mapping[str, Any],
    rules: MarketRules,
    balances: Mapping[str, Decimal],
    fee_rate: Decimal,
    venue: CandleVenue | None = None,
    equity: bool = False,
    progress: Callable[[int], None] | None = None,
) -> Run:
    """Play `candles` (oldest first, one market) through a fresh engine trading on `venue`
    (default: a fresh in-memory `SimVenue`); `equity`: also record the equity at every close
    (for a plot; it costs every candle); `progress(n)`: told every 16,384 candles how many
    were played, and at the end."""
    if len(candles) < 2:
        raise ValueError("a backtest needs at least two candles")
    player = _Player(
        candles,
        period=period,
        params=params,
        rules=rules,
        balances=balances,
        fee_rate=fee_rate,
        venue=venue if venue is not None else SimVenue(),
    )
    return player.play(candles, equity=equity, progress=progress)


class _Player:
    """One run: the venue, the engine in its synchronous world, and the equity's extremes."""

    def __init__(
        self,
        candles: Sequence[Candle],
        *,
        period: timedelta,
        params: Mapping[str, Any],
        rules: MarketRules,
        balances: Mapping[str, Decimal],
        fee_rate: Decimal,
        venue: CandleVenue,
    ) -> None:
        first = candles[0]
        self.first, self.period, self.rules, self.venue = first, period, rules, venue
        symbol = rules.symbol
        self.clock = clock = VirtualClock(first.timestamp + period)
        venue.set_market_rules(rules)
        venue.open_account(ACCOUNT, balances=dict(balances), fee_rate=fee_rate)
        venue.update_candle(symbol, first, clock.now, replay=REPLAY)  # start on its close
        self.store = RunStore(symbol, params, clock.now)
        self.host = SyncHost(clock)
        self.engine = Engine(
            strategy_id=STRATEGY_ID,
            exchange=BacktestExchange(
                PaperExchange(venue, ACCOUNT),  # type: ignore[arg-type]
                CandleHistory(candles, period, clock),
            ),
            store=self.store,
            host=self.host,
            clock=clock,
            market_clock=clock,
            price=lambda: venue.ticker(symbol).last,
            resubmit_grace=0.0,
            snapshot=_no_snapshot,  # a backtest never restarts from its store
            candle_delay=0.0,  # a candle is closed at its close time: the clock is the data's
        )
        self.start_balances = self.balances()
        self.engine.start()
        self.wakes = 0
        # The price that may fire the stop loss: the low for a long, the high for a short.
        self.short = self.engine.state is not None and (
            self.engine.state.params.direction is Direction.SHORT
        )

    def balances(self) -> dict[str, Decimal]:
        return {c: b.total for c, b in self.venue.balances(ACCOUNT).items()}

    def holdings(self) -> tuple[Decimal, Decimal]:
        """(quote, base) held."""
        held = self.venue.balances(ACCOUNT)
        base, quote = self.rules.base, self.rules.quote
        return (held[quote].total if quote in held else ZERO), (
            held[base].total if base in held else ZERO
        )

    def wake(self, candle: Candle, at: datetime, crossed: bool) -> None:
        """Steps 2-4 of the module docstring."""
        self.wakes += 1
        self.clock.now = at
        self.venue.update_candle(self.rules.symbol, candle, at, replay=REPLAY)
        if crossed:
            self.engine.on_range(candle.low, candle.high, at, candle.close)
        _fire(self.engine, self.host, at)
        _catch_up(self.engine, self.host, candle.close, at)

    def play(
        self, candles: Sequence[Candle], *, equity: bool, progress: Callable[[int], None] | None
    ) -> Run:
        host, period, first = self.host, self.period, self.first
        cash, position = self.holdings()
        peak = cash + position * first.close
        worst, worst_at = ZERO, None
        floor = peak  # the equity below which the drawdown from `peak` is a new worst
        last = first
        curve: list[tuple[datetime, Decimal, Decimal]] = []
        if equity:
            curve.append((self.clock.now, first.close, peak))
        below, above, due = _levels(host, period)
        for n, candle in enumerate(candles):
            if not n & PROGRESS_MASK:
                if progress is not None:
                    progress(n)
                if not n:
                    continue  # the first candle was taken on start
            last = candle
            low, high = candle.low, candle.high
            trough = cash + position * low if position else cash
            if trough < floor and peak > 0:
                worst, worst_at = (peak - trough) / peak, candle.timestamp + period
                floor = trough
            crossed = low <= below or high >= above
            if crossed or candle.timestamp >= due:
                self.wake(candle, candle.timestamp + period, crossed)
                cash, position = self.holdings()
                if self.engine.finished:
                    break
                below, above, due = _levels(host, period)
            top = cash + position * high if position else cash
            if top > peak:
                peak, floor = top, top * (1 - worst)
            if equity:
                curve.append(
                    (candle.timestamp + period, candle.close, cash + position * candle.close)
                )
        if progress is not None:
            progress(len(candles))
        return self.result(len(candles), last, worst, worst_at, curve)

    def result(
        self,
        candles: int,
        last: Candle,
        worst: Decimal,
        worst_at: datetime | None,
        curve: list[tuple[datetime, Decimal, Decimal]],
    ) -> Run:
        store, host = self.store, self.host
        return Run(
            symbol=self.rules.symbol,
            rules=self.rules,
            start=self.first.timestamp,
            end=last.timestamp + self.period,
            candles=candles,
            wakes=self.wakes,
            first_price=self.first.close,
            last_price=last.close,
            start_balances=self.start_balances,
            end_balances=self.balances(),
            fills=tuple(store.fills),
            cycles=tuple(store.cycles[n] for n in sorted(store.cycles)),
            max_drawdown=worst,
            max_drawdown_at=worst_at,
            notes=tuple(sorted([*host.notes, *_rejections(store)], key=lambda note: note[0])),
            equity=tuple(curve),
            orders=tuple(
                (store.legs[coid][1], placed, store.ended_at.get(coid), store.orders[coid].price)
                for coid, placed in store.placed_at.items()
            ),
            short=self.short,
        )


def _levels(host: SyncHost, period: timedelta) -> tuple[Decimal, Decimal, datetime]:
    """(a low at or below this wakes the engine, a high at or above this does, a candle that
    opens at or after this fires a timer), with sentinels that never match for what is unset."""
    due = host.next_timer()
    return (
        ZERO if host.below is None else host.below,  # a low is > 0
        INFINITY if host.above is None else host.above,
        NEVER if due is None else due - period,  # due by the candle's close
    )


def _no_snapshot(_state: object) -> str:
    return ""


def _rejections(store: RunStore) -> list[tuple[datetime, str, str]]:
    """Orders the venue refused (too little money, below a minimum), as the service logs them."""
    return [
        (e.at, "order_rejected", f"{store.legs.get(e.client_order_id, (0, '?'))[1]}: {e.reason}")
        for e in store.events
        if isinstance(e, OrderRejected)
    ]


def _fire(engine: Engine, host: SyncHost, at: datetime) -> None:
    for what in host.due(at):
        if what == "cooldown":
            engine.on_cooldown()
        elif what == "start":
            engine.on_start_check()
        else:
            engine.sync()


def _catch_up(engine: Engine, host: SyncHost, close: Decimal, at: datetime) -> None:
    """Levels placed in reaction that the close already crossed (a stop loss above it): the
    engine looks again at the close. (A buy or sell the close crossed never rests: the venue
    fills it when it is placed.) The live feed's catch-up does the same (`FeedLink.watch`):
    levels set after a candle are tested against its close, not its earlier low."""
    for _ in range(CATCH_UP_LIMIT):
        below, above = host.below, host.above
        if not ((below is not None and close <= below) or (above is not None and close >= above)):
            return
        engine.on_tick(close, at)
        _fire(engine, host, at)


__all__ = ["ACCOUNT", "CandleVenue", "Run", "run"]
