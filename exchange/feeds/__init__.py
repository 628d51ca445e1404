"""Price feeds: sources of price ticks that their caller paces (no sleeping, no wall clock).

- `SimulatedSource`: seeded geometric Brownian motion (annualised volatility and drift).
- `CsvReplaySource`: historical candles from ../shared/data-style CSV files, with a speed factor.
- `LiveTickerSource`: polls `fetch_ticker` on any `exchange.port.Exchange`.
- `FeedHub`: one shared source per (venue key, symbol), reference counted.

The feed actor loop (actors/feed.py): ``tick = source.next_tick()``; publish a tick at once (for
the paper venue: ``venue.update_candle(symbol, tick.candle, tick.timestamp, replay=...)`` when a
candle is present, else ``venue.update_price(symbol, tick.price)``); stop when
``source.finished``; otherwise call again after ``source.next_delay`` seconds (for a live source
that includes backoff after errors). A market is (venue key, symbol): `domain.venues`.
"""

from exchange.feeds.csv_replay import CsvReplaySource
from exchange.feeds.hub import FeedHub, FeedKey, Subscription
from exchange.feeds.live import LiveTickerSource
from exchange.feeds.simulated import SimulatedSource
from exchange.feeds.source import PriceSource, PriceTick

__all__ = [
    "CsvReplaySource",
    "FeedHub",
    "FeedKey",
    "LiveTickerSource",
    "PriceSource",
    "PriceTick",
    "SimulatedSource",
    "Subscription",
]
