"""Paper accounts created through the API (issue 12): the service opens them on its paper venue
while it runs, even when its config file names no paper account, and they trade like the
file's. `app.paper_accounts` on a real venue file: a venue account left without a row is taken
over with the balances asked for now; one with open orders is refused."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from app.bootstrap import Service, Tuning
from app.paper_accounts import open_paper_account
from config.loader import load_config
from domain.errors import ExchangeUnavailable, ValidationError
from domain.market import MarketRules
from domain.orders import OrderType, Side
from exchange.paper import PaperVenue
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import ActualState
from persistence.sql_repository import SqlRepository
from tests.integration.app.conftest import api_paper_strategy, wait

MARKET = """markets:
  ETH/BTC:
    feed: simulated
    price: 0.1
    volatility: 0.002
    seed: 7
    interval: 0.02
    tick_size: 0.000001
    step_size: 0.001
    min_notional: 0.0001
"""
RULES = MarketRules(
    symbol="ETH/BTC",
    tick_size=Decimal("0.000001"),
    step_size=Decimal("0.001"),
    min_notional=Decimal("0.0001"),
)


@pytest.fixture
def venue(tmp_path: Path) -> Iterator[PaperVenue]:
    v = PaperVenue(tmp_path / "paper.sqlite", name="paper")
    v.set_market_rules(RULES)
    v.update_price("ETH/BTC", Decimal("0.1"))
    try:
        yield v
    finally:
        v.close()


def free(venue: PaperVenue, key: str) -> dict[str, Decimal]:
    return {asset: b.free for asset, b in venue.balances(key).items()}


# --- app.paper_accounts on a real venue --------------------------------------------------------


def test_a_new_account_holds_the_balances_and_pays_the_fee_rate(venue: PaperVenue) -> None:
    open_paper_account(venue, "bob/play", {"BTC": Decimal(1)}, Decimal("0.01"))

    assert free(venue, "bob/play") == {"BTC": Decimal(1)}
    venue.place(
        "bob/play",
        client_order_id="t1",
        symbol="ETH/BTC",
        side=Side.BUY,
        type=OrderType.MARKET,
        amount=Decimal(1),
        price=None,
    )
    [fill] = venue.fills("bob/play", "ETH/BTC", None, None)
    assert (fill.fee, fill.fee_currency) == (Decimal("0.01"), "ETH")  # 1% of the ETH received


def test_an_account_left_without_a_row_is_taken_over_with_the_balances_asked_now(
    venue: PaperVenue,
) -> None:
    # An earlier attempt opened it, then its row did not commit; the retry asks for others.
    open_paper_account(venue, "bob/play", {"BTC": Decimal(1), "ETH": Decimal(2)}, Decimal(0))

    open_paper_account(venue, "bob/play", {"BTC": Decimal(3), "USDT": Decimal(5)}, Decimal(0))
    open_paper_account(venue, "bob/play", {"BTC": Decimal(3), "USDT": Decimal(5)}, Decimal(0))

    assert free(venue, "bob/play") == {"BTC": Decimal(3), "ETH": Decimal(0), "USDT": Decimal(5)}


def test_an_account_with_open_orders_is_refused_and_left_as_it_is(venue: PaperVenue) -> None:
    venue.open_account("old/main", balances={"BTC": Decimal(1)})
    venue.place(
        "old/main",
        client_order_id="rest",
        symbol="ETH/BTC",
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=Decimal(1),
        price=Decimal("0.05"),
    )
    before = venue.balances("old/main")

    with pytest.raises(ValidationError) as caught:
        open_paper_account(venue, "old/main", {"BTC": Decimal(7)}, Decimal(0))

    assert caught.value.field == "name"
    assert venue.balances("old/main") == before
    assert len(venue.open_orders("old/main", None)) == 1


# --- the service ---------------------------------------------------------------------------


def service_config(tmp_path: Path, markets: str) -> Path:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    upgrade(url)
    path = tmp_path / "service.yaml"
    path.write_text(
        f"database:\n  url: {url}\npaper:\n  state_file: {tmp_path / 'paper.sqlite'}\n{markets}",
        encoding="utf-8",
    )
    return path


def test_without_paper_markets_the_service_has_no_paper_venue_to_open_accounts_on(
    tmp_path: Path,
) -> None:
    service = Service(load_config(service_config(tmp_path, "")), vault=None)
    service.start()
    try:
        assert service.venue is None and service.paper_opener is None
        with pytest.raises(ValidationError) as caught:
            service.open_paper_account("bob/play", {}, Decimal("0.001"))
        assert caught.value.field == "exchange"
    finally:
        service.stop()


def test_a_paper_account_cannot_be_opened_before_the_service_runs_or_after_it_stopped(
    tmp_path: Path,
) -> None:
    service = Service(load_config(service_config(tmp_path, MARKET)), vault=None)
    with pytest.raises(ExchangeUnavailable):
        service.open_paper_account("bob/play", {}, Decimal("0.001"))
    service.start()
    service.stop()
    with pytest.raises(ExchangeUnavailable):
        service.open_paper_account("bob/play", {}, Decimal("0.001"))


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Service, SqlRepository, Path]]:
    """A service whose config file has a paper market and no user, so no paper account."""
    path = service_config(tmp_path, MARKET)
    config = load_config(path)
    assert config.users == []
    engine = make_engine(config.database.url)
    service = Service(config, vault=None, tuning=Tuning(poll_interval=0.2))
    service.start()
    try:
        yield service, SqlRepository(engine), path
    finally:
        service.stop()
        engine.dispose()


def test_a_paper_account_created_through_the_api_trades_in_the_running_service(
    running: tuple[Service, SqlRepository, Path],
) -> None:
    service, repo, path = running
    assert service.venue is not None  # opened for its market, with no paper account yet
    sid = api_paper_strategy(repo, service, "bob", "play")  # the API's rows, as it writes them

    found = lambda: repo.get_strategy(sid)  # noqa: E731
    wait(lambda: len(repo.load_engine_state(sid).live_orders) >= 2, "a ladder", then=found)
    wait(lambda: found().actual_state is ActualState.RUNNING, "running", then=found)
    assert len(service.venue.open_orders("bob/play", "ETH/BTC")) >= 2

    # A restart opens only the file's accounts; the API's lives on in the venue's file.
    service.stop()
    again = Service(load_config(path), vault=None, tuning=Tuning(poll_interval=0.2))
    again.start()
    try:
        wait(lambda: found().actual_state is ActualState.RUNNING, "running again", then=found)
        assert again.venue is not None
        assert len(again.venue.open_orders("bob/play", "ETH/BTC")) >= 2
    finally:
        again.stop()
