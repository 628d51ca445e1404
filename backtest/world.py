"""The synchronous world a backtest runs the live `Engine` in: no actors, no threads, no
database. The engine is the service's own (`actors.engine.Engine`, a plain class EngineActor
drives in the service); only its ports are replaced:

- `VirtualClock`: the time of the candle being played, for the engine's wall and market clocks
  alike (rows' times, cooldowns, the resubmit grace, which a backtest sets to 0 as the service
  does for its paper venue).
- `SyncHost`: remembers the watched levels and the next timer; reports and warnings are kept
  as lines for the result.
- `RunStore`: keeps the strategy's one row in memory and records what each step commits (the
  orders' legs, the fills, the cycles) for the report. It keeps the version check of the real
  store, so a step the engine did not expect fails here as it would there.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from domain.market import Candle
from domain.orders import Fill, Order
from persistence.records import (
    ActualState,
    AuditEntry,
    CycleRecord,
    DesiredState,
    EngineState,
    OrderIntent,
    StepResult,
    StrategyRecord,
)
from strategy.candles import aggregate
from strategy.options import TIMEFRAMES

if TYPE_CHECKING:
    from dataclasses import replace  # mypy checks the fields of every call
else:
    from domain.frozen import replace  # the same result, faster (see domain.frozen)

STRATEGY_ID = 1
DEPLOYMENT_TAG = "bktt"


class VirtualClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


@dataclass(slots=True)
class SyncHost:
    clock: VirtualClock
    below: Decimal | None = None
    above: Decimal | None = None
    timers: list[tuple[datetime, int, str]] = field(default_factory=list)
    notes: list[tuple[datetime, str, str]] = field(default_factory=list)
    _seq: int = 0

    def schedule(self, at: datetime, what: str) -> None:
        self._seq += 1
        heapq.heappush(self.timers, (at, self._seq, what))

    def unschedule(self, what: str) -> None:
        """A run never changes its parameters; kept for the Host protocol."""
        self.timers = [t for t in self.timers if t[2] != what]
        heapq.heapify(self.timers)

    def watch(self, below: Decimal | None, above: Decimal | None) -> None:
        self.below, self.above = below, above

    def report(self, kind: str, detail: str | None = None, *, stored: bool = False) -> None:
        self.notes.append((self.clock(), kind, detail or ""))

    def audit_entry(self, kind: str, detail: str) -> AuditEntry:
        return AuditEntry(at=self.clock(), level="info", event=kind, message=detail)

    def warn(self, kind: str, message: str) -> None:
        self.notes.append((self.clock(), kind, message))

    def guard(self, *, exchange: bool = True) -> None:
        return None

    def next_timer(self) -> datetime | None:
        return self.timers[0][0] if self.timers else None

    def due(self, now: datetime) -> list[str]:
        """The timers due at `now`, oldest first, taken off the heap."""
        fired: list[str] = []
        while self.timers and self.timers[0][0] <= now:
            fired.append(heapq.heappop(self.timers)[2])
        return fired


@dataclass(frozen=True, slots=True, kw_only=True)
class LegFill:
    """A fill with what the engine's intent said it was for."""

    cycle: int
    leg: str
    fill: Fill


class RunStore:
    def __init__(self, symbol: str, params: Mapping[str, Any], start: datetime) -> None:
        self.record = StrategyRecord(
            id=STRATEGY_ID,
            user_id=1,
            account_id=1,
            name="backtest",
            symbol=symbol,
            params=dict(params),
            desired_state=DesiredState.RUNNING,
            actual_state=ActualState.RUNNING,
            restart_count=0,
            version=0,
            created_at=start,
            updated_at=start,
        )
        self.legs: dict[str, tuple[int, str]] = {}  # client order id -> (cycle, leg)
        self.orders: dict[str, Order] = {}
        self.placed_at: dict[str, datetime] = {}  # client order id -> when it was staged
        self.ended_at: dict[str, datetime] = {}  # ... -> when it was filled, canceled, refused
        self.fills: list[LegFill] = []
        self.cycles: dict[int, CycleRecord] = {}
        self.events: list[object] = []  # the machine's events, as the service journals them
        self._trade_ids: set[str] = set()

    def load_engine_state(self, strategy_id: int) -> EngineState:
        return EngineState(
            strategy=self.record,
            snapshot=None,
            live_orders=(),
            current_cycle=None,
            known_trade_ids=frozenset(),
            deployment_tag=DEPLOYMENT_TAG,
        )

    def get_strategy(self, strategy_id: int) -> StrategyRecord:
        return self.record

    def save_step(
        self,
        strategy_id: int,
        *,
        snapshot: str,
        expected_version: int,
        now: datetime,
        new_version: int,
        new_orders: list[OrderIntent],
        order_updates: list[Order],
        fills: list[Fill],
        cycle: CycleRecord | None,
        events: list[object],
        audits: list[AuditEntry],
    ) -> StepResult:
        if expected_version != self.record.version:
            raise AssertionError(
                f"backtest: step expected version {expected_version}, "
                f"the store has {self.record.version}"
            )
        self.record = replace(self.record, version=new_version, updated_at=now)
        for intent in new_orders:
            coid = intent.order.client_order_id
            self.legs[coid] = (intent.cycle, intent.leg)
            self.orders[coid] = intent.order
            self.placed_at[coid] = now
        for order in order_updates:
            self.orders[order.client_order_id] = order
            if order.state.is_terminal:
                self.ended_at.setdefault(order.client_order_id, now)
        stored: list[str] = []
        for fill in fills:
            if fill.trade_id in self._trade_ids:
                continue
            self._trade_ids.add(fill.trade_id)
            cycle_number, leg = self.legs.get(fill.client_order_id, (0, "?"))
            self.fills.append(LegFill(cycle=cycle_number, leg=leg, fill=fill))
            stored.append(fill.trade_id)
        if cycle is not None:
            self.cycles[cycle.number] = cycle
        self.events.extend(events)
        return StepResult(version=new_version, new_trade_ids=tuple(stored))


class CandleHistory:
    """The backtest's answer to `Exchange.fetch_candles`: the run's own candles, aggregated
    to the timeframe asked for, up to the virtual clock and never past it (a candle counts
    once its close time is at or before the clock: no look-ahead)."""

    def __init__(self, candles: Sequence[Candle], period: timedelta, clock: VirtualClock) -> None:
        self._candles = candles
        self._closes = [c.timestamp + period for c in candles]  # sorted, as the candles are
        self._period = period
        self._clock = clock

    def closed(self, timeframe: str, limit: int) -> list[Candle]:
        seconds = TIMEFRAMES[timeframe]
        now = self._clock()
        end = bisect.bisect_right(self._closes, now)  # candles closed by now
        ratio = max(1, -(-seconds // int(self._period.total_seconds())))
        start = max(0, end - (limit + 2) * ratio)
        out = aggregate(self._candles[start:end], period=self._period, seconds=seconds, now=now)
        if start > 0 and out:
            out = out[1:]  # its first candle may have been cut by the slice
        return out[-limit:] if limit > 0 else []


class BacktestExchange:
    """The paper exchange of a run, answering `fetch_candles` from the run's candles."""

    def __init__(self, inner: Any, history: CandleHistory) -> None:
        self._inner = inner
        self._history = history

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def fetch_candles(self, symbol: str, timeframe: str, limit: int) -> list[Candle]:
        return self._history.closed(timeframe, limit)
