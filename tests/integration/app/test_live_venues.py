"""Live markets' feeds are built from the account rows: one per environment, on its endpoint."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from app.bootstrap import LiveFeeds, Service
from config.loader import load_config
from domain.secrets import Credentials, Secret
from exchange.ccxt_adapter import CcxtConfig
from exchange.port import Exchange
from persistence.records import AccountRecord
from persistence.sql_repository import SqlRepository
from persistence.vault import Vault, generate_key, parse_keyring
from services.onboarding import sync_config, vault_for
from tests.integration.app.conftest import ALICE, BOB, config_text
from tests.integration.exchange.fake_binance import FakeBinance
from tests.integration.exchange.fake_binance_venue import FakeSymbol, Venue

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _account(
    account_id: int, *, sandbox: bool = False, base_url: str | None = None
) -> AccountRecord:
    return AccountRecord(
        id=account_id,
        user_id=1,
        name=f"a{account_id}",
        exchange="binance",
        created_at=T0,
        sandbox=sandbox,
        base_url=base_url,
    )


class PublicClients:
    """Stands in for building public ccxt clients: remembers each config it was asked for."""

    def __init__(self) -> None:
        self.built: list[CcxtConfig] = []

    def __call__(self, config: CcxtConfig) -> Exchange:
        self.built.append(config)
        return cast(Exchange, self)

    def close(self) -> None:
        pass


def test_each_environment_gets_its_own_client_and_feed_and_shares_it_across_symbols() -> None:
    clients = PublicClients()
    feeds = LiveFeeds(5.0, client=clients)
    live = feeds(_account(1), "BTC/USDT")
    testnet = feeds(_account(2, sandbox=True), "BTC/USDT")
    again = feeds(_account(3), "ETH/BTC")  # another live account, another symbol

    assert (live.venue, testnet.venue, again.venue) == (
        "binance@live",
        "binance@sandbox",
        "binance@live",
    )
    assert [(c.exchange_id, c.sandbox, c.base_url) for c in clients.built] == [
        ("binance", False, None),
        ("binance", True, None),
    ]
    assert all(c.api_key is None for c in clients.built)  # public prices: no keys
    feeds.close()


@pytest.fixture
def two_venues() -> Iterator[tuple[str, str]]:
    servers = []
    for price in ("30000", "31000"):
        venue = Venue()
        venue.add_symbol(FakeSymbol("BTC", "USDT", Decimal(price)))
        server = FakeBinance(venue, api_key="k", secret="s")
        servers.append((server, server.start()))
    yield servers[0][1], servers[1][1]
    for server, _ in servers:
        server.stop()


def test_two_endpoints_of_one_exchange_each_feed_their_own_price(
    two_venues: tuple[str, str],
) -> None:
    first, second = two_venues
    feeds = LiveFeeds(5.0)
    try:
        specs = [feeds(_account(i, base_url=url), "BTC/USDT") for i, url in enumerate(two_venues)]
        assert [s.venue for s in specs] == [f"binance@{first}", f"binance@{second}"]
        ticks: list[Any] = [spec.source().next_tick() for spec in specs]
        assert [t.price for t in ticks] == [Decimal("30000"), Decimal("31000")]
    finally:
        feeds.close()


def test_an_accounts_client_uses_the_environment_its_row_names(
    sql_repo: SqlRepository, two_venues: tuple[str, str], write_config: Callable[[str], Path]
) -> None:
    """An account created outside the config file (the REST API is coming) still trades on the
    endpoint its row names: the row, not the file, is read."""
    config = load_config(write_config(config_text("sqlite://", ALICE)))
    vault = Vault(parse_keyring(generate_key(), source="test"))
    user = sql_repo.upsert_user("carol", now=T0, email="carol@example.com")
    account = sql_repo.upsert_account(
        user.id, "api-made", exchange="binance", now=T0, base_url=two_venues[1]
    )
    credentials = Credentials(api_key=Secret("k"), secret=Secret("s"))
    sealed = vault.seal(credentials, user_id=user.id, account_id=account.id)
    sql_repo.save_credentials(account.id, sealed, now=T0)

    client = Service(config, vault=vault).exchange_factory(sql_repo)(account.id)
    try:
        assert client.fetch_ticker("BTC/USDT").last == Decimal("31000")
    finally:
        client.close()


def test_onboarding_stores_each_accounts_environment_and_applies_a_change(
    sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    env = {"MARTINGALE_MASTER_KEY": generate_key(), "TEST_BOB_KEY": "k", "TEST_BOB_SECRET": "s"}
    users = BOB.replace("exchange: binance", "exchange: binance\n        sandbox: true")
    config = load_config(write_config(config_text("sqlite://", users)))
    sync_config(config, sql_repo, vault_for(config, env=env), now=T0, env=env)
    (bob,) = [u for u in sql_repo.list_users() if u.name == "bob"]
    rows = {a.name: a for a in sql_repo.list_accounts(bob.id)}
    assert (rows["live"].venue, rows["paper"].venue) == ("binance@sandbox", "paper")

    moved = BOB.replace("exchange: binance", "exchange: binance\n        base_url: http://h:1/")
    config = load_config(write_config(config_text("sqlite://", moved)))
    report = sync_config(config, sql_repo, vault_for(config, env=env), now=T0, env=env)
    assert report.accounts.updated == 1
    assert sql_repo.get_account(rows["live"].id).venue == "binance@http://h:1"
