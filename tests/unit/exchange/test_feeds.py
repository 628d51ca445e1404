"""Price sources: seeded GBM, CSV replay (speed, gaps, bad rows), live polling, the hub."""

from __future__ import annotations

import itertools
import math
import statistics
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from domain.errors import ConfigurationError, ExchangeUnavailable, RateLimited, ValidationError
from domain.market import MarketRules, Ticker
from exchange.feeds import (
    CsvReplaySource,
    FeedHub,
    LiveTickerSource,
    PriceSource,
    PriceTick,
    SimulatedSource,
)
from exchange.feeds.csv_replay import check_candle_file
from exchange.feeds.simulated import SECONDS_PER_YEAR
from exchange.paper import PaperExchange, PaperVenue

D = Decimal
T0 = datetime(2024, 1, 1, tzinfo=UTC)
# Real candles from ../shared/data, copied into the repo with the example config.
DATA = Path(__file__).resolve().parents[3] / "config" / "examples" / "data"


def _drain(source: PriceSource, limit: int = 100_000) -> list[PriceTick]:
    out = []
    for _ in range(limit):
        tick = source.next_tick()
        if tick is None:
            break
        out.append(tick)
    return out


def _gbm(seed: int, steps: int = 500, **kw: object) -> SimulatedSource:
    args: dict[str, object] = {
        "symbol": "ETH/BTC",
        "start_price": D("0.05"),
        "volatility": D("0.8"),
        "seed": seed,
        "start": T0,
        "tick_size": D("0.00001"),
        "steps": steps,
    }
    args.update(kw)
    return SimulatedSource(**args)  # type: ignore[arg-type]


def test_same_seed_same_path_other_seed_other_path() -> None:
    a, b, c = (_drain(_gbm(s, step=300)) for s in (7, 7, 8))
    assert [t.price for t in a] == [t.price for t in b]
    assert [t.price for t in a] != [t.price for t in c]
    assert len(a) == 500 and a[0].price == D("0.05") and a[0].timestamp == T0
    assert a[1].timestamp - a[0].timestamp == timedelta(seconds=300)
    assert all(t.price > 0 and t.price % D("0.00001") == 0 for t in a)
    assert all(isinstance(t.price, Decimal) for t in a)


def test_gbm_log_returns_have_the_configured_mean_and_variance() -> None:
    sigma, mu, step, n = 0.8, 0.5, 3600.0, 20_000
    source = _gbm(
        3,
        steps=n,
        step=step,
        drift=D(str(mu)),
        volatility=D(str(sigma)),
        start_price=D(1000),
        tick_size=D("0.00000001"),
    )
    prices = [float(t.price) for t in _drain(source)]
    returns = [math.log(b / a) for a, b in itertools.pairwise(prices)]
    dt = step / SECONDS_PER_YEAR
    want_mean, want_var = (mu - sigma**2 / 2) * dt, sigma**2 * dt
    assert statistics.variance(returns) == pytest.approx(want_var, rel=0.1)
    standard_error = math.sqrt(want_var / len(returns))
    assert abs(statistics.fmean(returns) - want_mean) < 5 * standard_error


def test_gbm_never_prints_zero_and_paces_by_interval() -> None:
    source = _gbm(1, steps=2000, volatility=D(40), step=86400, interval=0.5)
    assert source.next_delay == 0 and source.time_scale == 0.5 / 86400  # a day per half second
    ticks = _drain(source)
    assert source.next_delay == 0.5 and source.finished and source.next_tick() is None
    assert min(t.price for t in ticks) >= D("0.00001")  # a crash floors at one tick
    with pytest.raises(ValidationError, match="volatility"):
        _gbm(1, volatility=D(-1))


def _csv(tmp_path: Path, rows: list[str], name: str = "X-Y-5m.csv") -> Path:
    path = tmp_path / name
    path.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    return path


ROW = "{t},0.05,0.06,0.04,0.055,12.5"


def test_csv_replay_speed_gaps_and_candles(tmp_path: Path) -> None:
    times = [
        "2018-01-10T05:00:00Z",
        "2018-01-10T05:05:00Z",
        "2018-01-10T05:20:00Z",
        "2018-01-10T07:00:00Z",
    ]  # a 2-slot gap, then a long outage
    path = _csv(tmp_path, [ROW.format(t=t) for t in times])
    source = CsvReplaySource(path, symbol="X/Y", speed=300, max_gap_periods=4)
    assert source.period == timedelta(minutes=5) and source.interval == 1.0
    first = source.next_tick()
    assert first is not None and first.candle is not None
    assert first.price == D("0.055") and first.candle.low == D("0.04")
    assert first.timestamp == datetime(2018, 1, 10, 5, 5, tzinfo=UTC)  # the candle's close
    delays = [source.next_delay]
    for _ in range(3):
        assert source.next_tick() is not None
        delays.append(source.next_delay)
    assert delays == [1.0, 3.0, 4.0, 0.0]  # normal, 15 min gap, 100 min outage capped at 4
    assert source.next_tick() is None and source.finished


def test_csv_period_from_first_candles_and_real_data_file() -> None:
    source = CsvReplaySource(DATA / "ETH-BTC-5m.csv", symbol="ETH/BTC", speed=300)
    ticks = _drain(source, limit=50)
    assert len(ticks) == 50 and ticks[0].price == D("0.0994766")
    assert all(t.candle is not None and t.candle.low <= t.price <= t.candle.high for t in ticks)
    source.close()


def test_csv_infers_the_period_when_the_name_does_not_say(tmp_path: Path) -> None:
    rows = [ROW.format(t=t) for t in ("2018-01-10T05:00:00Z", "2018-01-10T05:01:00Z")]
    source = CsvReplaySource(_csv(tmp_path, rows, name="candles.csv"), symbol="X/Y", speed=60)
    assert source.period == timedelta(minutes=1) and source.interval == 1.0
    assert len(_drain(source)) == 2


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        ("2018-01-10T05:05:00Z,0.05,abc,0.04,0.055,1", r"line 3: column 'high' is not a number"),
        ("2018-01-10T05:05:00Z,0.05,0.06,0.04", r"line 3: expected 6 columns, got 4"),
        ("yesterday,0.05,0.06,0.04,0.055,1", r"line 3: column 'timestamp' is not ISO-8601"),
        ("2018-01-10T05:05:00Z,0.05,0.06,0.07,0.055,1", r"line 3: prices must satisfy"),
        ("2018-01-10T05:00:00Z,0.05,0.06,0.04,0.055,1", r"line 3: timestamp .* is not after"),
        ("2018-01-10T05:05:00Z,0,0.06,0.04,0.055,1", r"line 3: column 'open' must be > 0"),
    ],
)
def test_malformed_rows_name_file_and_line_and_end_the_replay(
    tmp_path: Path, bad_row: str, message: str
) -> None:
    path = _csv(
        tmp_path,
        [ROW.format(t="2018-01-10T05:00:00Z"), bad_row, ROW.format(t="2018-01-10T06:00:00Z")],
    )
    source = CsvReplaySource(path, symbol="X/Y")
    assert source.next_tick() is not None  # the good candle before the bad row is published
    with pytest.raises(ConfigurationError, match=message) as caught:
        source.next_tick()
    assert str(path) in str(caught.value)
    assert source.finished and source.next_tick() is None


def test_a_replay_resumes_after_a_candle_and_a_bad_row_on_the_way_stops_it(
    tmp_path: Path,
) -> None:
    times = [f"2018-01-10T05:{m:02d}:00Z" for m in (0, 5, 10, 15)]
    path = _csv(tmp_path, [ROW.format(t=t) for t in times])
    source = CsvReplaySource(path, symbol="X/Y", speed=300)
    assert source.time_scale == 1 / 300 and source.replay_key == str(path.resolve())
    assert source.resume_after(datetime(2018, 1, 10, 5, 5, tzinfo=UTC)) == 2
    tick = source.next_tick()
    assert tick is not None and tick.candle is not None
    assert tick.candle.timestamp == datetime(2018, 1, 10, 5, 10, tzinfo=UTC)

    broken = _csv(tmp_path, [ROW.format(t=times[0]), "oops", ROW.format(t=times[2])], "b-5m.csv")
    source = CsvReplaySource(broken, symbol="X/Y")
    with pytest.raises(ConfigurationError, match="line 3"):
        source.resume_after(datetime(2018, 1, 10, 5, 10, tzinfo=UTC))
    assert source.finished and source.next_tick() is None  # never past the bad row


def test_a_candle_file_is_checked_whole(tmp_path: Path) -> None:
    rows = [ROW.format(t=f"2018-01-10T05:{m:02d}:00Z") for m in range(0, 50, 5)]
    assert check_candle_file(_csv(tmp_path, rows)) == 10
    rows[8] = rows[8].replace("0.055", "0.07")  # close above high, nine candles in
    with pytest.raises(ConfigurationError, match="line 10: prices must satisfy"):
        check_candle_file(_csv(tmp_path, rows))


def test_csv_missing_file_and_bad_header(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match=r"nope\.csv"):
        CsvReplaySource(tmp_path / "nope.csv", symbol="X/Y")
    bad = tmp_path / "bad-5m.csv"
    bad.write_text("time,price\n")
    with pytest.raises(ConfigurationError, match="line 1: header must be"):
        CsvReplaySource(bad, symbol="X/Y")
    with pytest.raises(ValidationError, match="speed"):
        CsvReplaySource(DATA / "ETH-BTC-5m.csv", symbol="ETH/BTC", speed=0)


class FlakyExchange:
    """A fake port whose ticker fails on demand (only fetch_ticker is used by the feed)."""

    exchange_id = "flaky"

    def __init__(self) -> None:
        self.errors: list[Exception] = []

    def fetch_ticker(self, symbol: str) -> Ticker:
        if self.errors:
            raise self.errors.pop(0)
        return Ticker(symbol=symbol, last=D("42"))


def test_live_feed_polls_a_paper_exchange(tmp_path: Path) -> None:
    venue = PaperVenue(tmp_path / "p.sqlite")
    venue.set_market_rules(MarketRules(symbol="ETH/BTC"))
    venue.open_account("a")
    source = LiveTickerSource(PaperExchange(venue, "a"), "ETH/BTC", interval=2)
    assert source.next_tick() is None  # no price yet: ExchangeUnavailable, kept not raised
    assert source.consecutive_errors == 1 and source.next_delay == 4
    venue.update_price("ETH/BTC", D("0.051"), at=T0)
    tick = source.next_tick()
    assert tick is not None and (tick.price, tick.timestamp) == (D("0.051"), T0)
    assert source.last_error is None and source.next_delay == 2 and not source.finished
    venue.close()


def test_live_feed_backs_off_and_honours_retry_after() -> None:
    flaky = FlakyExchange()
    source = LiveTickerSource(flaky, "X/Y", interval=1, max_backoff=10, clock=lambda: T0)  # type: ignore[arg-type]
    flaky.errors = [RateLimited("slow down", retry_after=30.0), RateLimited("again")]
    flaky.errors += [RateLimited("x")] * 5
    assert source.next_tick() is None and source.next_delay == 30.0
    delays = []
    for _ in range(6):
        assert source.next_tick() is None
        delays.append(source.next_delay)
    assert delays == [4, 8, 10, 10, 10, 10]
    tick = source.next_tick()
    assert tick is not None and tick.timestamp == T0 and source.next_delay == 1
    flaky.errors = [KeyError("lastPrice")]  # an answer the port could not read
    assert source.next_tick() is None and isinstance(source.last_error, ExchangeUnavailable)
    assert "KeyError" in str(source.last_error) and source.next_tick() is not None


class Counted:
    def __init__(self, key: tuple[str, str]) -> None:
        self.key = key
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


def test_hub_shares_one_source_per_key_and_closes_on_last_release() -> None:
    made: list[Counted] = []

    def factory(venue: str, symbol: str) -> Counted:
        made.append(Counted((venue, symbol)))
        return made[-1]

    hub = FeedHub(factory)
    a = hub.subscribe("paper", "ETH/BTC")
    b = hub.subscribe("paper", "ETH/BTC")
    c = hub.subscribe("binance@live", "ETH/BTC")
    t = hub.subscribe("binance@sandbox", "ETH/BTC")  # another environment: another source
    assert a.source is b.source and a.source is not c.source and len(made) == 3
    assert c.source is not t.source
    assert hub.counts() == {
        ("paper", "ETH/BTC"): 2,
        ("binance@live", "ETH/BTC"): 1,
        ("binance@sandbox", "ETH/BTC"): 1,
    }
    a.close()
    a.close()  # a double release must not take b's reference
    assert made[0].closed == 0 and hub.get("paper", "ETH/BTC") is made[0]
    b.close()
    assert made[0].closed == 1 and hub.get("paper", "ETH/BTC") is None
    with hub.subscribe("paper", "ETH/BTC") as d:
        assert d.source is made[3]  # a fresh source after the last release
    hub.close_all()
    c.close()  # after close_all: nothing left to release, no error, no double close
    t.close()
    assert [m.closed for m in made[1:]] == [1, 1, 1] and hub.counts() == {}


def test_hub_builds_exactly_one_source_under_concurrent_subscribes() -> None:
    made: list[Counted] = []

    def factory(exchange_id: str, symbol: str) -> Counted:
        made.append(Counted((exchange_id, symbol)))
        return made[-1]

    hub = FeedHub(factory)
    barrier = threading.Barrier(16)
    subs = []

    def worker() -> None:
        barrier.wait(timeout=30)
        subs.append(hub.subscribe("paper", "ETH/BTC"))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(made) == 1 and hub.counts() == {("paper", "ETH/BTC"): 16}
    for s in subs:
        s.close()
    assert made[0].closed == 1
