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
from decimal import ROUND_CEILING, Context, Decimal, localcontext

from domain.errors import ValidationError
from domain.market import MarketRules
from domain.money import HUNDRED, ONE, ZERO, fmt, round_up
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
    # A short with a stop loss: the quote to keep for its buy-back (`stop_loss_reserve`), set
    # with the outcomes (it needs the fee rate).
    stop_loss_reserve: StopLossReserve | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StopLossReserve:
    """A short's stop loss buys back all the base its sells sold, at a price above their
    average: more quote than they received. The worst case is the stop after the last level
    (the most base, at the highest trigger); `keep` is what the account's own quote must cover.
    """

    base: Decimal  # bought back
    price: Decimal  # the stop's trigger after the last level (rounded up to the tick)
    cost: Decimal  # base * price, plus the buy's fee
    received: Decimal  # what the sells received, less their fees
    keep: Decimal  # cost - received


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
    return exit_price(params, rules, params.take_profit, average)


def exit_price(
    params: MartingaleParams, rules: MarketRules, percent: Decimal, average: Decimal
) -> Decimal:
    """`percent` past the average in the position's favour (a take-profit or one of its
    steps), rounded away from the average, so the profit is never below its target."""
    d = params.direction
    return round_exit(d, rules, toward(d, average, percent))


def step_shares(
    steps: tuple[TakeProfitStep, ...], amount: Decimal, rules: MarketRules
) -> list[Decimal]:
    """Each take-profit step's part of `amount` (on the step) when all of them are placed at
    once, as the machine first places them (`strategy.take_profit.step_parts`): portion % each,
    rounded down to the step, the last one the rest."""
    shares = [rules.round_amount(amount * step.portion / HUNDRED) for step in steps[:-1]]
    return [*shares, amount - sum(shares, start=ZERO)]


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
                        exit_price(params, rules, step.percent, average)
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


def stop_loss_reserve(plan: Plan, fee_rate: Decimal) -> StopLossReserve | None:
    """The quote a short with a stop loss must keep for the worst-case buy-back (None for a
    long or without a stop loss). A fee is `fee_rate` of each fill's value, paid in quote, as
    in `strategy.outcomes`. A market buy may fill above the trigger: this is the least."""
    exits = plan.exits
    if plan.direction is not Direction.SHORT or exits is None or not plan.levels:
        return None
    price = exits.stop_loss_last or exits.stop_loss_first
    if price is None:
        return None
    with localcontext(STRATEGY_CONTEXT):
        last = plan.levels[-1]
        cost = last.total_base * price * (ONE + fee_rate)
        received = last.total_quote * (ONE - fee_rate)
        return StopLossReserve(
            base=last.total_base,
            price=price,
            cost=cost,
            received=received,
            keep=max(ZERO, cost - received),
        )


def validate_plan(
    plan: Plan,
    rules: MarketRules,
    *,
    balance: Decimal | None = None,
    quote_balance: Decimal | None = None,
    fee_rate: Decimal = ZERO,
) -> None:
    """Every level must be placeable after rounding and the total affordable.

    Raises `ValidationError` naming the parameter to change (base_order for level 0,
    safety_order for the others, ``take_profit_steps[i].portion`` for a take-profit step,
    balance for funds) and the level that fails and why.

    `balance` holds what the direction commits (quote for a long, base for a short);
    `quote_balance` the account's quote: a long's max funds must fit in it (field
    quote_balance), and a short's stop-loss buy-back must (`stop_loss_reserve` at `fee_rate`,
    field stop_loss).

    Take-profit steps are checked with the base order alone: the smallest position, so the
    smallest parts (every later fill only grows them). A part the market would refuse there is
    refused here; the machine still hands such a part to the next step should the rules change
    after the check (`strategy.take_profit.step_parts`).
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
            if row.level == 0 and plan.steps:
                _check_step_parts(plan, row, sell, rules)
        if balance is not None and plan.required_funds > balance:
            short = plan.direction is Direction.SHORT
            what = "base to sell" if short else "max funds"
            raise ValidationError(
                f"{what} {fmt(plan.required_funds)} exceed the available balance {fmt(balance)}",
                field="balance",
            )
        if quote_balance is not None:
            _check_quote(plan, quote_balance, fee_rate)


def _check_quote(plan: Plan, quote_balance: Decimal, fee_rate: Decimal) -> None:
    if plan.direction is not Direction.SHORT:
        if plan.max_funds > quote_balance:
            raise ValidationError(
                f"max funds {fmt(plan.max_funds)} exceed the available quote balance "
                f"{fmt(quote_balance)}",
                field="quote_balance",
            )
        return
    reserve = stop_loss_reserve(plan, fee_rate)
    if reserve is not None and reserve.keep > quote_balance:
        raise ValidationError(
            f"after the last level the stop loss buys back all {fmt(reserve.base)} base at "
            f"{fmt(reserve.price)} or more: {fmt(reserve.cost)} quote with fees, "
            f"{fmt(reserve.keep)} more than the sells receive, but the quote balance is "
            f"{fmt(quote_balance)}; keep at least {fmt(reserve.keep)} quote, or lower the "
            "sizes, the safety orders or stop_loss",
            field="stop_loss",
        )


def _check_step_parts(plan: Plan, row: PlanLevel, sell: Decimal, rules: MarketRules) -> None:
    """Each step's part of the position `row` holds (`sell`, on the step) must be placeable."""
    parts = step_shares(plan.steps, sell, rules)
    for i, (step, part, price) in enumerate(zip(plan.steps, parts, row.step_prices, strict=True)):
        why = rules.violation(price, part)
        if why is None:
            continue
        least = _least_amount(rules, price)
        need = (least / sell * HUNDRED).quantize(Decimal("0.01"), rounding=ROUND_CEILING)
        fix = (
            f"give it a portion of at least {fmt(need)} % or raise base_order"
            if need <= HUNDRED
            else "raise base_order"
        )
        raise ValidationError(
            f"step {i + 1} ({fmt(step.portion)} % at {fmt(step.percent)} %) would "
            f"{'buy back' if plan.direction is Direction.SHORT else 'sell'} {fmt(part)} of "
            f"the base order's {fmt(sell)} at {fmt(price)}: {why}; the market's least order "
            f"there is {fmt(least)}, so {fix}",
            field=f"take_profit_steps[{i}].portion",
        )


def _least_amount(rules: MarketRules, price: Decimal) -> Decimal:
    """The smallest amount on the step the market accepts at `price` (at least one step)."""
    notional = rules.min_notional / price if price > 0 else ZERO
    return round_up(max(rules.min_amount, notional, rules.step_size), rules.step_size)
