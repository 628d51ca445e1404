"""Where the paper exchange's matching core tells each change: the venue's journal (its SQLite
file, see `journal`), or nothing for a venue that lives in memory only (a backtest)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Protocol

from domain.market import MarketRules
from domain.orders import Fill, Order


class Recorder(Protocol):
    """Where the core tells each change (`exchange.paper.journal.Journal`); each call answers
    the change's number."""

    def account(self, key: str, fee_rate: Decimal, fee_in_quote: bool) -> int: ...
    def market(self, rules: MarketRules) -> int: ...
    def balance(self, account: str, currency: str, free: Decimal, used: Decimal) -> int: ...
    def price(self, symbol: str, price: Decimal, at: datetime) -> int: ...
    def replay(self, symbol: str, source: str, candle_open: datetime) -> int: ...
    def order(self, order_id: int, account: str, order: Order, locked: Decimal) -> int: ...
    def fill(self, account: str, order_id: int, fill: Fill) -> int: ...


class Unrecorded:
    """A `Recorder` for a venue that lives in memory only (a backtest): every change is 0."""

    def account(self, key: str, fee_rate: Decimal, fee_in_quote: bool) -> int:
        return 0

    def market(self, rules: MarketRules) -> int:
        return 0

    def balance(self, account: str, currency: str, free: Decimal, used: Decimal) -> int:
        return 0

    def price(self, symbol: str, price: Decimal, at: datetime) -> int:
        return 0

    def replay(self, symbol: str, source: str, candle_open: datetime) -> int:
        return 0

    def order(self, order_id: int, account: str, order: Order, locked: Decimal) -> int:
        return 0

    def fill(self, account: str, order_id: int, fill: Fill) -> int:
        return 0
