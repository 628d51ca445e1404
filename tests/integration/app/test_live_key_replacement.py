"""A real service trading on a live venue (a fake binance over loopback, the real ccxt client)
while its account's API key is replaced (issue 12): what `martingale keys` or the API writes,
the sealed key in the account's row, is all the service gets.

- Replaced while the strategy runs: the engine's next signed calls carry the new key, and the
  old key can be revoked at once; nothing stops.
- Replaced after the venue refused the old one: the owner's resume runs the strategy again on
  the new key (a new key is a new latch: nothing remembers the old key's refusal for it)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from app.bootstrap import Service, Tuning
from app.cli import main
from config.loader import load_config
from domain.secrets import Credentials, Secret
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import ActualState, DesiredState
from persistence.sql_repository import SqlRepository
from persistence.vault import Vault, generate_key, parse_keyring
from services.onboarding import sync_config
from tests.integration.app.conftest import SIMULATED_ETH_BTC, alice_eth_btc, wait
from tests.integration.exchange.fake_binance import FakeBinance
from tests.integration.exchange.fake_binance_venue import FakeSymbol, Venue

PARAMS = {
    "base_order": "20",
    "safety_order": "40",
    "max_safety_orders": "3",
    "price_deviation": "1",
    "take_profit": "50",  # never reached: the ladder stays resting
}


class KeyedBinance(FakeBinance):
    """The fake venue, remembering which API key signed each request."""

    def __init__(self, venue: Venue, *, api_key: str, secret: str) -> None:
        super().__init__(venue, api_key=api_key, secret=secret)
        self.keys_seen: list[str] = []
        self._keys_lock = threading.Lock()

    def _authenticate(self, req: BaseHTTPRequestHandler, raw: str, params: dict[str, str]) -> None:
        with self._keys_lock:
            self.keys_seen.append(req.headers.get("X-MBX-APIKEY") or "")
        super()._authenticate(req, raw, params)

    def signed_with(self, key: str) -> int:
        with self._keys_lock:
            return self.keys_seen.count(key)


@dataclass
class Live:
    service: Service
    repo: SqlRepository
    url: str
    fake: KeyedBinance
    vault: Vault
    strategy_id: int
    account_id: int
    user_id: int

    def store_key(self, api_key: str, secret: str) -> None:
        credentials = Credentials(api_key=Secret(api_key), secret=Secret(secret))
        sealed = self.vault.seal(credentials, user_id=self.user_id, account_id=self.account_id)
        self.repo.save_credentials(self.account_id, sealed, now=datetime.now(UTC))

    def state(self) -> ActualState:
        return self.repo.get_strategy(self.strategy_id).actual_state

    def resting(self) -> int:
        return len(self.repo.load_engine_state(self.strategy_id).live_orders)

    def legs(self, state: str) -> set[str]:
        """The legs of cycle 1's orders in `state` (b base, t take-profit, s1, s2 safety)."""
        orders = self.repo.list_orders(self.strategy_id, cycle=1)
        return {o.client_order_id.rsplit("c1", 1)[1] for o in orders if o.state.value == state}


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """carol's strategy trades BTC/USDT on the fake binance with key k1 (alice's paper strategy
    is the config file's); the service is not started yet."""
    venue = Venue()
    venue.add_symbol(FakeSymbol("BTC", "USDT", Decimal("30000")))
    venue.deposit("USDT", Decimal("10000"))
    fake = KeyedBinance(venue, api_key="k1", secret="s1")
    endpoint = fake.start()
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    path = tmp_path / "service.yaml"
    body = alice_eth_btc(SIMULATED_ETH_BTC, paper=tmp_path / "paper.sqlite")
    path.write_text(f"database:\n  url: {url}\n{body}")
    upgrade(url)
    engine = make_engine(url)
    repo = SqlRepository(engine)
    config = load_config(path)
    vault = Vault(parse_keyring(generate_key(), source="test"))
    now = datetime.now(UTC)
    sync_config(config, repo, None, now=now)
    carol = repo.upsert_user("carol", now=now)
    account = repo.upsert_account(carol.id, "live", exchange="binance", now=now, base_url=endpoint)
    sid = repo.upsert_strategy(
        carol.id,
        "btc",
        account_id=account.id,
        symbol="BTC/USDT",
        params=PARAMS,
        desired_state=DesiredState.RUNNING,
        now=now,
    ).id
    tuning = Tuning(poll_interval=0.2, live_poll_interval=0.2, reconcile_interval=0.5)
    service = Service(config, vault=vault, tuning=tuning)
    setup = Live(service, repo, url, fake, vault, sid, account.id, carol.id)
    try:
        yield setup
    finally:
        service.stop()
        engine.dispose()
        fake.stop()


def test_a_key_replaced_while_running_signs_the_next_calls_and_the_old_can_go(live: Live) -> None:
    live.store_key("k1", "s1")
    live.service.start()
    wait(lambda: live.resting() >= 2, "the ladder resting (base filled, take-profit, safety)")
    wait(lambda: live.state() is ActualState.RUNNING, "the strategy running")

    live.fake.add_key("k2", "s2")  # the owner made a new key on the venue...
    live.store_key("k2", "s2")  # ...and stored it (the API, `martingale keys`)
    wait(lambda: live.fake.signed_with("k2") > 0, "a call signed with the new key")
    live.fake.revoke_key()  # the old key is deleted on the venue: nothing may still use it
    refused_before = live.fake.signed_with("k1")

    live.fake.venue.set_price("BTCUSDT", Decimal("29600"))  # safety 1 fills
    wait(lambda: "s1" in live.legs("filled"), "safety 1's fill applied")
    wait(lambda: "s2" in live.legs("open"), "safety 2 placed after the fill")
    assert live.fake.signed_with("k1") == refused_before  # no call with the revoked key
    record = live.repo.get_strategy(live.strategy_id)
    assert record.desired_state is DesiredState.RUNNING and record.restart_count == 0
    assert record.last_error is None or "API key" not in record.last_error


def test_a_refused_key_replaced_then_resumed_runs_again(live: Live) -> None:
    live.store_key("wrong", "key")  # the venue refuses it
    live.service.start()
    wait(  # the error is written by the repository's buffer: it may lag the desired state
        lambda: (
            live.repo.get_strategy(live.strategy_id).desired_state is DesiredState.STOPPED
            and live.repo.get_strategy(live.strategy_id).last_error is not None
        ),
        "the strategy stopped for the refused key",
    )
    error = live.repo.get_strategy(live.strategy_id).last_error
    assert error is not None and "rejected the API key" in error

    live.store_key("k1", "s1")
    assert main(["strategy", "resume", "--user", "carol", "--name", "btc", "--db", live.url]) == 0
    wait(lambda: live.resting() >= 2, "the ladder resting on the new key")
    wait(lambda: live.state() is ActualState.RUNNING, "the strategy running")
