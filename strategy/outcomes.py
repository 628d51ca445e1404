"""What a cycle yields when it closes at each level of the plan: fees, profit, stop-loss price
(the last read from the plan's exits, `strategy.exits.exit_plan`, which computes it).

A row of `Plan` says where each order sits; these figures say what the cycle is worth if the
price turns there. They follow the machine's own accounting (`strategy.accounting`): a fee is
`fee_rate` of each fill's value, paid in quote; base left unsold by the rounding of the
take-profit (dust) is carried into the next cycle at its average cost, so it is no loss.

With take-profit steps, each step sells its portion of the position at its own price (portions
rounded down to the step, the last step takes the rest), as the machine places them. A trailing
take-profit sells at or above the take-profit price, so the figure shown is its least.

Short: sells come first (the quote received, less fees, is the cycle's money in) and the
take-profit buys the base back below; the same rules, mirrored. Its stop loss buys the base back
above the average, which costs more quote than the sells received: `Plan.stop_loss_reserve`
(`strategy.ladder.stop_loss_reserve`) is what the account must keep for it.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal, localcontext

from domain.market import MarketRules
from domain.money import HUNDRED, ONE, ZERO
from strategy.ladder import STRATEGY_CONTEXT, LevelOutcome, Plan, PlanLevel, stop_loss_reserve
from strategy.options import Direction
from strategy.params import MartingaleParams


def with_outcomes(
    params: MartingaleParams, plan: Plan, rules: MarketRules, fee_rate: Decimal
) -> Plan:
    """`plan` with the outcome of each level, for a fee of `fee_rate` (0.001 is 0.1 %)."""
    stops = plan.exits.stop_loss_prices if plan.exits is not None else ()
    with localcontext(STRATEGY_CONTEXT):
        rows = tuple(
            _outcome(params, row, rules, fee_rate, stops[i] if i < len(stops) else None)
            for i, row in enumerate(plan.levels)
        )
    reserve = stop_loss_reserve(plan, fee_rate)
    return replace(plan, outcomes=rows, fee_rate=fee_rate, stop_loss_reserve=reserve)


def _outcome(
    params: MartingaleParams, row: PlanLevel, rules: MarketRules, fee: Decimal, stop: Decimal | None
) -> LevelOutcome:
    """`stop`: the level's stop-loss trigger, as the plan's exits computed it (None: no stop)."""
    quote, base, average = row.total_quote, row.total_base, row.average_price
    short = params.direction is Direction.SHORT
    entry_fees = quote * fee
    exits = _exit_prices(params, average, rules, short)
    closed = ZERO  # base the take-profit orders trade
    exit_value = ZERO  # their quote value
    left = rules.round_amount(base)
    for i, (price, portion) in enumerate(exits):
        amount = left if i == len(exits) - 1 else rules.round_amount(base * portion / HUNDRED)
        amount = min(amount, left)
        left -= amount
        closed += amount
        exit_value += amount * price
    exit_fees = exit_value * fee
    dust = base - closed  # carried into the next cycle at the cycle's average (with fees)
    if short:
        received = quote - entry_fees
        carried = dust * received / base if base > 0 else ZERO
        profit = received - (exit_value + exit_fees) - carried
    else:
        spent = quote + entry_fees
        carried = dust * spent / base if base > 0 else ZERO
        profit = (exit_value - exit_fees) - spent + carried
    return LevelOutcome(
        level=row.level,
        stop_loss_price=stop,
        fees=entry_fees + exit_fees,
        profit=profit,
        profit_pct=profit / quote * HUNDRED if quote > 0 else ZERO,
    )


def _exit_prices(
    params: MartingaleParams, average: Decimal, rules: MarketRules, short: bool
) -> list[tuple[Decimal, Decimal]]:
    """(price, portion %) of each take-profit order, rounded in the trader's favour."""
    steps = [(s.percent, s.portion) for s in params.take_profit_steps] or [
        (params.take_profit, HUNDRED)
    ]
    out = []
    for percent, portion in steps:
        if short:
            out.append((rules.round_price_down(average * (ONE - percent / HUNDRED)), portion))
        else:
            out.append((rules.round_price_up(average * (ONE + percent / HUNDRED)), portion))
    return out
