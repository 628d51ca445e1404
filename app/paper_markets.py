"""The paper exchange of a config file: its venue and its markets' price feeds.

Shared by the two processes that may hold the venue: `martingale run` with its own venue file
(`Service`), and `martingale paper-venue`, which serves it to several service processes. A
service on a served venue (`paper.venue_url`) opens no file and runs no simulated or replayed
market: it polls the venue's ticker for each paper market, as it polls a live venue's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from actors.feed_pool import FeedSpec
from app.exchanges import PAPER, paper_account_key
from config.schema import CsvMarket, PaperAccount, ServiceConfig, SimulatedMarket
from domain.errors import ConfigurationError, UnknownSymbol
from domain.venues import PAPER_VENUE
from exchange.feeds.csv_replay import CsvReplaySource
from exchange.feeds.live import LiveTickerSource
from exchange.feeds.simulated import SECONDS_PER_YEAR, SimulatedSource
from exchange.feeds.source import PriceSource
from exchange.paper import PaperExchange, PaperVenue
from exchange.paper.exchange import HostedVenue
from exchange.port import Exchange

OPEN_WORKERS = 8  # paper accounts opened at once at start


def simulated_source(symbol: str, market: SimulatedMarket) -> PriceSource:
    """The config gives per-tick volatility and drift; the source wants annual figures."""
    interval = float(market.interval)
    dt = interval / SECONDS_PER_YEAR
    return SimulatedSource(
        symbol=symbol,
        start_price=market.price,
        volatility=Decimal(str(float(market.volatility) / math.sqrt(dt))),
        drift=Decimal(str(float(market.drift) / dt)),
        seed=market.random_seed(symbol),
        start=datetime.now(UTC),
        interval=interval,
        tick_size=market.tick_size if market.tick_size > 0 else Decimal("0.00000001"),
    )


def open_paper_venue(config: ServiceConfig) -> PaperVenue:
    """The venue file `paper.state_file`, listing the config's markets with their rules, and
    holding its users' paper accounts (opened if new; an existing one keeps its balances)."""
    path = Path(config.paper.state_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    venue = PaperVenue(path, name=PAPER)
    try:
        for symbol in config.markets:
            rules = config.market_rules(symbol)
            if rules is not None:
                venue.set_market_rules(rules)
        open_config_accounts(venue, config)
    except BaseException:
        venue.close()
        raise
    return venue


def open_config_accounts(venue: HostedVenue, config: ServiceConfig) -> None:
    """Open every paper account of the config's users (repeatable: balances are kept), a few
    at a time: on a served venue each is a request, and a fleet has thousands."""

    def open_one(pair: tuple[str, PaperAccount]) -> None:
        key, account = pair
        venue.open_account(key, balances=dict(account.balances), fee_rate=account.fee_rate)

    accounts = [
        (paper_account_key(user.name, account.name), account)
        for user in config.users
        for account in user.accounts
        if isinstance(account, PaperAccount)
    ]
    with ThreadPoolExecutor(max_workers=OPEN_WORKERS, thread_name_prefix="paper-open") as pool:
        for _ in pool.map(open_one, accounts):  # the first failure is raised here
            pass


def check_served_markets(venue: HostedVenue, config: ServiceConfig) -> None:
    """A service on a served venue trades the config's paper markets there: each must be
    listed with the very rules the config gives (the config's are what strategies are checked
    against). ConfigurationError naming the market otherwise."""
    for symbol in config.markets:
        field = f"markets.{symbol}"
        try:
            theirs = venue.market_rules(symbol)
        except UnknownSymbol:
            raise ConfigurationError(
                f"the paper venue at paper.venue_url does not list {symbol}: add it to the "
                "venue's config (`martingale paper-venue`) or remove it here",
                field=field,
            ) from None
        ours = config.market_rules(symbol)
        if ours is not None and ours != theirs:
            raise ConfigurationError(
                f"the paper venue lists {symbol} with other rules ({_rules(theirs)}) than this "
                f"file ({_rules(ours)}): give both configs the same market",
                field=field,
            )


def paper_feed_specs(config: ServiceConfig, venue: PaperVenue) -> list[FeedSpec]:
    """The config's paper markets, each fed by its simulation or replay, moving `venue`."""
    specs: list[FeedSpec] = []
    for symbol, market in config.markets.items():
        if isinstance(market, SimulatedMarket):
            source: Callable[[], PriceSource] = _bind(simulated_source, symbol, market)
        elif isinstance(market, CsvMarket):
            source = _bind_csv(market.path, symbol, float(market.speed), market.lockstep)
        else:  # pragma: no cover - the schema has no third kind
            raise ConfigurationError(f"unknown feed for {symbol}", field=f"markets.{symbol}")
        specs.append(FeedSpec(venue=PAPER_VENUE, symbol=symbol, source=source, paper=venue))
    return specs


def served_feed_specs(
    config: ServiceConfig, venue: HostedVenue, poll_interval: float
) -> list[FeedSpec]:
    """The config's paper markets on a served venue: their prices polled from its ticker."""
    public = PaperExchange(venue, "")  # a ticker needs no account
    return [
        FeedSpec(venue=PAPER_VENUE, symbol=symbol, source=bind_live(public, symbol, poll_interval))
        for symbol in config.markets
    ]


def bind_live(exchange: Exchange, symbol: str, interval: float) -> Callable[[], PriceSource]:
    return lambda: LiveTickerSource(exchange, symbol, interval=interval)


def _rules(rules: object) -> str:
    names = ("tick_size", "step_size", "min_amount", "min_notional", "max_amount")
    return ", ".join(f"{name} {getattr(rules, name)}" for name in names)


def _bind(
    fn: Callable[[str, SimulatedMarket], PriceSource], symbol: str, market: SimulatedMarket
) -> Callable[[], PriceSource]:
    return lambda: fn(symbol, market)


def _bind_csv(path: Path, symbol: str, speed: float, lockstep: bool) -> Callable[[], PriceSource]:
    return lambda: CsvReplaySource(path, symbol=symbol, speed=speed, lockstep=lockstep)
