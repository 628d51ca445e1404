"""Market rules: the precision and minimums an exchange enforces for one symbol."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import lru_cache

from domain.money import ZERO, round_down, round_up


@lru_cache(maxsize=4096)  # asked on every fill and placement, of a few symbols
def split_symbol(symbol: str) -> tuple[str, str]:
    """'ETH/BTC' -> ('ETH', 'BTC'); raises ValueError for anything else."""
    base, sep, quote = symbol.partition("/")
    if not sep or not base or not quote or "/" in quote:
        raise ValueError(f"symbol {symbol!r} must look like BASE/QUOTE, e.g. ETH/BTC")
    return base.upper(), quote.upper()


@dataclass(frozen=True, slots=True, kw_only=True)
class MarketRules:
    """Zero means "no constraint" for every size and price field.

    `maker_fee_rate` is the venue's maker fee for this market as a fraction (0.001 is 0.1 %):
    ccxt's `maker` of the market, or a paper account's own rate. Zero when the venue does not
    say; the strategy then prices a break-even exit without its closing fee. A snapshot made
    before the field existed decodes with zero.
    """

    symbol: str
    tick_size: Decimal = ZERO
    step_size: Decimal = ZERO
    min_amount: Decimal = ZERO
    min_notional: Decimal = ZERO
    max_amount: Decimal = ZERO
    maker_fee_rate: Decimal = ZERO

    @property
    def base(self) -> str:
        return split_symbol(self.symbol)[0]

    @property
    def quote(self) -> str:
        return split_symbol(self.symbol)[1]

    def round_price_down(self, price: Decimal) -> Decimal:
        return round_down(price, self.tick_size)

    def round_price_up(self, price: Decimal) -> Decimal:
        return round_up(price, self.tick_size)

    def round_amount(self, amount: Decimal) -> Decimal:
        return round_down(amount, self.step_size)

    def violation(self, price: Decimal, amount: Decimal) -> str | None:
        """Why an order of `amount` at `price` (already rounded) is not placeable, or None."""
        if amount <= 0:
            return "amount rounds to zero"
        if self.min_amount > 0 and amount < self.min_amount:
            return f"amount {amount} is below the minimum amount {self.min_amount}"
        if self.max_amount > 0 and amount > self.max_amount:
            return f"amount {amount} is above the maximum amount {self.max_amount}"
        notional = price * amount
        if self.min_notional > 0 and notional < self.min_notional:
            return f"notional {notional} is below the minimum notional {self.min_notional}"
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Ticker:
    symbol: str
    last: Decimal
    bid: Decimal | None = None
    ask: Decimal | None = None
    timestamp: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Balance:
    currency: str
    free: Decimal
    used: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.free + self.used


@dataclass(frozen=True, slots=True, kw_only=True)
class Candle:
    """One OHLCV candle; `timestamp` is its open time (UTC)."""

    timestamp: datetime
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal = ZERO
