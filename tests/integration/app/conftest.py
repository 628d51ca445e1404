"""Config files and repositories for the app tests (SQLite and MySQL through `db_url`)."""

from __future__ import annotations

import logging
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import structlog

from app.bootstrap import Service, Tuning
from config.loader import load_config
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import ActualState, DesiredState
from persistence.sql_repository import SqlRepository
from services.account_input import AccountInput
from services.accounts import create_account
from services.onboarding import sync_config
from services.users import create_user

TABLES = ("users", "accounts", "strategies", "cycles", "orders", "fills", "events", "audit_log")

MARKETS = """
markets:
  ETH/BTC:
    feed: simulated
    price: 0.1
    tick_size: 0.000001
    step_size: 0.001
    min_notional: 0.0001
  BTC/USDT:
    feed: simulated
    price: 30000
    tick_size: 0.01
    step_size: 0.00001
    min_notional: 10
"""

BTC_PARAMS = """base_order: 0.002
        safety_order: 0.004
        max_safety_orders: 3
        price_deviation: 1.5
        take_profit: 1.5"""

USDT_PARAMS = """base_order: 20
        safety_order: 40
        max_safety_orders: 3
        price_deviation: 1
        step_scale: 1.2
        take_profit: 1.2"""

ALICE = f"""
  - name: alice
    email: alice@example.com
    accounts:
      - name: main
        exchange: paper
        balances: {{BTC: 1, USDT: 10000}}
    strategies:
      - name: eth
        account: main
        symbol: ETH/BTC
        {BTC_PARAMS}
      - name: btc
        account: main
        symbol: BTC/USDT
        state: paused
        {USDT_PARAMS}
"""

BOB = f"""
  - name: bob
    email: bob@example.com
    accounts:
      - name: paper
        exchange: paper
        balances: {{USDT: 5000}}
      - name: live
        exchange: binance
        api_key_env: TEST_BOB_KEY
        secret_env: TEST_BOB_SECRET
    strategies:
      - name: btc-paper
        account: paper
        symbol: BTC/USDT
        enabled: false
        {USDT_PARAMS}
      - name: btc-live
        account: live
        symbol: BTC/USDT
        {USDT_PARAMS}
"""


def config_text(url: str, users: str) -> str:
    return f"database:\n  url: {url}\n{MARKETS}\nusers:{users}"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """`martingale run` configures process-wide logging onto the stderr of the moment (a test's
    capture, closed after it); put back what was there so later tests do not log into it."""
    root, ccxt = logging.getLogger(), logging.getLogger("ccxt")
    handlers, level, ccxt_level = list(root.handlers), root.level, ccxt.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    ccxt.setLevel(ccxt_level)
    structlog.reset_defaults()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write YAML text to service.yaml (overwriting) and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "service.yaml"
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    return write


@pytest.fixture
def sql_repo(db_url: str) -> Iterator[SqlRepository]:
    upgrade(db_url)
    engine = make_engine(db_url)
    try:
        yield SqlRepository(engine)
    finally:
        engine.dispose()


def snapshot(repo: SqlRepository) -> dict[str, Any]:
    """Every onboarding-relevant row as values, plus row counts: equal means nothing written."""
    users = repo.list_users(include_deleted=True)
    accounts = [a for u in users for a in repo.list_accounts(u.id)]
    return {
        "users": users,
        "accounts": accounts,
        "credentials": {a.id: repo.load_credentials(a.id) for a in accounts},
        "strategies": [
            repo.get_strategy(s.id) for u in users for s in repo.list_strategies(user_id=u.id)
        ],
        "counts": {t: repo.count_rows(t) for t in TABLES},
    }


SIMULATED_ETH_BTC = """
feed: simulated
price: 0.1
volatility: 0.002
seed: 7
interval: 0.02
"""


def alice_eth_btc(
    feed: str, *, paper: Path, take_profit: str = "1.5", names: Sequence[str] = ("eth",)
) -> str:
    """The config body (after `database:`) of one user trading ETH/BTC strategies `names` (one
    ladder each) on the paper venue, whose market is `feed` (the YAML of its settings)."""
    market = "\n".join(f"    {line}" for line in feed.strip().splitlines())
    strategies = "".join(
        f"""      - name: {name}
        account: main
        symbol: ETH/BTC
        base_order: 0.002
        safety_order: 0.004
        max_safety_orders: 3
        price_deviation: 1.5
        take_profit: {take_profit}
"""
        for name in names
    )
    return f"""paper:
  state_file: {paper}
markets:
  ETH/BTC:
{market}
    tick_size: 0.000001
    step_size: 0.001
    min_notional: 0.0001
users:
  - name: alice
    email: alice@example.com
    accounts:
      - name: main
        exchange: paper
        balances: {{BTC: 1}}
    strategies:
{strategies}"""


# A ladder that rests on ETH/BTC and never takes its profit (take-profit 50 %).
RESTING_PARAMS = {
    "base_order": "0.002",
    "safety_order": "0.004",
    "max_safety_orders": "3",
    "price_deviation": "1.5",
    "take_profit": "50",
}


def api_paper_strategy(repo: SqlRepository, service: Any, user: str, account: str) -> int:
    """What the REST API writes while `service` runs: a new user, a paper account opened on
    the service's venue with 1 BTC, and a running ETH/BTC strategy on it (its row). The id."""
    now = datetime.now(UTC)
    created = create_user(repo, user, now=now)
    data = AccountInput(name=account, exchange="paper", balances={"BTC": Decimal(1)})
    record = create_account(
        repo,
        None,
        created.id,
        data,
        now=now,
        allowed_hosts=frozenset(),
        open_paper=service.paper_opener,
    )
    return repo.upsert_strategy(
        created.id,
        "eth",
        account_id=record.id,
        symbol="ETH/BTC",
        params=RESTING_PARAMS,
        desired_state=DesiredState.RUNNING,
        now=now,
    ).id


def wait(
    condition: Callable[[], bool], what: str, timeout: float = 30.0, *, then: object = None
) -> None:
    """A bound on patience (a hang becomes a failure), never a timing assertion; `then`, a
    callable, says what was found instead."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            found = then() if callable(then) else ""
            raise AssertionError(f"gave up waiting for {what} {found}".rstrip())
        time.sleep(0.1)


@pytest.fixture
def resting_alice(tmp_path: Path) -> Iterator[tuple[Path, SqlRepository]]:
    """A config file and its onboarded database: alice trades ETH/BTC on the paper venue, and
    take_profit 50 keeps her ladder resting."""
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    path = tmp_path / "service.yaml"
    body = alice_eth_btc(SIMULATED_ETH_BTC, paper=tmp_path / "paper.sqlite", take_profit="50")
    path.write_text(f"database:\n  url: {url}\n{body}", encoding="utf-8")
    upgrade(url)
    engine = make_engine(url)
    repo = SqlRepository(engine)
    sync_config(load_config(path), repo, None, now=datetime.now(UTC))
    try:
        yield path, repo
    finally:
        engine.dispose()


def start_service(path: Path) -> Service:
    """The service of `path`, started, polling desired states every 0.2 s."""
    service = Service(load_config(path), vault=None, tuning=Tuning(poll_interval=0.2))
    service.start()
    return service


def resting(service: Service, key: str) -> list[Any]:
    """The orders resting on the service's paper venue for account `key` ("user/account")."""
    assert service.venue is not None
    return service.venue.open_orders(key, None)


def alice_trading(service: Service, repo: SqlRepository, strategy_id: int) -> Decimal:
    """Wait until `resting_alice`'s ladder rests and her strategy runs; the ETH she holds."""
    wait(lambda: len(resting(service, "alice/main")) >= 2, "alice's ladder resting")
    wait(lambda: repo.get_strategy(strategy_id).actual_state is ActualState.RUNNING, "running")
    assert service.venue is not None
    held: Decimal = service.venue.balances("alice/main")["ETH"].total
    assert held > 0
    return held
