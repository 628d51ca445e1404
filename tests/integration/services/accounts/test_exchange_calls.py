"""Key reports and balances through the API's use case: the owner first, then one client per
request (closed after it), built from the account's row by the service's own recipe, against
the paper venue and the loopback fake binance (the real ccxt client, signing with the key the
vault sealed)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.exchanges import account_exchanges, paper_account_key
from domain.errors import AuthenticationFailed, ConfigurationError
from domain.keys import KeyWarningLevel
from domain.market import Balance
from exchange.paper import PaperVenue
from exchange.port import Exchange
from persistence.errors import NotFound
from persistence.vault import Vault
from services.accounts import AccountInput, balances, create_account, key_report
from tests.integration.exchange.fake_binance import FakeBinance
from tests.integration.exchange.fake_binance_venue import FakeSymbol, Venue
from tests.integration.services.accounts.conftest import (
    ALLOWED,
    API_KEY,
    SECRET,
    T0,
    FakeOpener,
    live,
)


class Clients:
    """`exchange_for` that counts the clients it builds and those closed."""

    def __init__(self, inner: Callable[[int], Exchange]) -> None:
        self._inner = inner
        self.built = 0
        self.closed = 0

    def __call__(self, account_id: int) -> Exchange:
        client = self._inner(account_id)
        self.built += 1
        real_close = client.close

        def close() -> None:
            self.closed += 1
            real_close()

        client.close = close  # type: ignore[method-assign]
        return client


@pytest.fixture
def paper_venue(tmp_path: Path) -> Iterator[PaperVenue]:
    venue = PaperVenue(tmp_path / "paper.sqlite", name="paper")
    venue.open_account(paper_account_key("alice", "play"), balances={"USDT": Decimal("250")})
    yield venue
    venue.close()


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    venue = Venue()
    venue.add_symbol(FakeSymbol("BTC", "USDT", Decimal("30000")))
    venue.deposit("USDT", Decimal("1000"))
    server = FakeBinance(venue, api_key=API_KEY, secret=SECRET)
    server.base_url = server.start()  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture
def clients(repo: Any, vault: Vault, paper_venue: PaperVenue) -> Clients:
    return Clients(account_exchanges(repo, vault=vault, venue=paper_venue))


def paper_account(repo: Any, user_id: int) -> Any:
    """Its venue account was opened by the fixture (`paper_venue`): this reopens it as is."""
    data = AccountInput(name="play", exchange="paper", balances={"USDT": Decimal("250")})
    return create_account(
        repo, None, user_id, data, now=T0, allowed_hosts=ALLOWED, open_paper=FakeOpener()
    )


def live_account(repo: Any, vault: Vault, user_id: int, fake: FakeBinance) -> Any:
    """Created through the API's path, then pointed at the loopback fake (plain http, which the
    API itself refuses) as an operator could."""
    account = create_account(repo, vault, user_id, live(), now=T0, allowed_hosts=ALLOWED)
    base_url = fake.base_url  # type: ignore[attr-defined]
    return repo.upsert_account(user_id, account.name, exchange="binance", now=T0, base_url=base_url)


def test_a_paper_accounts_balances_and_report(repo: Any, alice: int, clients: Clients) -> None:
    account = paper_account(repo, alice)

    assert balances(repo, alice, account.id, clients) == {
        "USDT": Balance(currency="USDT", free=Decimal("250"))
    }
    report = key_report(repo, alice, account.id, clients)

    assert report is not None and report.warnings == () and report.can_withdraw is False
    assert (clients.built, clients.closed) == (2, 2)


def test_another_users_account_is_refused_before_any_exchange_call(
    repo: Any, alice: int, bob: int, clients: Clients
) -> None:
    account = paper_account(repo, alice)

    for call in (balances, key_report):
        with pytest.raises(NotFound):
            call(repo, bob, account.id, clients)
        with pytest.raises(NotFound):
            call(repo, alice, account.id + 1000, clients)

    assert clients.built == 0


def test_a_live_keys_report_comes_from_the_exchange_signed_with_the_sealed_key(
    repo: Any, vault: Vault, alice: int, clients: Clients, fake: FakeBinance
) -> None:
    account = live_account(repo, vault, alice, fake)
    fake.api_restrictions.update(enableWithdrawals=True, ipRestrict=False)

    report = key_report(repo, alice, account.id, clients)
    money = balances(repo, alice, account.id, clients)

    assert report is not None and report.can_withdraw is True
    assert [w.level for w in report.warnings] == [KeyWarningLevel.DANGER, KeyWarningLevel.WARNING]
    assert money["USDT"].free == Decimal("1000")
    assert (clients.built, clients.closed) == (2, 2)


def test_a_refused_key_is_a_domain_error_without_the_key(
    repo: Any, vault: Vault, alice: int, clients: Clients, fake: FakeBinance
) -> None:
    account = live_account(repo, vault, alice, fake)
    fake.revoke_key()

    for call in (key_report, balances):
        with pytest.raises(AuthenticationFailed) as caught:
            call(repo, alice, account.id, clients)
        assert API_KEY not in str(caught.value) and SECRET not in str(caught.value)
    assert clients.closed == clients.built == 2


def test_a_server_without_the_master_key_says_so(
    repo: Any, vault: Vault, alice: int, fake: FakeBinance
) -> None:
    account = live_account(repo, vault, alice, fake)
    keyless = account_exchanges(repo, vault=None, venue=None)

    with pytest.raises(ConfigurationError, match="master key"):
        key_report(repo, alice, account.id, keyless)
