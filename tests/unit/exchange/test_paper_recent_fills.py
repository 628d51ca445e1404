"""Recent fills from memory: the same answer as the file, whatever the clocks and evictions.

Resting orders fill at the tick's time (a replayed candle's, which may lie in the past) and
taker orders at the venue clock's, so fill times are not in trade order. Memory holds the last
`RECENT_FILLS` fills and answers `fetch_fills(since=...)` only when no fill at or after `since`
is missing from it; otherwise the file answers. Either way the caller must get exactly what the
file holds, in the file's order.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.market import MarketRules
from domain.orders import Fill, Order, OrderType, Side
from exchange.paper import PaperExchange, PaperVenue, core
from exchange.paper.times import from_us, to_us
from tests.unit.exchange.conftest import ManualClock

D = Decimal
SYMBOLS = ("ETH/BTC", "LTC/BTC")
ACCOUNTS = ("alice", "bob")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _open(path: Path, clock: ManualClock) -> PaperVenue:
    venue = PaperVenue(path, clock=clock)
    for symbol in SYMBOLS:
        venue.set_market_rules(MarketRules(symbol=symbol))
        venue.update_price(symbol, D(100))
    for account in ACCOUNTS:
        venue.open_account(account, balances={"BTC": D(10**9), "ETH": D(10**6), "LTC": D(10**6)})
    return venue


@contextmanager
def _venue() -> Iterator[tuple[Path, ManualClock, PaperVenue]]:
    with tempfile.TemporaryDirectory() as tmp:
        path, clock = Path(tmp) / "paper.sqlite", ManualClock(T0)
        venue = _open(path, clock)
        try:
            yield path, clock, venue
        finally:
            venue.close()


def _rest_buy(port: PaperExchange, coid: str, symbol: str, price: Decimal) -> Order:
    return port.create_order(
        client_order_id=coid,
        symbol=symbol,
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=D(1),
        price=price,
    )


Seen = list[tuple[str, str, Decimal, int]]  # trade id, client order id, amount, time (µs)


def _at(fill: Fill) -> int:
    assert fill.timestamp is not None
    return to_us(fill.timestamp)


def _expected(fills: list[tuple[str, Fill]], account: str, symbol: str, since: datetime) -> Seen:
    """The file's answer, worked out from every fill made: time, then trade id."""
    mine = [f for a, f in fills if a == account and f.symbol == symbol and _at(f) >= to_us(since)]
    return _seen(sorted(mine, key=lambda f: (_at(f), int(f.trade_id))))


def _seen(fills: Sequence[Fill]) -> Seen:
    return [(f.trade_id, f.client_order_id, f.amount, _at(f)) for f in fills]


step = st.one_of(
    # a resting buy 1..3 ticks below 100, filled by a later tick (at a time that may be past)
    st.tuples(
        st.just("rest"), st.sampled_from(ACCOUNTS), st.sampled_from(SYMBOLS), st.integers(1, 3)
    ),
    st.tuples(st.just("tick"), st.sampled_from(SYMBOLS), st.integers(-3600, 3600)),
    st.tuples(st.just("taker"), st.sampled_from(ACCOUNTS), st.sampled_from(SYMBOLS)),
    st.tuples(st.just("advance"), st.integers(0, 5)),
    st.tuples(st.just("reopen")),
)


@settings(max_examples=60, deadline=None)
@given(steps=st.lists(step, min_size=1, max_size=40), capacity=st.integers(1, 8))
def test_fetch_fills_since_answers_as_the_file_does(
    steps: list[tuple[Any, ...]], capacity: int
) -> None:
    made: list[tuple[str, Fill]] = []
    with (
        pytest.MonkeyPatch.context() as patch,
        tempfile.TemporaryDirectory() as tmp,
    ):
        patch.setattr(core, "RECENT_FILLS", capacity)
        path, clock = Path(tmp) / "paper.sqlite", ManualClock(T0)
        venues = [_open(path, clock)]
        try:
            for n, op in enumerate(steps):
                venue = venues[-1]
                if op[0] == "rest":
                    _, account, symbol, ticks = op
                    _rest_buy(PaperExchange(venue, account), f"r{n}", symbol, D(100 - ticks))
                elif op[0] == "tick":
                    _, symbol, shift = op
                    at = clock.now + timedelta(seconds=shift)
                    made.extend((v.account, v.fill) for v in venue.update_price(symbol, D(96), at))
                    venue.update_price(symbol, D(100), at)
                elif op[0] == "taker":
                    _, account, symbol = op
                    port = PaperExchange(venue, account)
                    port.create_order(
                        client_order_id=f"t{n}",
                        symbol=symbol,
                        side=Side.BUY,
                        type=OrderType.MARKET,
                        amount=D(1),
                    )
                    [fill] = [f for f in port.fetch_fills(symbol) if f.client_order_id == f"t{n}"]
                    made.append((account, fill))
                elif op[0] == "advance":
                    clock.advance(op[1])
                else:
                    venue.close()
                    venues.append(_open(path, clock))  # memory starts empty; the file knows
            _check(venues[-1], made)
        finally:
            venues[-1].close()


def _check(venue: PaperVenue, made: list[tuple[str, Fill]]) -> None:
    times = sorted({_at(f) for _, f in made})
    probes = [T0 - timedelta(days=1)] + [from_us(t + d) for t in times for d in (-1, 0, 1)]
    for account in ACCOUNTS:
        port = PaperExchange(venue, account)
        for symbol in SYMBOLS:
            everything = _expected(made, account, symbol, T0 - timedelta(days=1))
            assert _seen(port.fetch_fills(symbol)) == everything  # the file's own answer
            for since in probes:
                want = _expected(made, account, symbol, since)
                assert _seen(port.fetch_fills(symbol, since=since)) == want
                assert _seen(port.fetch_fills(symbol, since=since, limit=2)) == want[:2]


def test_the_fills_just_made_are_answered_without_reading_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with _venue() as (_, clock, venue):
        alice = PaperExchange(venue, "alice")
        placed = _rest_buy(alice, "s1", "ETH/BTC", D(99))
        clock.advance(5)
        [filled] = venue.update_price("ETH/BTC", D(98))

        def no_file(*_: object) -> list[Fill]:
            raise AssertionError("read the file")

        monkeypatch.setattr(venue._store, "fills", no_file)
        assert placed.created_at is not None
        assert alice.fetch_fills("ETH/BTC", since=placed.created_at) == [filled.fill]
        with pytest.raises(AssertionError, match="read the file"):
            alice.fetch_fills("ETH/BTC")  # all of them: only the file has all


def test_fills_come_in_time_order_even_when_a_later_trade_is_stamped_earlier() -> None:
    with _venue() as (_, clock, venue):
        alice = PaperExchange(venue, "alice")
        _rest_buy(alice, "maker", "ETH/BTC", D(99))
        venue.update_price("ETH/BTC", D(98), clock.now + timedelta(hours=1))  # a replayed candle
        venue.update_price("ETH/BTC", D(100))
        alice.create_order(  # a taker, stamped by the venue clock: an hour before the maker
            client_order_id="taker",
            symbol="ETH/BTC",
            side=Side.BUY,
            type=OrderType.MARKET,
            amount=D(1),
        )
        since = clock.now - timedelta(seconds=1)
        ids = [f.client_order_id for f in alice.fetch_fills("ETH/BTC", since=since)]
        assert (
            ids == ["taker", "maker"] == [f.client_order_id for f in alice.fetch_fills("ETH/BTC")]
        )
