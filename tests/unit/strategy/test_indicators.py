"""Indicators of start conditions: hand-computed values, and properties against a plain
reference written the textbook way (fractions, so the reference has no rounding at all)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from domain.market import Candle
from strategy.candles import aggregate
from strategy.indicators import condition_met, history_needed, rsi, sma
from strategy.options import start_condition
from strategy.start import next_close, signal_fresh, waiting_text

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_sma_is_the_mean_of_the_last_period_values() -> None:
    assert sma([D(1), D(2), D(3), D(4)], 3) == D(3)
    assert sma([D(1), D(2)], 3) is None


def test_rsi_by_hand() -> None:
    # changes +1, -1, +2, +1 ; period 2: seed gain (1+0)/2 = 0.5, loss (0+1)/2 = 0.5
    # then +2: gain (0.5*1 + 2)/2 = 1.25, loss 0.25 ; +1: gain 1.125, loss 0.125
    # RS = 9 -> RSI = 100 - 100/10 = 90
    assert rsi([D(10), D(11), D(10), D(12), D(13)], 2) == D(90)
    # seed only: gain 0.5, loss 0.5 -> RS 1 -> 50
    assert rsi([D(10), D(11), D(10)], 2) == D(50)


def test_rsi_edges() -> None:
    assert rsi([D(1), D(2)], 2) is None  # fewer than period + 1 closes
    assert rsi([D(1), D(2), D(3)], 2) == D(100)  # no loss
    assert rsi([D(3), D(2), D(1)], 2) == D(0)  # no gain
    assert rsi([D(5)] * 5, 2) == D(50)  # no move at all


def reference_rsi(closes: list[D], period: int) -> Fraction | None:
    if len(closes) < period + 1:
        return None
    values = [Fraction(c) for c in closes]
    changes = [b - a for a, b in itertools.pairwise(values)]
    gain = sum((max(c, Fraction(0)) for c in changes[:period]), Fraction(0)) / period
    loss = sum((max(-c, Fraction(0)) for c in changes[:period]), Fraction(0)) / period
    for c in changes[period:]:
        gain = (gain * (period - 1) + max(c, Fraction(0))) / period
        loss = (loss * (period - 1) + max(-c, Fraction(0))) / period
    if loss == 0:
        return Fraction(50) if gain == 0 else Fraction(100)
    return 100 - 100 / (1 + gain / loss)


prices = st.decimals(min_value=D("0.01"), max_value=D(100000), places=2)


@given(st.lists(prices, min_size=1, max_size=60), st.integers(min_value=2, max_value=20))
def test_rsi_matches_the_exact_reference(closes: list[D], period: int) -> None:
    got = rsi(closes, period)
    want = reference_rsi(closes, period)
    if want is None:
        assert got is None
        return
    assert got is not None and D(0) <= got <= D(100)
    assert abs(Fraction(got) - want) <= Fraction(1, 10**20)


@given(st.lists(prices, min_size=1, max_size=40), st.integers(min_value=2, max_value=20))
def test_sma_matches_the_exact_mean(values: list[D], period: int) -> None:
    got = sma(values, period)
    if len(values) < period:
        assert got is None
        return
    want = sum((Fraction(v) for v in values[-period:]), Fraction(0)) / period
    assert got is not None and abs(Fraction(got) - want) <= Fraction(1, 10**20)


def test_condition_met_per_kind() -> None:
    falling = [D(100 - n) for n in range(20)]
    rising = [D(100 + n) for n in range(20)]
    rsi30 = start_condition({"type": "rsi", "below": 30, "period": 14})
    assert condition_met(rsi30, falling) and not condition_met(rsi30, rising)
    assert not condition_met(rsi30, falling[:14])  # not enough candles yet
    ma = start_condition("ma period=5 timeframe=1h")
    assert condition_met(ma, falling) and not condition_met(ma, rising)
    assert condition_met(start_condition("asap"), [])
    assert not condition_met(start_condition("signal max_lag=60"), falling)
    assert history_needed(rsi30) == 141 and history_needed(ma) == 5


def test_waiting_text_and_the_next_close() -> None:
    assert waiting_text(start_condition("rsi below=30 period=14 timeframe=5m")) == (
        "waiting for rsi14<30 on 5m"
    )
    assert waiting_text(start_condition("ma period=50 timeframe=1h")) == (
        "waiting for close<ma50 on 1h"
    )
    assert "signal" in waiting_text(start_condition("signal max_lag=30"))
    assert next_close(T0 + timedelta(minutes=7), 300) == T0 + timedelta(minutes=10)
    assert next_close(T0 + timedelta(minutes=10), 300) == T0 + timedelta(minutes=15)


def test_a_signal_older_than_max_lag_is_stale() -> None:
    cond = start_condition("signal max_lag=60")
    assert signal_fresh(T0, T0 + timedelta(seconds=60), cond)
    assert not signal_fresh(T0, T0 + timedelta(seconds=61), cond)
    assert signal_fresh(T0 + timedelta(seconds=5), T0, cond)  # the sender's clock runs ahead


def candle(minute: int, close: int) -> Candle:
    return Candle(
        timestamp=T0 + timedelta(minutes=minute),
        open=D(close),
        high=D(close + 1),
        low=D(close - 1),
        close=D(close),
        volume=D(1),
    )


def test_aggregate_keeps_closed_candles_only() -> None:
    ones = [candle(m, 100 + m) for m in range(12)]  # 1m candles 00:00 .. 00:11
    now = T0 + timedelta(minutes=11)  # the 00:10 candle has closed, 00:11 is forming
    fives = aggregate(ones, period=timedelta(minutes=1), seconds=300, now=now)
    assert [c.timestamp for c in fives] == [T0, T0 + timedelta(minutes=5)]
    first = fives[0]
    assert (first.open, first.high, first.low, first.close, first.volume) == (
        D(100),
        D(105),
        D(99),
        D(104),
        D(5),
    )
    later = aggregate(ones, period=timedelta(minutes=1), seconds=300, now=T0 + timedelta(hours=1))
    # the 00:10 candle holds only 2 of its 5 minutes, but an hour later it has closed
    assert [c.close for c in later] == [D(104), D(109), D(111)]
    assert len(aggregate(ones, period=timedelta(minutes=1), seconds=300, now=T0)) == 0


@given(st.integers(min_value=0, max_value=40), st.sampled_from([60, 300, 900]))
def test_aggregate_never_looks_ahead(minutes: int, seconds: int) -> None:
    ones = [candle(m, 100 + m) for m in range(40)]
    now = T0 + timedelta(minutes=minutes)
    for c in aggregate(ones, period=timedelta(minutes=1), seconds=seconds, now=now):
        assert c.timestamp + timedelta(seconds=seconds) <= now
