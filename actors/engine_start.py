"""The engine's side of start conditions (issue 16): a strategy in phase WAITING.

- rsi / ma: an alarm ("start") at each close of a candle of the condition's timeframe (plus
  `candle_delay`, so the venue has closed it); then the closed candles are read
  (`Exchange.fetch_candles`, the number `strategy.indicators.history_needed` says), the pure
  test `strategy.indicators.condition_met` decides, and the engine either tells itself
  `StartSignalled` (the cycle starts with the current price and rules) or arms the next close.
  A read error goes up as every exchange read's does (DEGRADED, the start path retried, which
  arms the alarm again at the next close): no candle is ever guessed.
- signal: nothing to poll; `deliver_signal` is the path a webhook signal (a row the web
  recorded) takes into the engine. A signal older than `max_lag` is dropped and said; a signal
  outside WAITING does nothing (`strategy.start`). Delivery is at least once and harmless
  twice: the machine ignores `StartSignalled` outside WAITING, so one signal starts at most one
  cycle.

The parameters stored now are read before each look (`_take_params`), as at a cooldown's end:
a condition changed to asap starts the cycle at the next look. A change of the stored
condition is also told to the engine (`start_changed`, from the root's poll): a waiting
strategy takes the stored parameters then, and arms the new condition's look (signal -> rsi),
drops its look (rsi -> signal), or starts (-> asap), with no restart and no cooldown to wait.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from actors.engine_steps import EngineSteps
from domain.events import StartSignalled
from domain.market import MarketRules
from strategy.indicators import condition_met, history_needed
from strategy.options import StartKind
from strategy.start import next_close, reads_candles, signal_fresh, waiting_text, waits
from strategy.state import Phase

CANDLE_DELAY_S = 5.0  # after a close: venues publish a closed candle a moment after its time


class StartWaits(EngineSteps):
    """A base of `Engine`, which sets these attributes in its constructor."""

    _market: Callable[[], datetime]
    _price: Callable[[], Decimal]
    _candle_delay: timedelta

    if TYPE_CHECKING:  # the engine's own methods

        def _rules(self) -> MarketRules: ...
        def _take_params(self) -> None: ...
        def _rewatch(self) -> None: ...
        def _balance(self) -> Decimal | None: ...

    @property
    def waiting(self) -> str | None:
        """What the strategy waits for ("waiting for rsi14<30 on 5m"), None when it is not
        waiting."""
        state = self.state
        if state is None or state.phase is not Phase.WAITING:
            return None
        return waiting_text(state.params.start_condition)

    def arm_start(self) -> None:
        """In WAITING with an indicator: look again at the next close of its timeframe."""
        state = self.state
        if state is None or state.phase is not Phase.WAITING:
            return
        condition = state.params.start_condition
        if reads_candles(condition):
            at = next_close(self._market(), condition.seconds) + self._candle_delay
            self._host.schedule(at, "start")

    def start_changed(self) -> None:
        """The stored start condition changed: a waiting strategy takes the stored parameters
        now (as at a cooldown's end) and looks at what the new condition needs; any other
        phase takes them as its next cycle begins."""
        state = self._require_state()
        if state.phase is not Phase.WAITING:
            return
        before = state.params.start_condition
        self._take_params()
        condition = self._require_state().params.start_condition
        if condition == before:
            return  # unchanged, or refused (said by `_take_params`)
        self._host.report("start_condition_changed", waiting_text(condition))
        if not waits(condition):
            self._host.unschedule("start")
            self._signal("asap")
        elif reads_candles(condition):
            self.arm_start()  # replaces the old condition's look
        else:
            self._host.unschedule("start")  # a signal: nothing to look at

    def on_start_check(self) -> None:
        """The "start" alarm: read the closed candles and start the cycle if the condition
        holds, else arm the next close."""
        if self._require_state().phase is not Phase.WAITING:
            return
        self._take_params()
        condition = self._require_state().params.start_condition
        if not waits(condition):
            self._signal("asap")
            return
        if not reads_candles(condition):
            return  # a signal: delivered by `deliver_signal`, nothing to look at
        candles = self._exchange.fetch_candles(
            self._symbol, condition.timeframe, history_needed(condition)
        )
        if condition_met(condition, [c.close for c in candles]):
            self._host.report("start_condition_met", f"{condition.kind.value}: {len(candles)}")
            self._signal(condition.kind.value)
        else:
            self.arm_start()

    def deliver_signal(self, signal_at: datetime) -> bool:
        """A webhook signal sent at `signal_at`: True if it started a cycle. Dropped (and
        said) when stale or when the strategy does not wait for a signal now."""
        state = self._require_state()
        condition = state.params.start_condition
        now = self._market()
        if state.phase is not Phase.WAITING or condition.kind is not StartKind.SIGNAL:
            self._host.report("signal_ignored", f"phase {state.phase.value}")
            return False
        if not signal_fresh(signal_at, now, condition):
            lag = int((now - signal_at).total_seconds())
            self._host.warn(
                "signal_dropped",
                f"a signal {lag}s old arrived; max_lag is {condition.max_lag}s: not started",
            )
            return False
        self._signal("signal")
        return self._require_state().phase is not Phase.WAITING

    def _signal(self, source: str) -> None:
        at, price, rules = self._market(), self._price(), self._rules()
        balance = self._balance()
        self.handle(StartSignalled(at=at, price=price, source=source, rules=rules, balance=balance))
        self._rewatch()  # the new cycle's orders are watched
