"""Start conditions (issue 16): what a strategy in phase WAITING waits for, and when to look.

The machine (`strategy.machine`) puts a strategy whose `start_condition` is not asap in phase
WAITING instead of starting a cycle (on `Started` and at the end of each cooldown); only
`StartSignalled` starts the cycle then. Who sends it:

- rsi / ma: the engine, at each close of a candle of the condition's timeframe
  (`next_close`), reads the closed candles (`strategy.indicators.history_needed`), and sends
  `StartSignalled` when `strategy.indicators.condition_met` holds, else looks again at the
  next close.
- signal: an authenticated webhook signal, delivered to the engine; one older than
  `max_lag` seconds when the engine sees it is dropped (`signal_fresh`).

A `StartSignalled` in any other phase is ignored: a signal (or an indicator) during a cycle
does nothing, it neither queues nor starts a second cycle.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.money import fmt
from strategy.options import StartCondition, StartKind

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def waits(condition: StartCondition) -> bool:
    """Whether a cycle waits for the condition (anything but asap)."""
    return condition.kind is not StartKind.ASAP


def reads_candles(condition: StartCondition) -> bool:
    return condition.kind in (StartKind.RSI, StartKind.MA)


def waiting_text(condition: StartCondition) -> str:
    """What a waiting strategy waits for, as the status and dashboard show it, e.g.
    ``waiting for rsi<30 on 5m``."""
    if condition.kind is StartKind.RSI:
        below = fmt(condition.below) if condition.below is not None else "?"
        return f"waiting for rsi{condition.period}<{below} on {condition.timeframe}"
    if condition.kind is StartKind.MA:
        return f"waiting for close<ma{condition.period} on {condition.timeframe}"
    if condition.kind is StartKind.SIGNAL:
        return f"waiting for a signal (max lag {condition.max_lag}s)"
    return "starting"


def next_close(now: datetime, seconds: int) -> datetime:
    """The first close of a `seconds` candle strictly after `now` (candles are aligned on the
    epoch, as venues align them: a 5m candle closes at :00, :05, ...)."""
    elapsed = (now - EPOCH) // timedelta(seconds=1)
    return EPOCH + timedelta(seconds=(int(elapsed) // seconds + 1) * seconds)


def signal_fresh(signal_at: datetime, now: datetime, condition: StartCondition) -> bool:
    """A signal is taken when it is at most `max_lag` seconds old (one from the future, a
    sender's clock ahead of ours, counts as fresh)."""
    return now - signal_at <= timedelta(seconds=condition.max_lag)
