"""The figures of a backtest (`backtest.runner.Run`): what a trader asks before risking money.

Profit is what the closed cycles realized, in the quote currency, fees included (the engine's
own cycle accounting, as the service stores it). Equity is quote + base x price; its maximum
drawdown is taken candle by candle, the low after the highest equity so far. Funds used is the
most quote one cycle had bought with (for a short: the most its sells received; the base it
sold is the open cycle's negative position). Time in market is the share of the run with a
cycle open.
The open cycle is valued at the last close: what its sells already realized (at its average
cost) and its position's unrealized result. When no cycle holds a position, what the last closed
cycle carried (dust below one step, or the position a "cancel" stop kept) is reported as
`carried`, valued the same way. So the equity moves by exactly the profit plus these.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from backtest.runner import Run
from domain.money import fmt
from persistence.records import CycleRecord, CycleStatus

ZERO = Decimal(0)
HUNDRED = Decimal(100)


@dataclass(frozen=True, slots=True, kw_only=True)
class Report:
    symbol: str
    quote: str
    candles: int
    wakes: int
    start: str
    end: str
    cycles: int
    profit: Decimal
    profit_pct: Decimal
    profit_per_cycle: Decimal
    max_drawdown_pct: Decimal
    max_funds_used: Decimal
    max_safety_orders: int
    safety_orders: dict[int, int]  # safety orders filled -> closed cycles
    longest_cycle: timedelta
    time_in_market_pct: Decimal
    fees: dict[str, Decimal]
    fees_in_quote: Decimal
    open_cycle: dict[str, Decimal] | None
    carried: dict[str, Decimal] | None
    start_equity: Decimal
    end_equity: Decimal

    def as_json(self) -> dict[str, Any]:
        def value(v: Any) -> Any:
            if isinstance(v, Decimal):
                return fmt(v)
            if isinstance(v, timedelta):
                return v.total_seconds()
            if isinstance(v, dict):
                return {str(k): value(x) for k, x in v.items()}
            return v

        return {name: value(getattr(self, name)) for name in self.__dataclass_fields__}


def report(run: Run) -> Report:
    base, quote = run.rules.base, run.rules.quote
    closed = [c for c in run.cycles if c.status is CycleStatus.CLOSED]
    profit = sum((c.realized_profit or ZERO for c in closed), ZERO)
    start_equity = _equity(run.start_balances, base, quote, run.first_price)
    end_equity = _equity(run.end_balances, base, quote, run.last_price)
    fees: dict[str, Decimal] = {}
    fees_in_quote = ZERO
    for leg in run.fills:
        fill = leg.fill
        if fill.fee:
            currency = fill.fee_currency or quote
            fees[currency] = fees.get(currency, ZERO) + fill.fee
            fees_in_quote += fill.fee * fill.price if currency == base else fill.fee
    in_market = timedelta(0)
    longest = timedelta(0)
    for cycle in run.cycles:
        lasted = (cycle.closed_at or run.end) - cycle.opened_at
        in_market += lasted
        longest = max(longest, lasted)
    span = run.end - run.start
    open_cycle = next((c for c in run.cycles if c.status is CycleStatus.OPEN), None)
    holding = open_cycle if open_cycle is not None and open_cycle.amount != 0 else None
    last_closed = closed[-1] if closed and holding is None else None
    return Report(
        symbol=run.symbol,
        quote=quote,
        candles=run.candles,
        wakes=run.wakes,
        start=run.start.isoformat(),
        end=run.end.isoformat(),
        cycles=len(closed),
        profit=profit,
        profit_pct=profit / start_equity * HUNDRED if start_equity else ZERO,
        profit_per_cycle=profit / len(closed) if closed else ZERO,
        max_drawdown_pct=run.max_drawdown * HUNDRED,
        max_funds_used=max((c.received if run.short else c.cost for c in run.cycles), default=ZERO),
        max_safety_orders=max((c.safety_orders_filled for c in run.cycles), default=0),
        safety_orders=dict(sorted(Counter(c.safety_orders_filled for c in closed).items())),
        longest_cycle=longest,
        time_in_market_pct=Decimal(in_market / span * 100) if span else ZERO,
        fees=fees,
        fees_in_quote=fees_in_quote,
        open_cycle=_open(run, holding) if holding is not None else None,
        carried=_carried(run, last_closed) if last_closed is not None else None,
        start_equity=start_equity,
        end_equity=end_equity,
    )


def _open(run: Run, cycle: CycleRecord) -> dict[str, Decimal]:
    """The open cycle at the last close: its position at its average cost, the result of the
    sells it already made (a take-profit that filled for less than the position, when a
    safety order filled in the same candle) and the position's unrealized result."""
    average = cycle.average_price or ZERO
    return {
        "number": Decimal(cycle.number),
        "position": cycle.amount,
        "average": average,
        "realized": cycle.received - cycle.cost + cycle.amount * average,
        "unrealized": cycle.amount * (run.last_price - average),
        "safety_orders": Decimal(cycle.safety_orders_filled),
    }


def _carried(run: Run, cycle: CycleRecord) -> dict[str, Decimal] | None:
    if not cycle.carried_amount:
        return None
    return {
        "position": cycle.carried_amount,
        "cost": cycle.carried_cost,
        "unrealized": cycle.carried_amount * run.last_price - cycle.carried_cost,
    }


def _equity(balances: dict[str, Decimal], base: str, quote: str, price: Decimal) -> Decimal:
    return balances.get(quote, ZERO) + balances.get(base, ZERO) * price
