"""Indicators of a start condition, on closed candles only, in exact Decimal arithmetic.

Standard library only (the pure room), so the live engine and the backtest compute the very
same numbers from the same closes. Every result is computed under `STRATEGY_CONTEXT` (28
significant digits); no float is involved anywhere.

- `sma(values, period)`: the mean of the last `period` values.
- `rsi(closes, period)`: Wilder's relative strength index. The first average gain and average
  loss are the simple means of the first `period` changes; each later change is smoothed in
  as ``average = (average * (period - 1) + change) / period``. RSI = 100 - 100 / (1 + RS),
  RS = average gain / average loss; 100 when there is no loss and some gain, 50 when the
  closes did not move at all. The value depends on how much history it is given (the seed
  fades out), so the engine always asks for the same number of candles (`history_needed`).
- `condition_met(condition, closes)`: the test the engine runs at each candle close.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from decimal import Decimal, localcontext

from domain.money import HUNDRED, ZERO
from strategy.ladder import STRATEGY_CONTEXT
from strategy.options import StartCondition, StartKind

FIFTY = Decimal(50)
HISTORY_FACTOR = 10  # an RSI is computed over 10 x its period of changes: the seed fades out
MAX_HISTORY = 1000  # most venues give at most 1000 candles in one request


def sma(values: Sequence[Decimal], period: int) -> Decimal | None:
    """The simple mean of the last `period` values; None when there are fewer."""
    if period < 1 or len(values) < period:
        return None
    with localcontext(STRATEGY_CONTEXT):
        return sum(values[-period:], ZERO) / period


def rsi(closes: Sequence[Decimal], period: int) -> Decimal | None:
    """Wilder's RSI of `closes` (oldest first); None with fewer than `period + 1` closes."""
    if period < 1 or len(closes) < period + 1:
        return None
    with localcontext(STRATEGY_CONTEXT):
        changes = [b - a for a, b in itertools.pairwise(closes)]
        gain = sum((c for c in changes[:period] if c > 0), ZERO) / period
        loss = sum((-c for c in changes[:period] if c < 0), ZERO) / period
        for change in changes[period:]:
            up = change if change > 0 else ZERO
            down = -change if change < 0 else ZERO
            gain = (gain * (period - 1) + up) / period
            loss = (loss * (period - 1) + down) / period
        if loss == 0:
            return FIFTY if gain == 0 else HUNDRED
        return HUNDRED - HUNDRED / (1 + gain / loss)


def history_needed(condition: StartCondition) -> int:
    """How many closed candles the engine reads for `condition` (0: it reads none)."""
    if condition.kind is StartKind.RSI:
        return min(condition.period * HISTORY_FACTOR + 1, max(MAX_HISTORY, condition.period + 1))
    if condition.kind is StartKind.MA:
        return condition.period
    return 0


def condition_met(condition: StartCondition, closes: Sequence[Decimal]) -> bool:
    """Whether a cycle may start after the closed candles whose closes are `closes` (oldest
    first). An indicator without enough candles yet is not met. asap is always met; a signal
    is never met by candles (it comes from the webhook)."""
    if condition.kind is StartKind.ASAP:
        return True
    if condition.kind is StartKind.RSI:
        value = rsi(closes, condition.period)
        return value is not None and condition.below is not None and value < condition.below
    if condition.kind is StartKind.MA:
        average = sma(closes, condition.period)
        return average is not None and closes[-1] < average
    return False
