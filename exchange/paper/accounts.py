"""The paper exchange's records in memory: an account's balances and fee settings, a resting
order with the funds it holds, a fill a price update produced; and the checks of an account's
and a market's settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from domain.errors import ValidationError
from domain.market import MarketRules, split_symbol
from domain.money import ZERO
from domain.orders import Fill, Order, Side


@dataclass(frozen=True, slots=True, kw_only=True)
class VenueFill:
    """A fill produced by a price update: which account, the fill, and the order after it."""

    account: str
    fill: Fill
    order: Order


@dataclass(slots=True)
class Account:
    fee_rate: Decimal
    fee_in_quote: bool
    balances: dict[str, list[Decimal]] = field(default_factory=dict)  # currency -> [free, used]
    seq: int = 0  # the number of this account's last change: a persistent venue's reads wait

    def free(self, currency: str) -> Decimal:
        balance = self.balances.get(currency)
        return ZERO if balance is None else balance[0]


@dataclass(slots=True)
class Resting:
    order_id: int
    account: str
    order: Order
    locked: Decimal  # funds held for this order: quote for a buy, base for a sell

    @property
    def held_currency(self) -> str:
        base, quote = split_symbol(self.order.symbol)
        return quote if self.order.side is Side.BUY else base


def check_account_settings(fee_rate: object, balances: Mapping[str, object]) -> dict[str, Decimal]:
    """The starting balances by upper-cased currency, or a ValidationError naming the field."""
    if not isinstance(fee_rate, Decimal) or not ZERO <= fee_rate < 1:
        raise ValidationError(f"must be a Decimal in [0, 1), got {fee_rate!r}", field="fee_rate")
    initial: dict[str, Decimal] = {}
    for currency, amount in balances.items():
        if not isinstance(amount, Decimal) or amount < 0:
            raise ValidationError(f"must be a Decimal >= 0, got {amount!r}", field=currency)
        initial[currency.upper()] = amount
    return initial


def check_rules(rules: MarketRules) -> None:
    split_symbol(rules.symbol)
    for name in ("tick_size", "step_size", "min_amount", "min_notional", "max_amount"):
        if getattr(rules, name) < 0:
            raise ValidationError("must be >= 0", field=f"{rules.symbol}.{name}")
