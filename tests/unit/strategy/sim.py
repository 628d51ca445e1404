"""A small simulated exchange that drives the pure machine, for the strategy tests.

It fills resting limit orders when the price crosses them (at the limit price), fills market
orders at the current price, can split fills in two, redeliver a trade (to test dedup), reject
some orders, and lets a cancel land only after the next price point, so an order can still fill
while its cancel is in flight, as on a real exchange. It also keeps the ledger the properties are
checked against: every fill it delivered, and every command the machine issued.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from domain.commands import CancelOrder, Command, PlaceOrder, ScheduleWakeup, StrategyFinished
from domain.events import (
    CooldownElapsed,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    PriceTicked,
    Started,
)
from domain.market import split_symbol
from domain.money import ZERO
from domain.orders import Fill, OrderType, Side
from strategy.direction import entry_side
from strategy.machine import decide
from strategy.options import Direction
from strategy.queries import average_price
from strategy.state import MartingaleState

FEE_RATE = Decimal("0.001")


@dataclass
class _Resting:
    cmd: PlaceOrder
    filled: Decimal = ZERO


@dataclass
class SimRun:
    state: MartingaleState
    fee_mode: str = "none"  # none | quote | received (buy: base, sell: quote) | third
    split_fills: bool = False
    duplicate_fills: bool = False
    reject_rate: float = 0.0
    seed: int = 0
    price: Decimal = ZERO
    now: datetime | None = None
    events: list[Event] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    states: list[MartingaleState] = field(default_factory=list)
    resting: dict[str, _Resting] = field(default_factory=dict)
    cancels: list[str] = field(default_factory=list)
    wake_at: datetime | None = None
    finished: bool = False
    trade_seq: int = 0
    buys_net: Decimal = ZERO
    sells_gross: Decimal = ZERO
    committed: dict[int, Decimal] = field(default_factory=dict)  # quote of entry orders
    committed_base: dict[int, Decimal] = field(default_factory=dict)  # base of entry orders
    base_prices: dict[int, Decimal] = field(default_factory=dict)  # P0 of each cycle
    tp_checks: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.base, self.quote = split_symbol(self.state.symbol)

    # --- driving --------------------------------------------------------------------------

    def start(self, at: datetime, price: Decimal) -> None:
        self.now, self.price = at, price
        self._run(Started(at=at, price=price))

    def move(self, at: datetime, price: Decimal) -> None:
        """One price point: fills, then in-flight cancels land, then wakeups and the tick."""
        self.now, self.price = at, price
        if self.finished:
            return
        for coid in list(self.resting):
            r = self.resting.get(coid)
            if r is None or r.cmd.price is None:
                continue
            crosses = price <= r.cmd.price if r.cmd.side is Side.BUY else price >= r.cmd.price
            if crosses:
                self._fill_all(r, r.cmd.price)
        for coid in self.cancels:
            if self.resting.pop(coid, None) is not None:
                self._run(OrderCanceled(at=at, client_order_id=coid))
        self.cancels = []
        if self.wake_at is not None and at >= self.wake_at:
            self.wake_at = None
            self._run(CooldownElapsed(at=at, price=price))
        self._run(PriceTicked(at=at, price=price))

    def feed(self, event: Event) -> None:
        self._run(event)

    # --- internals --------------------------------------------------------------------------

    def _run(self, first: Event) -> None:
        queue: deque[Event] = deque([first])
        while queue:
            event = queue.popleft()
            self.events.append(event)
            new_state, cmds = decide(self.state, event)
            self.state = new_state
            self.states.append(new_state)
            self.commands.extend(cmds)
            for cmd in cmds:
                queue.extend(self._execute(cmd))

    def _execute(self, cmd: Command) -> list[Event]:
        assert self.now is not None
        if isinstance(cmd, PlaceOrder):
            return self._place(cmd)
        if isinstance(cmd, CancelOrder):
            self.cancels.append(cmd.client_order_id)
        elif isinstance(cmd, ScheduleWakeup):
            self.wake_at = cmd.at
        elif isinstance(cmd, StrategyFinished):
            self.finished = True
        return []

    def _place(self, cmd: PlaceOrder) -> list[Event]:
        assert self.now is not None
        short = self.state.params.direction is Direction.SHORT
        if cmd.side is entry_side(self.state.params.direction):
            notional = cmd.amount * (cmd.price if cmd.price is not None else self.price)
            self.committed[cmd.cycle] = self.committed.get(cmd.cycle, ZERO) + notional
            self.committed_base[cmd.cycle] = self.committed_base.get(cmd.cycle, ZERO) + cmd.amount
        else:
            average = average_price(self.state)
            assert average is not None
            if cmd.order_type is OrderType.LIMIT:
                assert cmd.price is not None
                assert cmd.price < average if short else cmd.price > average, (cmd, average)
                self.tp_checks += 1
        if cmd.leg != "b" and self.rng.random() < self.reject_rate:
            return [OrderRejected(at=self.now, client_order_id=cmd.client_order_id, reason="sim")]
        out: list[Event] = [
            OrderAccepted(at=self.now, client_order_id=cmd.client_order_id, exchange_order_id="e")
        ]
        r = _Resting(cmd=cmd)
        self.resting[cmd.client_order_id] = r
        if cmd.order_type is OrderType.MARKET:
            out.extend(self._fills(r, self.price))
        return out

    def _fill_all(self, r: _Resting, price: Decimal) -> None:
        for event in self._fills(r, price):
            self._run(event)

    def _fills(self, r: _Resting, price: Decimal) -> list[Event]:
        assert self.now is not None
        self.resting.pop(r.cmd.client_order_id, None)
        rest = r.cmd.amount
        out: list[Event] = []
        if self.split_fills and self.rng.random() < 0.5:
            first = self.state.rules.round_amount(rest / 2)
            if ZERO < first < rest:
                fill = self._fill(r.cmd, price, first)
                out.append(OrderPartiallyFilled(at=self.now, fill=fill))
                if self.duplicate_fills:
                    out.append(OrderPartiallyFilled(at=self.now, fill=fill))
                rest -= first
        out.append(
            OrderFilled(
                at=self.now,
                client_order_id=r.cmd.client_order_id,
                fill=self._fill(r.cmd, price, rest),
            )
        )
        return out

    def _fill(self, cmd: PlaceOrder, price: Decimal, amount: Decimal) -> Fill:
        self.trade_seq += 1
        fee, currency = ZERO, None
        if self.fee_mode == "quote":
            fee, currency = price * amount * FEE_RATE, self.quote
        elif self.fee_mode == "received":
            if cmd.side is Side.BUY:
                fee, currency = amount * FEE_RATE, self.base
            else:
                fee, currency = price * amount * FEE_RATE, self.quote
        elif self.fee_mode == "third":
            fee, currency = Decimal("0.0001"), "BNB"
        base_fee = fee if currency == self.base else ZERO
        if cmd.leg == "b":
            self.base_prices.setdefault(cmd.cycle, price)
        if cmd.side is Side.BUY:
            self.buys_net += amount - base_fee
        else:
            self.sells_gross += amount + base_fee
        return Fill(
            trade_id=f"T{self.trade_seq}",
            client_order_id=cmd.client_order_id,
            symbol=cmd.symbol,
            side=cmd.side,
            price=price,
            amount=amount,
            fee=fee,
            fee_currency=currency,
        )
