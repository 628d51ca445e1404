"""The Martingale ladder: where each order sits, how big it is, and what the position becomes.

Semantics (long/spot): the base order fills at P0. Safety order n (1..N) sits D_n percent below
P0 with D_n = d * (1 + s + ... + s^(n-1)) and spends S * v^(n-1) quote. The average entry is
total quote / total base and the take-profit is average * (1 + tp/100).

A short (`direction: short`) mirrors it through `strategy.direction`: the levels sell D_n percent
above P0, the average entry is quote received / base sold, the take-profit buys the position
back at average * (1 - tp/100), and the funds it commits are base (`Plan.max_base`).

With `MarketRules`, entry prices round away from the market (down for a long's buys, up for a
short's sells) and amounts down to the step (so a level never trades more than its nominal
size), the take-profit rounds so the profit is never below target (up for a long, down for a
short), and the minimums are checked after rounding. The machine uses the same
helpers, so the preview and the live orders agree.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Context, Decimal, localcontext

from domain.errors import ValidationError
from domain.market import MarketRules
from domain.money import HUNDRED, ONE, ZERO, fmt
from strategy.direction import away, round_entry, round_exit, toward
from strategy.exits import ExitPlan, exit_plan
from strategy.options import Direction, TakeProfitStep
from strategy.params import MartingaleParams

# One fixed arithmetic context for all strategy math, whatever the caller's thread has set, so
# a replay computes the very same digits.
STRATEGY_CONTEXT = Context(prec=28)

NO_RULES = MarketRules(symbol="BASE/QUOTE")


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanLevel:
    """One row of the preview; level 0 is the base order. Totals include this level."""

    level: int
    deviation_pct: Decimal
    price: Decimal
    quote_size: Decimal
    base_amount: Decimal
    total_quote: Decimal
    total_base: Decimal
    average_price: Decimal
    take_profit_price: Decimal
    required_change_pct: Decimal
    step_prices: tuple[Decimal, ...] = ()  # with take_profit_steps: each step's sell price


@dataclass(frozen=True, slots=True, kw_only=True)
class LevelOutcome:
    """The cycle closed at the take-profit after this level filled (level 0: the base alone);
    computed by `strategy.outcomes`."""

    level: int
    stop_loss_price: Decimal | None  # the stop's trigger with this many levels filled
    fees: Decimal  # every fill of the cycle, in quote
    profit: Decimal  # net of fees, in quote
    profit_pct: Decimal  # of the quote the cycle put in


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """`max_funds` is the quote of every level (what a long spends); `max_base` the base of
    every level (what a short sells, so the base it needs). `required_funds` is the one that
    must be in the account for this direction."""

    levels: tuple[PlanLevel, ...]
    max_funds: Decimal
    max_coverage_pct: Decimal
    outcomes: tuple[LevelOutcome, ...] = ()  # one per level, when a fee rate was given
    fee_rate: Decimal | None = None
    exits: ExitPlan | None = None  # stop loss, timeout, reinvestment (strategy.exits)
    max_base: Decimal = ZERO
    direction: Direction = Direction.LONG

    @property
    def required_funds(self) -> Decimal:
        return self.max_base if self.direction is Direction.SHORT else self.max_funds

    steps: tuple[TakeProfitStep, ...] = ()  # take_profit_steps, as the levels' step_prices
    trailing_deviation: Decimal | None = None  # a trailing take-profit's pull-back, percent


def level_price(
    params: MartingaleParams, base_price: Decimal, level: int, rules: MarketRules
) -> Decimal:
    """Limit price of level n (the base price itself for 0): D_n percent below the base price,
    rounded down to the tick, for a long; D_n percent above, rounded up, for a short."""
    d = params.direction
    return round_entry(d, rules, away(d, base_price, params.deviation_pct(level)))


def buy_amount(quote: Decimal, price: Decimal, rules: MarketRules) -> Decimal:
    """Base amount that spends at most `quote` at `price`, rounded down to the step."""
    if price <= 0:
        return ZERO
    return rules.round_amount(quote / price)


def take_profit_price(params: MartingaleParams, average: Decimal, rules: MarketRules) -> Decimal:
    """Rounded up to the tick for a long's sell, down for a short's buy-back, so the realised
    profit is never below the target."""
    d = params.direction
    return round_exit(d, rules, toward(d, average, params.take_profit))


def build_plan(params: MartingaleParams, price: Decimal, rules: MarketRules | None = None) -> Plan:
    """The whole ladder from a start price; without rules, no rounding at all."""
    if price <= 0:
        raise ValidationError(f"must be > 0, got {price}", field="price")
    rules = rules or NO_RULES
    with localcontext(STRATEGY_CONTEXT):
        base_price = round_entry(params.direction, rules, price)
        if base_price <= 0:
            raise ValidationError(
                f"{price} rounds down to 0 with tick size {rules.tick_size}", field="price"
            )
        levels: list[PlanLevel] = []
        total_quote = ZERO
        total_base = ZERO
        for n in range(params.max_safety_orders + 1):
            level_px = level_price(params, base_price, n, rules)
            nominal = params.quote_size(n)
            amount = buy_amount(nominal, level_px, rules)
            quote = level_px * amount if rules is not NO_RULES else nominal
            total_quote += quote
            total_base += amount
            average = total_quote / total_base if total_base > 0 else level_px
            tp_price = take_profit_price(params, average, rules)
            change = (tp_price / level_px - ONE) * HUNDRED if level_px > 0 else ZERO
            levels.append(
                PlanLevel(
                    level=n,
                    deviation_pct=params.deviation_pct(n),
                    price=level_px,
                    quote_size=quote,
                    base_amount=amount,
                    total_quote=total_quote,
                    total_base=total_base,
                    average_price=average,
                    take_profit_price=tp_price,
                    required_change_pct=change,
                    step_prices=tuple(
                        rules.round_price_up(average * (ONE + step.percent / HUNDRED))
                        for step in params.take_profit_steps
                    ),
                )
            )
        return Plan(
            levels=tuple(levels),
            max_funds=total_quote,
            max_coverage_pct=params.deviation_pct(params.max_safety_orders),
            exits=exit_plan(params, [row.average_price for row in levels], rules),
            max_base=total_base,
            direction=params.direction,
            steps=params.take_profit_steps,
            trailing_deviation=params.trailing_deviation,
        )


def validate_plan(plan: Plan, rules: MarketRules, *, balance: Decimal | None = None) -> None:
    """Every level must be placeable after rounding and the total affordable.

    Raises `ValidationError` naming the parameter to change (base_order for level 0,
    safety_order for the others, balance for funds) and the level that fails and why.
    """
    with localcontext(STRATEGY_CONTEXT):
        for row in plan.levels:
            field = "base_order" if row.level == 0 else "safety_order"
            what = "base order" if row.level == 0 else f"safety order {row.level}"
            if row.price <= 0:
                raise ValidationError(
                    f"level {row.level} ({what}): price rounds down to 0", field=field
                )
            why = rules.violation(row.price, row.base_amount)
            if why is not None:
                raise ValidationError(
                    f"level {row.level} ({what} at price {fmt(row.price)}): {why}", field=field
                )
            sell = rules.round_amount(row.total_base)
            why = rules.violation(row.take_profit_price, sell)
            if why is not None:
                raise ValidationError(
                    f"level {row.level} (take-profit sell of {fmt(sell)} at "
                    f"{fmt(row.take_profit_price)}): {why}",
                    field=field,
                )
        if balance is not None and plan.required_funds > balance:
            short = plan.direction is Direction.SHORT
            what = "base to sell" if short else "max funds"
            raise ValidationError(
                f"{what} {fmt(plan.required_funds)} exceed the available balance {fmt(balance)}",
                field="balance",
            )
